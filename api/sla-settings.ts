/**
 * The channel setting `sla` (issue 13): response-time targets, the employees a breach escalates
 * to, and optional business hours. Validated here (a bad timezone or hours are a 400 naming the
 * field); the employees are checked against the database by the channel routes.
 */
import { z } from '@hono/zod-openapi';
import { isKnownTimezone, minutesOf, WEEKDAYS, type SlaSettings } from '../workflows/shared/sla-calendar.js';
import { IdInput, idString } from './schemas.js';

/** A target up to 30 days (of business time, with business hours). */
const MAX_TARGET_SECONDS = 30 * 86_400;

const Target = (what: string) =>
  z.number().int().min(1).max(MAX_TARGET_SECONDS).optional().openapi({ description: `Seconds until the ${what} (of business time, with businessHours)`, example: 1800 });

const Hours = z
  .tuple([z.string(), z.string()])
  .superRefine(([from, to], ctx) => {
    const [a, b] = [minutesOf(from), minutesOf(to)];
    if (a === undefined) ctx.addIssue({ code: 'custom', path: [0], message: `"${from}" is not a time of day (HH:MM, 00:00–24:00)` });
    if (b === undefined) ctx.addIssue({ code: 'custom', path: [1], message: `"${to}" is not a time of day (HH:MM, 00:00–24:00)` });
    if (a !== undefined && b !== undefined && a >= b) ctx.addIssue({ code: 'custom', message: `opening "${from}" must be before closing "${to}"` });
  })
  .openapi({ description: 'Opening and closing time, wall clock in the timezone ("24:00" ends the day)', example: ['09:00', '18:00'] });

const BusinessHoursInput = z
  .strictObject({
    timezone: z
      .string()
      .superRefine((tz, ctx) => {
        if (!isKnownTimezone(tz)) ctx.addIssue({ code: 'custom', message: `unknown timezone "${tz}" (an IANA name like "Europe/Moscow")` });
      })
      .openapi({ description: 'IANA timezone of the hours', example: 'Europe/Moscow' }),
    days: z
      .strictObject(Object.fromEntries(WEEKDAYS.map((d) => [d, Hours.optional()])) as Record<(typeof WEEKDAYS)[number], z.ZodOptional<typeof Hours>>)
      .refine((days) => Object.values(days).some(Boolean), { message: 'list the hours of at least one day' })
      .openapi({ description: 'Hours per weekday (mon … sun); a day not listed is closed', example: { mon: ['09:00', '18:00'], fri: ['09:00', '17:00'] } }),
  })
  .openapi('SlaBusinessHours', { description: 'The clock runs only inside these hours' });

export const SlaSettingsInput = z
  .strictObject({
    firstResponseSeconds: Target('first answer to a new task'),
    nextResponseSeconds: Target('answer to a customer message after an agent answered'),
    escalateToIds: z.array(IdInput).max(100).optional().openapi({ description: 'Employees assigned to the task when a target is missed' }),
    businessHours: BusinessHoursInput.optional(),
  })
  .openapi('SlaSettings', {
    description:
      'Response-time targets. A customer message waiting for an answer starts the clock (first response for a new task, next response afterwards; paused outside businessHours); ' +
      "an agent's notifying reply stops it. A change applies to clocks started afterwards. In PATCH it is replaced as a whole; null: no targets.",
  });

/** The stored form: ids as strings, no duplicates. */
export function slaSettingsOf(input: z.infer<typeof SlaSettingsInput> | null): SlaSettings | null {
  if (input === null) return null;
  const { escalateToIds, ...rest } = input;
  return { ...rest, ...(escalateToIds ? { escalateToIds: [...new Set(escalateToIds.map(idString))] } : {}) };
}
