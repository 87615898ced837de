/** Lead form submissions of the VK Callback API (`lead_forms_new`, §3.6) → the lead event. */
import { z } from 'zod';
import type { LeadEvent } from '../../workflows/shared/types.js';
import { parseWith } from './callback-types.js';

const int = z.number().int();

/** How multi-choice answers arrive is unconfirmed: answers are read leniently. */
const leadSchema = z.object({
  lead_id: z.union([int.positive(), z.string().regex(/^\d{1,20}$/, 'expected a positive integer')]),
  user_id: int.positive(),
  form_id: z.union([int.nonnegative(), z.string().min(1)]),
  form_name: z.string().optional().default(''),
  answers: z.array(z.unknown()).optional().default([]),
});
const leadAnswerSchema = z.object({
  key: z.union([z.string(), z.number()]).optional(),
  question: z.string().optional(),
  answer: z.unknown().optional(),
});

/** `object` of a lead_forms_new event → the lead. Throws `VkCallbackError` without the ids it is routed by. */
export function parseLead(object: object, receivedAt: Date): LeadEvent {
  const l = parseWith(leadSchema, object, 'object');
  const answers: LeadEvent['answers'] = [];
  l.answers.forEach((raw, i) => {
    const a = leadAnswerSchema.safeParse(raw);
    if (!a.success) return;
    const key = a.data.key !== undefined ? String(a.data.key) : '';
    const question = (a.data.question ?? '').trim();
    const answer = flattenAnswer(a.data.answer);
    if (!key && !question) return;
    answers.push({ key: key || `answer_${i}`, question: question || key, answer });
  });
  return {
    leadId: String(l.lead_id),
    formId: String(l.form_id),
    formName: l.form_name,
    userId: String(l.user_id),
    answers,
    // lead_forms_new carries no date.
    occurredAt: receivedAt.toISOString(),
  };
}

/** A lead answer as text: strings as they are; numbers; `{value}` objects and arrays of them (leadForms.getLeads shape) joined. */
function flattenAnswer(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return v.map(flattenAnswer).filter(Boolean).join(', ');
  if (typeof v === 'object' && 'value' in v) return flattenAnswer((v as { value: unknown }).value);
  return JSON.stringify(v);
}
