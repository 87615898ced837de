/**
 * Response-time targets (issue 13): the business-hours calendar. A pure, deterministic function
 * of its arguments: `slaDueAt(start, seconds, hours)` is when `seconds` of business time have
 * passed since `start` — the clock runs only inside the weekly hours, in the calendar's timezone
 * (daylight-saving changes included: hours are wall-clock times of that zone). Without business
 * hours it is `start + seconds`. It runs in an activity (activities/sla.ts), so the result is
 * recorded in the workflow's history and a change of the timezone database never changes a replay.
 */

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** `{timezone: "Europe/Moscow", days: {mon: ["09:00", "18:00"], …}}`; a day not listed is closed. */
export interface BusinessHours {
  timezone: string;
  days: Partial<Record<Weekday, [string, string]>>;
}

/** The channel setting `sla`. */
export interface SlaSettings {
  firstResponseSeconds?: number;
  nextResponseSeconds?: number;
  escalateToIds?: string[];
  businessHours?: BusinessHours;
}

const DAY_MS = 86_400_000;
/** A business-time target longer than this many calendar days (of scanning) is refused. */
const MAX_SCAN_DAYS = 3700;

/** "09:00" → minutes after midnight; "24:00" ends a day. Undefined when malformed. */
export function minutesOf(hhmm: string): number | undefined {
  const m = /^([01]\d|2[0-4]):([0-5]\d)$/.exec(hhmm);
  if (!m) return undefined;
  const minutes = Number(m[1]) * 60 + Number(m[2]);
  return minutes <= 24 * 60 ? minutes : undefined;
}

/** Whether the runtime knows this IANA timezone. */
export function isKnownTimezone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

/** The due time (epoch ms) of a clock started at `startMs` with a target of `seconds` of business time. */
export function slaDueAt(startMs: number, seconds: number, hours?: BusinessHours): number {
  let remaining = seconds * 1000;
  if (!hours) return startMs + remaining;
  const zone = zoneOf(hours.timezone);
  let day = zone.localDate(startMs);
  for (let i = 0; i < MAX_SCAN_DAYS; i++, day += DAY_MS) {
    const open = hours.days[WEEKDAYS[new Date(day).getUTCDay()]!];
    if (open) {
      const from = Math.max(startMs, zone.toUtc(day + minutesOf(open[0])! * 60_000));
      const to = zone.toUtc(day + minutesOf(open[1])! * 60_000);
      if (to > from) {
        if (remaining <= to - from) return from + remaining;
        remaining -= to - from;
      }
    }
  }
  throw new RangeError(`the business hours leave no time for ${seconds} seconds within ${MAX_SCAN_DAYS} days`);
}

/** A timezone's wall clock: `localDate` is the local midnight of an instant as if it were UTC. */
function zoneOf(timezone: string) {
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone: timezone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
  /** The local wall time of an instant, as epoch ms of the same wall time in UTC. */
  const wall = (utcMs: number): number => {
    const p = Object.fromEntries(format.formatToParts(new Date(utcMs)).map((x) => [x.type, x.value]));
    return Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second)) + (utcMs % 1000 + 1000) % 1000;
  };
  const offset = (utcMs: number) => wall(utcMs) - utcMs;
  return {
    localDate: (utcMs: number) => Math.floor(wall(utcMs) / DAY_MS) * DAY_MS,
    /** The instant of a local wall time (a time skipped by a DST change moves forward). */
    toUtc(localMs: number): number {
      const guess = localMs - offset(localMs);
      const second = localMs - offset(guess);
      return second === guess ? guess : Math.max(guess, second);
    },
  };
}
