/**
 * Messages of a WhatsApp webhook (§3, §7): what customers send (`messages[]`) and what the
 * business sent from the WhatsApp Business app (`message_echoes[]`) → conversation items.
 */
import { z } from 'zod';
import type { ConversationEvent } from '../../workflows/shared/types.js';
import { isObject } from '../http.js';
import { phoneFromDigits } from '../phone.js';
import { firstIssue } from '../webhook-body.js';
import { renderContent, renderMessage } from './render.js';
import {
  idLike,
  idString,
  malformed,
  str,
  timestampSchema,
  toIso,
  type WhatsAppChangeContext,
  type WhatsAppConversationItem,
  type WhatsAppItem,
} from './webhook-types.js';

/** Shown as the sender of messages the business sent from the phone app (§7.1). */
export const WHATSAPP_APP_SENDER = 'WhatsApp Business app';

/**
 * A customer's wa_id: the digits of a phone number (§3.1). It names the conversation's workflow and
 * the contact, so anything else (text Temporal or PostgreSQL cannot take, an id of any length) is
 * an item we cannot use.
 */
const WA_ID = /^\d{1,32}$/;

export const contactSchema = z.object({
  wa_id: idLike.optional(),
  user_id: z.string().optional(),
  profile: z.object({ name: z.string().optional() }).optional().catch(undefined),
});
export type WaContact = z.infer<typeof contactSchema>;

const contextSchema = z
  .object({
    id: z.string().optional(),
    from: idLike.optional(),
    forwarded: z.boolean().optional(),
    frequently_forwarded: z.boolean().optional(),
  })
  .optional()
  .catch(undefined);

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

function parseMessage(raw: unknown): WaMessage | string {
  if (!isObject(raw)) return 'expected an object';
  const r = messageHeadSchema.safeParse(raw);
  if (!r.success) {
    const issue = firstIssue(r.error, '', 'message');
    return `${issue.path}: ${issue.message}`;
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

export function inboundItem(ctx: WhatsAppChangeContext, raw: unknown, contacts: WaContact[], path: string): WhatsAppItem {
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
    profile: { ...(name ? { name } : {}), phone: phoneFromDigits(peerId) },
    ...(replyTo ? { replyToExternalId: replyTo } : {}),
  });
}

export function echoItem(ctx: WhatsAppChangeContext, raw: unknown, path: string): WhatsAppItem {
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
