/**
 * Phone numbers, read with `libphonenumber-js`. taskwire keys WhatsApp customers on the digits of
 * their international number (the wa_id: country code and number, no `+`), so a number is taken
 * only in international form, with or without the `+`: `+7 916 123-45-67`, `79161234567`. A
 * national form (`8 916 123-45-67`) would be read as a different, wrong international number, so
 * it is refused like anything else that is not a valid number.
 */
import { parsePhoneNumberFromString } from 'libphonenumber-js';

/** Digits, spaces and the usual separators only: no letters, no extensions. */
const PHONE_CHARACTERS = /^\+?[\d\s().-]+$/;

/**
 * The digits of a valid international number: `+7 (916) 123-45-67` → `79161234567`; '' when `raw`
 * is not one (a national form, a number no country has, text).
 */
export function normalizePhone(raw: string): string {
  const text = raw.trim();
  if (!PHONE_CHARACTERS.test(text)) return '';
  const parsed = parsePhoneNumberFromString(text.startsWith('+') ? text : `+${text}`, { extract: false });
  return parsed?.isValid() ? parsed.number.slice(1) : '';
}

/** A wa_id (or digits with a `+` already) as a number people read: `79161234567` → `+79161234567`. */
export function phoneFromDigits(digits: string): string {
  return `+${digits.replace(/^\+/, '')}`;
}
