import { describe, expect, it } from 'vitest';
import { slaDueAt, type BusinessHours } from '../../workflows/shared/sla-calendar.js';

const at = (s: string) => Date.parse(s);
const iso = (ms: number) => new Date(ms).toISOString();
const weekdays = (timezone: string, from = '09:00', to = '18:00'): BusinessHours => ({
  timezone,
  days: { mon: [from, to], tue: [from, to], wed: [from, to], thu: [from, to], fri: [from, to] },
});

describe('the business-hours calendar (slaDueAt)', () => {
  const moscow = weekdays('Europe/Moscow');

  it('without business hours: start plus the target', () => {
    expect(iso(slaDueAt(at('2026-12-04T19:00:00Z'), 90))).toBe('2026-12-04T19:01:30.000Z');
  });

  it('inside the hours the clock runs as usual', () => {
    expect(iso(slaDueAt(at('2026-12-02T10:00:00+03:00'), 3600, moscow))).toBe('2026-12-02T08:00:00.000Z');
  });

  it('a message on Friday evening is due on Monday morning; one just before closing goes on on Monday', () => {
    expect(iso(slaDueAt(at('2026-12-04T19:00:00+03:00'), 1800, moscow))).toBe('2026-12-07T06:30:00.000Z');
    expect(iso(slaDueAt(at('2026-12-04T17:50:00+03:00'), 1800, moscow))).toBe('2026-12-07T06:20:00.000Z');
    expect(iso(slaDueAt(at('2026-12-05T12:00:00+03:00'), 9 * 3600 + 60, moscow))).toBe('2026-12-08T06:01:00.000Z');
  });

  it('hours are wall-clock times of the zone, across daylight-saving changes', () => {
    const ny: BusinessHours = { timezone: 'America/New_York', days: { sat: ['10:00', '12:00'], sun: ['00:00', '24:00'] } };
    // 8 March 2026 is 23 hours long in New York: 3 hours from local midnight is 04:00 EDT.
    expect(iso(slaDueAt(at('2026-03-08T00:00:00-05:00'), 3 * 3600, ny))).toBe('2026-03-08T08:00:00.000Z');
    // Saturday 11:00–12:00, then Sunday from midnight.
    expect(iso(slaDueAt(at('2026-03-07T11:00:00-05:00'), 2 * 3600, ny))).toBe('2026-03-08T06:00:00.000Z');
  });

  it('is deterministic: the same arguments, the same due time', () => {
    const start = at('2026-12-04T16:59:59.123Z');
    expect(slaDueAt(start, 12_345, moscow)).toBe(slaDueAt(start, 12_345, moscow));
  });
});
