/**
 * WhatsApp Cloud API webhook bodies → taskwire items (reference: shared/reference/whatsapp-cloud-api.md §2–§5, §7).
 *
 * Pure parsing, no I/O. The route verifies `X-Hub-Signature-256` over the raw bytes first (see
 * signature.ts; `phoneNumberIds` / `wabaIds` let it find the candidate channels and their app
 * secrets before trusting anything), then hands each `conversation` item to the workflow of
 * `(channel by phoneNumberId, peerId)`, applies `status` items to deliveries and logs `ignored` ones.
 *
 * Meta batches: every entry, change, message, echo and status is visited (never only `[0]`), in
 * array order. Unknown fields, message types and keys never reject a body; a message type we do
 * not understand still reaches the agent as a placeholder text. Only a body we cannot route at all
 * (not a WhatsApp Business Account body, no `entry[]`, a messages change without a phone number id)
 * throws `WhatsAppWebhookError`, which the API answers with 400.
 *
 * Texts are taken verbatim from the parsed JSON, so a body written with `\uXXXX` escapes and one
 * written in literal UTF-8 give the same strings; nothing here re-serialises a body.
 */
import { z } from 'zod';
import { findUnstorable, storableDeep } from '../../runtime/storable-text.js';
import type { DeliveryStatusReport } from '../types.js';
import type { ConversationEvent, MediaRef } from '../../workflows/shared/types.js';

/** A body we cannot route. `field` names the offending field (dotted path, e.g. `entry.0.changes`). */
export class WhatsAppWebhookError extends Error {
  constructor(
    readonly field: string,
    readonly detail: string,
  ) {
    super(`invalid WhatsApp webhook body: ${field}: ${detail}`);
    this.name = 'WhatsAppWebhookError';
  }
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

/**
 * A customer's wa_id: the digits of a phone number (§3.1). It names the conversation's workflow and
 * the contact, so anything else (text Temporal or PostgreSQL cannot take, an id of any length) is
 * an item we cannot use.
 */
const WA_ID = /^\d{1,32}$/;
/** Longest message id / callback data of a status taken (wamids are about 60 characters; they are indexed). */
const MAX_STATUS_ID = 512;

/** Fields whose `value` carries messages / statuses / echoes (§1.4). */
const MESSAGE_FIELDS = new Set(['messages', 'smb_message_echoes']);
/** Shown as the sender of messages the business sent from the phone app (§7.1). */
export const WHATSAPP_APP_SENDER = 'WhatsApp Business app';
/** Longest Flow response JSON copied into a text. */
const MAX_FLOW_JSON = 2000;

// ---------------------------------------------------------------------------------------------
// Schemas. z.object strips unknown keys rather than rejecting them: Meta adds fields regularly.

const idLike = z.union([z.string(), z.number().transform(String)]);
const timestampSchema = z.union([z.string(), z.number()]).optional();

const contactSchema = z.object({
  wa_id: idLike.optional(),
  user_id: z.string().optional(),
  profile: z.object({ name: z.string().optional() }).optional().catch(undefined),
});
type WaContact = z.infer<typeof contactSchema>;

const contextSchema = z
  .object({
    id: z.string().optional(),
    from: idLike.optional(),
    forwarded: z.boolean().optional(),
    frequently_forwarded: z.boolean().optional(),
  })
  .optional()
  .catch(undefined);

const errorItemSchema = z.object({
  code: z.union([z.number(), z.string()]).optional(),
  title: z.string().optional(),
  message: z.string().optional(),
  error_data: z.object({ details: z.string().optional() }).optional().catch(undefined),
  href: z.string().optional(),
});
type WaError = z.infer<typeof errorItemSchema>;

const messageHeadSchema = z.object({
  id: z.string().min(1),
  from: idLike.optional(),
  from_user_id: z.string().optional(),
  to: idLike.optional(),
  timestamp: timestampSchema,
  type: z.string().optional(),
  context: contextSchema,
  errors: z.array(z.unknown()).optional().catch(undefined),
  referral: z.unknown().optional(),
});
type WaMessage = z.infer<typeof messageHeadSchema> & { raw: Record<string, unknown> };

const statusSchema = z.object({
  id: z.string().min(1),
  status: z.string().min(1),
  timestamp: timestampSchema,
  recipient_id: idLike.optional(),
  biz_opaque_callback_data: z.string().optional(),
  errors: z.array(z.unknown()).optional().catch(undefined),
});

const mediaSchema = z.object({
  id: idLike.optional(),
  mime_type: z.string().optional(),
  url: z.string().optional(),
  caption: z.string().optional(),
  filename: z.string().optional(),
  voice: z.boolean().optional(),
  animated: z.boolean().optional(),
});

// ---------------------------------------------------------------------------------------------

/** Decode raw webhook bytes (UTF-8) into the JSON value `parseWebhook` takes. Throws WhatsAppWebhookError. */
export function readWebhookJson(raw: Uint8Array | string): unknown {
  let text: string;
  try {
    text = typeof raw === 'string' ? raw : new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw new WhatsAppWebhookError('body', 'not valid UTF-8');
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new WhatsAppWebhookError('body', 'not valid JSON');
  }
}

/** Parse an already JSON-parsed webhook POST body. Throws `WhatsAppWebhookError` for bodies that can't be routed. */
export function parseWebhook(body: unknown, opts: ParseWebhookOptions = {}): WhatsAppWebhook {
  if (!isObject(body)) throw new WhatsAppWebhookError('body', 'expected a JSON object');
  if (body.object !== 'whatsapp_business_account') {
    throw new WhatsAppWebhookError('object', `expected "whatsapp_business_account", got ${shortJson(body.object)}`);
  }
  if (!Array.isArray(body.entry)) throw new WhatsAppWebhookError('entry', 'expected an array');

  const phoneNumberIds: string[] = [];
  const wabaIds: string[] = [];
  const items: WhatsAppItem[] = [];
  const addOnce = (list: string[], v: string) => {
    if (!list.includes(v)) list.push(v);
  };

  body.entry.forEach((entry, i) => {
    const entryPath = `entry.${i}`;
    if (!isObject(entry)) throw new WhatsAppWebhookError(entryPath, 'expected an object');
    const wabaId = idString(entry.id);
    if (wabaId) addOnce(wabaIds, wabaId);
    if (!Array.isArray(entry.changes)) throw new WhatsAppWebhookError(`${entryPath}.changes`, 'expected an array');

    entry.changes.forEach((change, j) => {
      const path = `${entryPath}.changes.${j}`;
      if (!isObject(change)) throw new WhatsAppWebhookError(path, 'expected an object');
      if (typeof change.field !== 'string' || change.field === '') throw new WhatsAppWebhookError(`${path}.field`, 'expected a string');
      const value = change.value;
      const metadata = isObject(value) && isObject(value.metadata) ? value.metadata : undefined;
      const pnid = idString(metadata?.phone_number_id);
      // The id is looked up in the database: text PostgreSQL cannot take can name no channel.
      if (pnid && findUnstorable(pnid) !== undefined) {
        throw new WhatsAppWebhookError(`${path}.value.metadata.phone_number_id`, 'contains a character that cannot be stored (NUL or a lone UTF-16 surrogate)');
      }
      if (pnid) addOnce(phoneNumberIds, pnid);

      if (!MESSAGE_FIELDS.has(change.field)) {
        // §1.4: other subscription fields (account_update, templates, history...) are logged, not processed.
        items.push({ type: 'ignored', ...(pnid ? { phoneNumberId: pnid } : {}), reason: 'unsupported_field', detail: change.field });
        return;
      }
      if (!isObject(value)) throw new WhatsAppWebhookError(`${path}.value`, 'expected an object');
      if (!pnid) throw new WhatsAppWebhookError(metadata ? `${path}.value.metadata.phone_number_id` : `${path}.value.metadata`, 'required to route the change');
      items.push(...parseValue({ pnid, receivedAt: opts.receivedAt }, value, `${path}.value`));
    });
  });

  return { phoneNumberIds, wabaIds, items };
}

// ---------------------------------------------------------------------------------------------

interface Ctx {
  pnid: string;
  receivedAt?: Date;
}

/** One `value` of a messages / echoes change: all of its arrays, whichever are present (§2). */
function parseValue(ctx: Ctx, value: Record<string, unknown>, path: string): WhatsAppItem[] {
  const out: WhatsAppItem[] = [];
  const contacts: WaContact[] = [];
  for (const raw of arrayOrEmpty(value.contacts)) {
    const c = contactSchema.safeParse(raw);
    if (c.success) contacts.push(c.data);
  }
  let seen = false;
  const each = (key: string, fn: (raw: unknown, itemPath: string) => WhatsAppItem) => {
    const list = value[key];
    if (list === undefined || list === null) return;
    seen = true;
    if (!Array.isArray(list)) {
      out.push(malformed(ctx, `${path}.${key}: expected an array`));
      return;
    }
    list.forEach((raw, k) => out.push(fn(raw, `${path}.${key}.${k}`)));
  };

  each('messages', (raw, p) => inboundItem(ctx, raw, contacts, p));
  each('message_echoes', (raw, p) => echoItem(ctx, raw, p));
  each('statuses', (raw, p) => statusItem(ctx, raw, p));
  each('errors', (raw) => systemErrorItem(ctx, raw));
  if (!seen) out.push({ type: 'ignored', phoneNumberId: ctx.pnid, reason: 'empty_change' });
  return out;
}

function malformed(ctx: Ctx, detail: string, peerId?: string): WhatsAppIgnoredItem {
  return { type: 'ignored', phoneNumberId: ctx.pnid, reason: 'malformed', detail, ...(peerId ? { peerId } : {}) };
}

function parseMessage(raw: unknown): WaMessage | string {
  if (!isObject(raw)) return 'expected an object';
  const r = messageHeadSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    return `${(issue?.path ?? []).map(String).join('.') || 'message'}: ${issue?.message ?? 'invalid'}`;
  }
  return { ...r.data, raw };
}

/**
 * The sender's `value.contacts[]` entry: the one whose wa_id equals `from`; with a single contact
 * it is that one even when the numbers differ (§3.1: wa_id and phone "may not always match", e.g.
 * Brazil's ninth digit, Mexico's `521`), and the customer is keyed on its wa_id.
 */
function senderContact(contacts: WaContact[], from: string | undefined): WaContact | undefined {
  const exact = from ? contacts.find((c) => c.wa_id === from) : undefined;
  if (exact) return exact;
  return contacts.length === 1 ? contacts[0] : undefined;
}

function inboundItem(ctx: Ctx, raw: unknown, contacts: WaContact[], path: string): WhatsAppItem {
  const msg = parseMessage(raw);
  if (typeof msg === 'string') return malformed(ctx, `${path}: ${msg}`);
  const contact = senderContact(contacts, msg.from);
  const peerId = (contact?.wa_id || msg.from || '').trim();
  if (peerId && !WA_ID.test(peerId)) return malformed(ctx, `${path}: message ${msg.id} has a sender that is not a phone number (wa_id)`);
  if (!peerId) {
    // §11.4: username adopters may come with a BSUID only; taskwire keys WhatsApp customers on phone numbers.
    const userId = msg.from_user_id ?? contact?.user_id;
    return malformed(ctx, `${path}: message ${msg.id} has no sender phone number${userId ? ` (user_id ${userId})` : ''}`);
  }
  const type = msg.type ?? 'unknown';
  const key = `wa-msg:${ctx.pnid}:${msg.id}`;
  const occurredAt = toIso(msg.timestamp, ctx.receivedAt);
  const conversation = (event: ConversationEvent): WhatsAppConversationItem => ({ type: 'conversation', phoneNumberId: ctx.pnid, peerId, event });

  switch (type) {
    case 'system': {
      const sys = isObject(msg.raw.system) ? msg.raw.system : {};
      const sysType = str(sys.type) ?? 'unknown';
      const body = str(sys.body);
      if (sysType === 'user_changed_number' || sysType === 'customer_changed_number') {
        const newId = idString(sys.wa_id) ?? idString(sys.new_wa_id);
        const detail = `${peerId} changed their number${newId ? ` to ${newId}` : ''}${body ? `: ${body}` : ''}`;
        return { type: 'ignored', phoneNumberId: ctx.pnid, reason: 'user_changed_number', detail, peerId };
      }
      return { type: 'ignored', phoneNumberId: ctx.pnid, reason: 'system_message', detail: `${sysType}${body ? `: ${body}` : ''}`, peerId };
    }
    case 'request_welcome':
      return { type: 'ignored', phoneNumberId: ctx.pnid, reason: 'request_welcome', peerId };
    case 'reaction': {
      const r = isObject(msg.raw.reaction) ? msg.raw.reaction : {};
      const target = str(r.message_id);
      if (!target) return malformed(ctx, `${path}.reaction.message_id: required`, peerId);
      // §3.2: removal comes with `emoji` omitted (or empty): '' removes the reaction.
      return conversation({ type: 'reaction', keys: [key], occurredAt, externalId: msg.id, targetExternalId: target, emoji: str(r.emoji) ?? '' });
    }
    case 'edit': {
      // §3.4 (coexistence): the customer edited a message; the new content is a nested message.
      const e = isObject(msg.raw.edit) ? msg.raw.edit : {};
      const original = str(e.original_message_id);
      const inner = isObject(e.message) ? e.message : undefined;
      if (original && inner) {
        const rendered = renderContent(str(inner.type) ?? 'unknown', inner);
        return conversation({ type: 'inbound_edit', keys: [key], occurredAt, externalId: original, text: rendered.text, media: rendered.media, editedAt: occurredAt });
      }
      break;
    }
  }

  const rendered = renderMessage(msg, type);
  const replyTo = msg.context?.id ?? rendered.replyTo;
  const name = contact?.profile?.name?.trim();
  return conversation({
    type: 'inbound',
    keys: [key],
    occurredAt,
    externalId: msg.id,
    text: rendered.text,
    media: rendered.media,
    profile: { ...(name ? { name } : {}), phone: `+${peerId}` },
    ...(replyTo ? { replyToExternalId: replyTo } : {}),
  });
}

function echoItem(ctx: Ctx, raw: unknown, path: string): WhatsAppItem {
  const msg = parseMessage(raw);
  if (typeof msg === 'string') return malformed(ctx, `${path}: ${msg}`);
  // §7.1: `from` is the business number, `to` the customer.
  const peerId = (msg.to ?? '').trim();
  if (!peerId) return malformed(ctx, `${path}: echo ${msg.id} has no recipient (to)`);
  if (!WA_ID.test(peerId)) return malformed(ctx, `${path}: echo ${msg.id} has a recipient (to) that is not a phone number`);
  const type = msg.type ?? 'unknown';
  if (type === 'edit' || type === 'revoke') {
    const o = isObject(msg.raw[type]) ? (msg.raw[type] as Record<string, unknown>) : {};
    const original = str(o.original_message_id);
    return {
      type: 'ignored',
      phoneNumberId: ctx.pnid,
      reason: type === 'edit' ? 'echo_edit' : 'echo_revoke',
      detail: `message ${original ?? '(unknown)'} ${type === 'edit' ? 'edited' : 'deleted'} in the WhatsApp Business app`,
      peerId,
    };
  }
  const rendered = renderMessage(msg, type);
  return {
    type: 'conversation',
    phoneNumberId: ctx.pnid,
    peerId,
    event: {
      type: 'observed_outgoing',
      keys: [`wa-echo:${ctx.pnid}:${msg.id}`],
      occurredAt: toIso(msg.timestamp, ctx.receivedAt),
      externalId: msg.id,
      text: rendered.text,
      media: rendered.media,
      senderRef: WHATSAPP_APP_SENDER,
    },
  };
}

const STATUS_MAP: Record<string, DeliveryStatusReport['status']> = {
  sent: 'sent',
  delivered: 'delivered',
  read: 'read',
  // §5: `played` = first play of a voice message we sent; it implies read and is the furthest
  // state taskwire tracks, so it moves the delivery to read (states only move forward).
  played: 'read',
  failed: 'failed',
};

function statusItem(ctx: Ctx, raw: unknown, path: string): WhatsAppItem {
  const r = statusSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    return malformed(ctx, `${path}.${(issue?.path ?? []).map(String).join('.') || 'status'}: ${issue?.message ?? 'invalid'}`);
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
  const err = firstError(s.errors);
  if (err) report.error = { code: err.code ?? 'unknown', message: errorText(err) };
  // Stored as received: characters PostgreSQL cannot take are replaced.
  const item: WhatsAppStatusItem = { type: 'status', phoneNumberId: ctx.pnid, status: storableDeep(report).value };
  if (s.biz_opaque_callback_data && s.biz_opaque_callback_data.length <= MAX_STATUS_ID) item.sendKey = storableDeep(s.biz_opaque_callback_data).value;
  return item;
}

function systemErrorItem(ctx: Ctx, raw: unknown): WhatsAppItem {
  const r = errorItemSchema.safeParse(raw);
  const detail = r.success ? `${r.data.code ?? 'unknown'} ${errorText(r.data)}` : shortJson(raw);
  return { type: 'ignored', phoneNumberId: ctx.pnid, reason: 'system_error', detail };
}

function firstError(list: unknown[] | undefined): WaError | undefined {
  for (const raw of list ?? []) {
    const r = errorItemSchema.safeParse(raw);
    if (r.success) return r.data;
  }
  return undefined;
}

/** `title: details` (§5: `message` equals `title`; details say why, e.g. the 24-hour window). */
function errorText(e: WaError): string {
  const title = e.title || e.message || 'unknown error';
  const details = e.error_data?.details;
  return details && details !== title ? `${title}: ${details}` : title;
}

// ---------------------------------------------------------------------------------------------
// Text and media rendering

interface Rendered {
  text: string;
  media: MediaRef[];
  /** A message this one refers to without a `context` (revoke). */
  replyTo?: string;
}

/**
 * A whole message as one readable text plus its files: the content first (task titles are taken
 * from it), then notes (forwarded, ad referral, errors Meta attached) on lines of their own.
 */
function renderMessage(msg: WaMessage, type: string): Rendered {
  const rendered = renderContent(type, msg.raw, msg.errors);
  const notes: string[] = [];
  if (msg.context?.frequently_forwarded) notes.push('[forwarded many times]');
  else if (msg.context?.forwarded) notes.push('[forwarded]');
  const ad = renderReferral(msg.referral);
  if (ad) notes.push(ad);
  // `unsupported` and unknown types already name their errors in the placeholder.
  if (KNOWN_TYPES.has(type) && type !== 'unsupported') {
    for (const raw of msg.errors ?? []) {
      const e = errorItemSchema.safeParse(raw);
      if (e.success) notes.push(`[WhatsApp error ${e.data.code ?? 'unknown'}: ${errorText(e.data)}]`);
    }
  }
  const text = [rendered.text, ...notes].filter((l) => l !== '').join('\n');
  return { ...rendered, text };
}

const MEDIA_TYPES = new Set(['image', 'video', 'audio', 'document', 'sticker']);
const KNOWN_TYPES = new Set([...MEDIA_TYPES, 'text', 'location', 'contacts', 'interactive', 'button', 'order', 'revoke', 'unsupported']);

/** The content of one message object of `type` (inbound, echo, or the new version inside an edit). */
function renderContent(type: string, m: Record<string, unknown>, errors?: unknown[]): Rendered {
  const payload = isObject(m[type]) ? (m[type] as Record<string, unknown>) : undefined;
  if (MEDIA_TYPES.has(type)) return renderMedia(type, payload);
  switch (type) {
    case 'text':
      return { text: str(payload?.body) ?? '', media: [] };
    case 'location':
      return { text: renderLocation(payload), media: [] };
    case 'contacts':
      return { text: renderContacts(m.contacts), media: [] };
    case 'interactive':
      return { text: renderInteractive(payload), media: [] };
    case 'button': {
      // §3.2: a template quick-reply tap; the payload is what we set when sending.
      const text = str(payload?.text) ?? '';
      const p = str(payload?.payload);
      return { text: [text, p && p !== text ? `[button payload: ${p}]` : ''].filter(Boolean).join('\n'), media: [] };
    }
    case 'order':
      return { text: renderOrder(payload), media: [] };
    case 'revoke': {
      const original = str(payload?.original_message_id);
      return { text: '[the customer deleted a message]', media: [], ...(original ? { replyTo: original } : {}) };
    }
    case 'unsupported': {
      const kind = str(payload?.type);
      return { text: unsupportedText(kind ?? 'unknown', errors), media: [] };
    }
    default:
      return { text: unsupportedText(type, errors), media: [] };
  }
}

/** §3.2 unsupported: shown as a placeholder, never dropped: `[unsupported message: poll_creation] Message type unknown`. */
function unsupportedText(kind: string, errors: unknown[] | undefined): string {
  const titles: string[] = [];
  for (const raw of errors ?? []) {
    const e = errorItemSchema.safeParse(raw);
    const t = e.success ? e.data.title || e.data.message : undefined;
    if (t && !titles.includes(t)) titles.push(t);
  }
  return `[unsupported message: ${kind}]${titles.length ? ` ${titles.join('; ')}` : ''}`;
}

function renderMedia(type: string, payload: Record<string, unknown> | undefined): Rendered {
  const p = mediaSchema.safeParse(payload ?? {});
  const o = p.success ? p.data : {};
  const kind: MediaRef['kind'] = type === 'audio' ? (o.voice ? 'voice' : 'audio') : (type as MediaRef['kind']);
  const caption = o.caption ?? '';
  if (!o.id) return { text: [caption, `[${MEDIA_LABEL[kind]} not available]`].filter(Boolean).join('\n'), media: [] };
  const mimeType = o.mime_type ?? DEFAULT_MIME[kind] ?? 'application/octet-stream';
  const fallbackName = `${kind}-${o.id}${extensionFor(mimeType)}`;
  const filename = type === 'document' ? (sanitizeFilename(o.filename ?? '', mimeType) ?? fallbackName) : fallbackName;
  const ref: MediaRef = { kind, mediaId: o.id, mimeType, filename };
  if (o.url) ref.url = o.url;
  return { text: caption, media: [ref] };
}

const MEDIA_LABEL: Record<string, string> = {
  image: 'image',
  video: 'video',
  audio: 'audio',
  voice: 'voice message',
  document: 'document',
  sticker: 'sticker',
};
const DEFAULT_MIME: Record<string, string> = { sticker: 'image/webp', voice: 'audio/ogg' };

function renderLocation(p: Record<string, unknown> | undefined): string {
  const lat = num(p?.latitude);
  const long = num(p?.longitude);
  const name = str(p?.name)?.trim();
  const address = str(p?.address)?.trim();
  const url = str(p?.url)?.trim();
  const coords = lat !== undefined && long !== undefined ? `${lat},${long}` : undefined;
  const head = [name, address].filter((x): x is string => !!x);
  const lines = [`Location: ${head[0] ?? (coords ? coords.replace(',', ', ') : 'unknown')}`, ...head.slice(1)];
  if (url) lines.push(url);
  if (coords) lines.push(`https://maps.google.com/?q=${coords}`);
  return lines.join('\n');
}

function renderContacts(raw: unknown): string {
  const cards: string[] = [];
  for (const c of arrayOrEmpty(raw)) {
    if (!isObject(c)) continue;
    const name = isObject(c.name) ? c.name : {};
    const fullName =
      str(name.formatted_name)?.trim() ||
      [str(name.prefix), str(name.first_name), str(name.middle_name), str(name.last_name), str(name.suffix)].filter(Boolean).join(' ') ||
      'unnamed';
    const lines = [`Contact: ${fullName}`];
    if (isObject(c.org)) {
      const org = [str(c.org.company), str(c.org.department), str(c.org.title)].filter(Boolean).join(', ');
      if (org) lines.push(`Organization: ${org}`);
    }
    for (const ph of arrayOrEmpty(c.phones)) {
      if (!isObject(ph)) continue;
      const phone = str(ph.phone) ?? (str(ph.wa_id) ? `+${str(ph.wa_id)}` : undefined);
      if (phone) lines.push(`Phone: ${phone}${typeSuffix(ph.type)}`);
    }
    for (const em of arrayOrEmpty(c.emails)) {
      if (isObject(em) && str(em.email)) lines.push(`Email: ${str(em.email)}${typeSuffix(em.type)}`);
    }
    for (const u of arrayOrEmpty(c.urls)) {
      if (isObject(u) && str(u.url)) lines.push(`URL: ${str(u.url)}${typeSuffix(u.type)}`);
    }
    for (const a of arrayOrEmpty(c.addresses)) {
      if (!isObject(a)) continue;
      const addr = [str(a.street), str(a.city), str(a.state), str(a.zip), str(a.country)].filter(Boolean).join(', ');
      if (addr) lines.push(`Address: ${addr}${typeSuffix(a.type)}`);
    }
    const birthday = str(c.birthday);
    if (birthday) lines.push(`Birthday: ${birthday}`);
    cards.push(lines.join('\n'));
  }
  return cards.length ? cards.join('\n\n') : '[contact card]';
}

function typeSuffix(t: unknown): string {
  const s = str(t);
  return s ? ` (${s})` : '';
}

function renderInteractive(p: Record<string, unknown> | undefined): string {
  const kind = str(p?.type) ?? 'unknown';
  const reply = p && isObject(p[kind]) ? (p[kind] as Record<string, unknown>) : {};
  switch (kind) {
    case 'button_reply':
    case 'list_reply': {
      // The customer "says" the title they tapped; the id (set by whoever sent the buttons) follows for automation.
      const title = str(reply.title) ?? '';
      const id = str(reply.id);
      const description = kind === 'list_reply' ? str(reply.description) : undefined;
      const label = kind === 'button_reply' ? 'button reply' : 'list reply';
      return [title, description ?? '', id && id !== title ? `[${label}: ${id}]` : ''].filter(Boolean).join('\n') || `[${label}]`;
    }
    case 'nfm_reply': {
      const body = str(reply.body);
      const json = str(reply.response_json);
      const shown = json && json.length > MAX_FLOW_JSON ? `${json.slice(0, MAX_FLOW_JSON)}…` : json;
      return ['[form reply]', body ?? '', shown ?? ''].filter(Boolean).join('\n');
    }
    default:
      return `[interactive reply: ${kind}]`;
  }
}

function renderOrder(p: Record<string, unknown> | undefined): string {
  const lines: string[] = [];
  const text = str(p?.text);
  if (text) lines.push(text);
  const catalog = str(p?.catalog_id);
  lines.push(`Order${catalog ? ` (catalog ${catalog})` : ''}:`);
  for (const item of arrayOrEmpty(p?.product_items)) {
    if (!isObject(item)) continue;
    const sku = str(item.product_retailer_id) ?? 'item';
    const qty = str(item.quantity) ?? '1';
    const price = str(item.item_price);
    const currency = str(item.currency);
    lines.push(`- ${sku} × ${qty}${price ? ` — ${price}${currency ? ` ${currency}` : ''}` : ''}`);
  }
  return lines.join('\n');
}

/** Click-to-WhatsApp ads (§3.1 `referral`): one note line naming the ad. */
function renderReferral(raw: unknown): string | undefined {
  if (!isObject(raw)) return undefined;
  const headline = str(raw.headline)?.trim();
  const url = str(raw.source_url)?.trim();
  if (!headline && !url) return '[via an ad]';
  return `[via an ad${headline ? `: ${headline}` : ''}${url ? ` ${url}` : ''}]`;
}

// ---------------------------------------------------------------------------------------------
// Filenames

const EXT_BY_MIME: Record<string, string> = {
  'image/jpeg': '.jpg',
  'image/png': '.png',
  'image/webp': '.webp',
  'image/gif': '.gif',
  'video/mp4': '.mp4',
  'video/3gpp': '.3gp',
  'audio/ogg': '.ogg',
  'audio/opus': '.opus',
  'audio/mpeg': '.mp3',
  'audio/mp4': '.m4a',
  'audio/aac': '.aac',
  'audio/amr': '.amr',
  'application/pdf': '.pdf',
  'text/plain': '.txt',
  'text/csv': '.csv',
  'application/msword': '.doc',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': '.docx',
  'application/vnd.ms-excel': '.xls',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': '.xlsx',
  'application/vnd.ms-powerpoint': '.ppt',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': '.pptx',
  'application/zip': '.zip',
};

/** `.ext` for a MIME type (parameters ignored); '' when unknown. */
export function extensionFor(mimeType: string): string {
  return EXT_BY_MIME[baseMime(mimeType)] ?? '';
}

export function baseMime(mimeType: string): string {
  return mimeType.split(';')[0]!.trim().toLowerCase();
}

const MAX_FILENAME = 180;

/**
 * A user-supplied document name made safe to store (§3.2: `filename` is user-controlled): no
 * directories, control or reserved characters, no leading dots, bounded length (extension kept);
 * an extension from the MIME type when it has none. Undefined when nothing usable remains.
 */
export function sanitizeFilename(name: string, mimeType?: string): string | undefined {
  let s = name.normalize('NFC');
  s = s.split(/[/\\]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  s = s.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '');
  s = s.replace(/[<>:"|?*]/g, '_');
  s = s.replace(/\s+/g, ' ').trim().replace(/^[.\s]+/, '').replace(/[.\s]+$/, '');
  if (!s) return undefined;
  const dot = s.lastIndexOf('.');
  let ext = dot > 0 && s.length - dot <= 10 ? s.slice(dot) : '';
  let stem = ext ? s.slice(0, dot) : s;
  if (!ext && mimeType) ext = extensionFor(mimeType);
  if (stem.length + ext.length > MAX_FILENAME) stem = [...stem].slice(0, MAX_FILENAME - ext.length).join('').trim();
  return `${stem}${ext}`;
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function arrayOrEmpty(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function str(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

/** Ids arrive as strings; numbers are accepted and kept as their decimal text. */
function idString(v: unknown): string | undefined {
  const s = str(v)?.trim();
  return s ? s : undefined;
}

function num(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

/** §3.1: `timestamp` is a string of Unix seconds (echoes: maybe a number); unreadable or impossible → time of receipt. */
function toIso(ts: string | number | undefined, receivedAt: Date | undefined): string {
  const n = num(ts);
  // Up to 9999-12-31T23:59:59Z: later ones have no ISO date to store.
  if (n !== undefined && n > 0 && n <= 253_402_300_799) return new Date(Math.round(n * 1000)).toISOString();
  return (receivedAt ?? new Date()).toISOString();
}

function shortJson(v: unknown): string {
  let s: string;
  try {
    s = v === undefined ? 'nothing' : JSON.stringify(v);
  } catch {
    s = String(v);
  }
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}
