/** The error objects Meta attaches to messages, statuses and whole changes (reference §5). */
import { z } from 'zod';

export const errorItemSchema = z.object({
  code: z.union([z.number(), z.string()]).optional(),
  title: z.string().optional(),
  message: z.string().optional(),
  error_data: z.object({ details: z.string().optional() }).optional().catch(undefined),
  href: z.string().optional(),
});
export type WaError = z.infer<typeof errorItemSchema>;

/** The errors of a list that parse, in order. */
export function readErrors(list: unknown[] | undefined): WaError[] {
  const out: WaError[] = [];
  for (const raw of list ?? []) {
    const r = errorItemSchema.safeParse(raw);
    if (r.success) out.push(r.data);
  }
  return out;
}

/** `title: details` (§5: `message` equals `title`; details say why, e.g. the 24-hour window). */
export function errorText(e: WaError): string {
  const title = e.title || e.message || 'unknown error';
  const details = e.error_data?.details;
  return details && details !== title ? `${title}: ${details}` : title;
}
