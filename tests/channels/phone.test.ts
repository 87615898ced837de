import { describe, expect, it } from 'vitest';
import { normalizePhone, phoneFromDigits } from '../../channels/phone.js';
import { normalizePhone as fromContacts } from '../../db/queries/contacts.js';

describe('normalizePhone', () => {
  it.each([
    ['+7 916 123-45-67', '79161234567'],
    ['79161234567', '79161234567'],
    ['+7 (916) 123-45-67', '79161234567'],
    [' +49 151 12345678 ', '4915112345678'],
    ['5511987654321', '5511987654321'],
  ])('takes the international number %j → %s', (raw, digits) => {
    expect(normalizePhone(raw)).toBe(digits);
  });

  // Read as international, 8 916 … would be a wrong number (+8 is no country code).
  it.each(['8 916 123-45-67', '70000000000', '12', '', 'abc', '+79161234567abc', '+7 916 123-45-67 ext. 2'])('refuses %j', (raw) => {
    expect(normalizePhone(raw)).toBe('');
  });

  it('is the one db/queries/contacts.ts exports; phoneFromDigits writes a wa_id as people read it', () => {
    expect(fromContacts).toBe(normalizePhone);
    expect([phoneFromDigits('79161234567'), phoneFromDigits('+79161234567')]).toEqual(['+79161234567', '+79161234567']);
  });
});
