/**
 * What parsing a WhatsApp Cloud API webhook body gives (reference §2–§5, §7): the items it routes,
 * the error for a body that cannot be routed, and the small readers of Meta's loosely typed values.
 * The parser itself is webhook.ts.
 */
import { z } from 'zod';
import type { DeliveryStatusReport } from '../types.js';
import type { ConversationEvent } from '../../workflows/shared/types.js';
import { MAX_UNIX_SECONDS, unixToIso } from '../text.js';
import { WebhookBodyError } from '../webhook-body.js';

/** A body we cannot route. `field` names the offending field (dotted path, e.g. `entry.0.changes`). */
export class WhatsAppWebhookError extends WebhookBodyError {
  static override readonly body = 'WhatsApp webhook';
}

/** Why an item leads to nothing; for logs and metrics. */
export type WhatsAppIgnoredReason =
  /** `changes[].field` other than `messages` / `smb_message_echoes` (detail: the field). */
  | 'unsupported_field'
  /** A messages change with no messages, echoes, statuses or errors. */
  | 'empty_change'
  /** `system` message: the customer moved to a new number (detail names both; peerId is the old one). */
  | 'user_changed_number'
  /** Any other `system` message (e.g. `customer_identity_changed`). */
  | 'system_message'
  /** The customer opened the chat for the first time; there is no content. */
  | 'request_welcome'
  /** A status string taskwire does not track (`deleted`, `warning`...). */
  | 'unknown_status'
  /** `value.errors[]`: a system/app/account-level error Meta reports (detail: code, title, details). */
  | 'system_error'
  /** The business edited / deleted a message in the WhatsApp Business app (coexistence echo). */
  | 'echo_edit'
  | 'echo_revoke'
  /** An array element we cannot use (no id, no sender, not an object); detail says what is missing. */
  | 'malformed';

export interface WhatsAppConversationItem {
  type: 'conversation';
  phoneNumberId: string;
  /** The customer's wa_id (digits, no `+`): the conversation is `(channel, peerId)`. */
  peerId: string;
  event: ConversationEvent;
}

export interface WhatsAppStatusItem {
  type: 'status';
  phoneNumberId: string;
  status: DeliveryStatusReport;
  /** `biz_opaque_callback_data` echoed back: the idempotency key the send used (deliveries.id). */
  sendKey?: string;
}

export interface WhatsAppIgnoredItem {
  type: 'ignored';
  phoneNumberId?: string;
  reason: WhatsAppIgnoredReason;
  detail?: string;
  /** The customer concerned, when the item names one. */
  peerId?: string;
}

export type WhatsAppItem = WhatsAppConversationItem | WhatsAppStatusItem | WhatsAppIgnoredItem;

export interface WhatsAppWebhook {
  /** Every `metadata.phone_number_id` of the body, once each, in order of appearance. */
  phoneNumberIds: string[];
  /** Every `entry[].id` (WhatsApp Business Account ids), once each. */
  wabaIds: string[];
  items: WhatsAppItem[];
}

export interface ParseWebhookOptions {
  /** Time the body was received: `occurredAt` of items whose timestamp is missing or unreadable. */
  receivedAt?: Date;
}

/** One messages change being parsed: the business number it came to, and when it arrived. */
export interface WhatsAppChangeContext {
  pnid: string;
  receivedAt?: Date | undefined;
}

/** Ids Meta sends as strings (and sometimes numbers), kept as text. */
export const idLike = z.union([z.string(), z.number().transform(String)]);
/** Unix seconds, as a string (or a number in echoes). */
export const timestampSchema = z.union([z.string(), z.number()]).optional();

/** Longest message id / callback data of a status taken (wamids are about 60 characters; they are indexed). */
export const MAX_STATUS_ID = 512;

/** An item we cannot use, with what is wrong with it. */
export function malformed(ctx: WhatsAppChangeContext, detail: string, peerId?: string): WhatsAppIgnoredItem {
  return { type: 'ignored', phoneNumberId: ctx.pnid, reason: 'malformed', detail, ...(peerId ? { peerId } : {}) };
}

/** Meta's strings; numbers are accepted and kept as their decimal text. */
export function str(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

/** Ids arrive as strings; numbers are accepted and kept as their decimal text. */
export function idString(v: unknown): string | undefined {
  const s = str(v)?.trim();
  return s ? s : undefined;
}

export function num(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

/** §3.1: `timestamp` is a string of Unix seconds (echoes: maybe a number); unreadable or impossible → time of receipt. */
export function toIso(ts: string | number | undefined, receivedAt: Date | undefined): string {
  const n = num(ts);
  if (n !== undefined && n > 0 && n <= MAX_UNIX_SECONDS) return unixToIso(n);
  return (receivedAt ?? new Date()).toISOString();
}

export function shortJson(v: unknown): string {
  let s: string;
  try {
    s = v === undefined ? 'nothing' : JSON.stringify(v);
  } catch {
    s = String(v);
  }
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}
