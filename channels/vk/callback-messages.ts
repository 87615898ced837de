/**
 * Private-message events of the VK Callback API (§3.1–§3.3): message_new / message_reply /
 * message_edit / message_allow / message_deny → the conversation event of `(channel, peerId)`.
 */
import { z } from 'zod';
import type { ConversationEvent } from '../../workflows/shared/types.js';
import { unixToIso } from '../text.js';
import { VK_GROUP_CHAT_PEER_MIN, VkCallbackError, parseWith, type VkEventContext } from './callback-types.js';
import { dialogUrl } from './links.js';
import { foreignMessageSchema, messageContentFields, renderMessage, unixSeconds } from './render.js';

const flag = z.union([z.number(), z.boolean()]).optional();

/** The fields of a top-level Message taskwire relies on (message_new `object.message`, message_reply/edit `object`). */
const messageSchema = z.object({
  id: z.number().int().nonnegative(),
  date: unixSeconds,
  peer_id: z.number().int(),
  from_id: z.number().int(),
  out: flag,
  conversation_message_id: z.number().int().optional(),
  random_id: z.number().int().optional(),
  update_time: unixSeconds.optional(),
  admin_author_id: z.number().int().optional(),
  ...messageContentFields,
});
type VkMessage = z.infer<typeof messageSchema>;

const permissionSchema = z.object({ user_id: z.number().int().positive() });

/** A message event: the person's conversation and its event, or why it is ignored. */
export type VkMessageOutcome = { peerId: number; event: ConversationEvent } | { ignored: 'group_chat' | 'own_message_edit' | 'unsupported_type' };

/** One `message_*` event's `object` → the conversation event. Throws `VkCallbackError` when it cannot be routed. */
export function parseMessageEvent(ctx: VkEventContext, eventType: string, object: object, receivedAt: Date): VkMessageOutcome {
  switch (eventType) {
    case 'message_new': {
      const raw = (object as Record<string, unknown>).message;
      if (raw === undefined) throw new VkCallbackError('object.message', 'required');
      const msg = parseWith(messageSchema, raw, 'object.message');
      if (isGroupChat(msg.peer_id)) return { ignored: 'group_chat' };
      // message_new is incoming by definition; should VK ever deliver an outgoing one here, it is
      // treated like message_reply (same message key, so the pair de-duplicates).
      return { peerId: msg.peer_id, event: isOut(msg) ? observedOutgoing(ctx, msg) : inboundMessage(ctx, msg) };
    }
    case 'message_reply': {
      // §3.2: bare Message, always outgoing (admin in VK, a mailing tool, or our own messages.send).
      const msg = parseWith(messageSchema, object, 'object');
      if (isGroupChat(msg.peer_id)) return { ignored: 'group_chat' };
      return { peerId: msg.peer_id, event: observedOutgoing(ctx, msg) };
    }
    case 'message_edit': {
      const msg = parseWith(messageSchema, object, 'object');
      if (isGroupChat(msg.peer_id)) return { ignored: 'group_chat' };
      // The community editing its own message (in VK or through our messages.edit) is not a
      // customer edit; whether VK sends these at all is unconfirmed (§3.2).
      if (isOut(msg)) return { ignored: 'own_message_edit' };
      return { peerId: msg.peer_id, event: inboundEdit(ctx, msg) };
    }
    case 'message_allow':
    case 'message_deny': {
      const p = parseWith(permissionSchema, object, 'object');
      // No date in these payloads: the time of receipt stands in for it.
      const occurredAt = receivedAt.toISOString();
      return {
        peerId: p.user_id,
        event: { type: 'permission', keys: [`vk-event:${ctx.eventId}`], occurredAt, allowed: eventType === 'message_allow' },
      };
    }
    default:
      // Other message_* types (message_event, message_typing_state, message_read...).
      return { ignored: 'unsupported_type' };
  }
}

function isGroupChat(peerId: number): boolean {
  return peerId >= VK_GROUP_CHAT_PEER_MIN;
}

function isOut(msg: VkMessage): boolean {
  return msg.out === 1 || msg.out === true;
}

/** Key of one VK message in one community: message_new and message_reply of the same message share it. */
function messageKey(ctx: VkEventContext, msg: VkMessage): string {
  if (msg.id > 0) return `vk-msg:${ctx.groupId}:${msg.id}`;
  return `vk-cmid:${ctx.groupId}:${msg.peer_id}:${msg.conversation_message_id ?? 0}`;
}

/** What every message event carries: its keys, time, id and rendered content. */
function messageBase(ctx: VkEventContext, msg: VkMessage, key: string, occurredAt: string) {
  const { text, media } = renderMessage(msg);
  return { keys: [`vk-event:${ctx.eventId}`, key], occurredAt, externalId: String(msg.id), text, media };
}

function inboundMessage(ctx: VkEventContext, msg: VkMessage): ConversationEvent {
  const replyTo = replyToId(msg.reply_message);
  return {
    type: 'inbound',
    ...messageBase(ctx, msg, messageKey(ctx, msg), unixToIso(msg.date)),
    ...(replyTo !== undefined ? { replyToExternalId: replyTo } : {}),
    externalUrl: dialogUrl(ctx.groupId, msg.peer_id),
  };
}

function observedOutgoing(ctx: VkEventContext, msg: VkMessage): ConversationEvent {
  return {
    type: 'observed_outgoing',
    ...messageBase(ctx, msg, messageKey(ctx, msg), unixToIso(msg.date)),
    // random_id 0 = the sender gave none (nothing to match our own sends against).
    ...(msg.random_id ? { sendKey: String(msg.random_id) } : {}),
    ...(msg.admin_author_id ? { senderRef: String(msg.admin_author_id) } : {}),
  };
}

function inboundEdit(ctx: VkEventContext, msg: VkMessage): ConversationEvent {
  const editedAtUnix = msg.update_time ?? msg.date;
  const editedAt = unixToIso(editedAtUnix);
  return {
    type: 'inbound_edit',
    ...messageBase(ctx, msg, `vk-edit:${ctx.groupId}:${msg.id}:${editedAtUnix}`, editedAt),
    editedAt,
  };
}

function replyToId(raw: unknown): string | undefined {
  if (raw === undefined || raw === null) return undefined;
  const r = foreignMessageSchema.safeParse(raw);
  if (!r.success || !r.data.id) return undefined;
  return String(r.data.id);
}
