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
 * throws `WhatsAppWebhookError`, which the API answers with 400. Messages and echoes are read in
 * webhook-messages.ts (rendered by render.ts), statuses and errors in webhook-statuses.ts.
 *
 * Texts are taken verbatim from the parsed JSON, so a body written with `\uXXXX` escapes and one
 * written in literal UTF-8 give the same strings; nothing here re-serialises a body.
 */
import { findUnstorable } from '../../runtime/storable-text.js';
import { arrayOrEmpty, isObject } from '../http.js';
import { contactSchema, echoItem, inboundItem, type WaContact } from './webhook-messages.js';
import { statusItem, systemErrorItem } from './webhook-statuses.js';
import {
  WhatsAppWebhookError,
  idString,
  malformed,
  shortJson,
  type ParseWebhookOptions,
  type WhatsAppChangeContext,
  type WhatsAppItem,
  type WhatsAppWebhook,
} from './webhook-types.js';

export {
  WhatsAppWebhookError,
  type ParseWebhookOptions,
  type WhatsAppConversationItem,
  type WhatsAppIgnoredItem,
  type WhatsAppIgnoredReason,
  type WhatsAppItem,
  type WhatsAppStatusItem,
  type WhatsAppWebhook,
} from './webhook-types.js';
export { WHATSAPP_APP_SENDER } from './webhook-messages.js';
export { baseMime, extensionFor } from '../mime.js';
export { sanitizeFilename } from '../filenames.js';

/** Fields whose `value` carries messages / statuses / echoes (§1.4). */
const MESSAGE_FIELDS = new Set(['messages', 'smb_message_echoes']);

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

/** One `value` of a messages / echoes change: all of its arrays, whichever are present (§2). */
function parseValue(ctx: WhatsAppChangeContext, value: Record<string, unknown>, path: string): WhatsAppItem[] {
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
