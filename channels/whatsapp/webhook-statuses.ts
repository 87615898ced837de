/** Delivery statuses of messages the business sent (§5) and errors Meta reports for a whole change. */
import { z } from 'zod';
import { storableDeep } from '../../runtime/storable-text.js';
import type { DeliveryStatusReport } from '../types.js';
import { firstIssue } from '../webhook-body.js';
import { errorItemSchema, errorText, readErrors } from './webhook-errors.js';
import {
  MAX_STATUS_ID,
  idLike,
  malformed,
  shortJson,
  timestampSchema,
  toIso,
  type WhatsAppChangeContext,
  type WhatsAppItem,
  type WhatsAppStatusItem,
} from './webhook-types.js';

const statusSchema = z.object({
  id: z.string().min(1),
  status: z.string().min(1),
  timestamp: timestampSchema,
  recipient_id: idLike.optional(),
  biz_opaque_callback_data: z.string().optional(),
  errors: z.array(z.unknown()).optional().catch(undefined),
});

const STATUS_MAP: Record<string, DeliveryStatusReport['status']> = {
  sent: 'sent',
  delivered: 'delivered',
  read: 'read',
  // §5: `played` = first play of a voice message we sent; it implies read and is the furthest
  // state taskwire tracks, so it moves the delivery to read (states only move forward).
  played: 'read',
  failed: 'failed',
};

/** One `statuses[]` element → the delivery status it reports, or why it is ignored. */
export function statusItem(ctx: WhatsAppChangeContext, raw: unknown, path: string): WhatsAppItem {
  const r = statusSchema.safeParse(raw);
  if (!r.success) {
    const issue = firstIssue(r.error, '', 'status');
    return malformed(ctx, `${path}.${issue.path}: ${issue.message}`);
  }
  const s = r.data;
  if (s.id.length > MAX_STATUS_ID) return malformed(ctx, `${path}.id: longer than ${MAX_STATUS_ID} characters`);
  const status = STATUS_MAP[s.status];
  const recipientId = s.recipient_id;
  if (!status) {
    return {
      type: 'ignored',
      phoneNumberId: ctx.pnid,
      reason: 'unknown_status',
      detail: `status "${s.status}" for ${s.id}`,
      ...(recipientId ? { peerId: recipientId } : {}),
    };
  }
  const report: DeliveryStatusReport = { externalId: s.id, status, occurredAt: toIso(s.timestamp, ctx.receivedAt) };
  if (recipientId) report.recipientId = recipientId;
  const [err] = readErrors(s.errors);
  if (err) report.error = { code: err.code ?? 'unknown', message: errorText(err) };
  // Stored as received: characters PostgreSQL cannot take are replaced.
  const item: WhatsAppStatusItem = { type: 'status', phoneNumberId: ctx.pnid, status: storableDeep(report).value };
  if (s.biz_opaque_callback_data && s.biz_opaque_callback_data.length <= MAX_STATUS_ID) item.sendKey = storableDeep(s.biz_opaque_callback_data).value;
  return item;
}

/** One `value.errors[]` element: an error of the app or account, logged. */
export function systemErrorItem(ctx: WhatsAppChangeContext, raw: unknown): WhatsAppItem {
  const r = errorItemSchema.safeParse(raw);
  const detail = r.success ? `${r.data.code ?? 'unknown'} ${errorText(r.data)}` : shortJson(raw);
  return { type: 'ignored', phoneNumberId: ctx.pnid, reason: 'system_error', detail };
}
