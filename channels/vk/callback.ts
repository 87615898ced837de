/**
 * VK Callback API bodies → taskwire events (reference: shared/reference/vk-api.md §2–§4).
 *
 * Pure parsing, no I/O: the webhook route parses, checks `group_id` + `secret` against the
 * channel, and hands `event` to the conversation workflow keyed by `peerId` (private messages,
 * callback-messages.ts), to the publication workflow keyed by `publication` (wall / photo / video /
 * board comments, callback-comments.ts), or starts the lead workflow (`lead_forms_new`,
 * callback-leads.ts). Unknown event types, unknown fields and unknown attachment kinds never reject
 * a body (VK adds them over time); only a body we cannot route (no object, no group_id, no type, a
 * message event without its message) throws `VkCallbackError`, which the API answers with 400. The
 * same goes for a comment or lead event without the ids it is routed by.
 */
import { z } from 'zod';
import { commentEventType, parsePublicationComment } from './callback-comments.js';
import { parseLead } from './callback-leads.js';
import { parseMessageEvent } from './callback-messages.js';
import {
  VK_EVENT_RECEIVE_KIND,
  VkCallbackError,
  parseWith,
  type ParseVkCallbackOptions,
  type VkCallback,
  type VkCallbackBase,
  type VkIgnoredCallback,
} from './callback-types.js';

export {
  VK_EVENT_RECEIVE_KIND,
  VK_GROUP_CHAT_PEER_MIN,
  VkCallbackError,
  type ParseVkCallbackOptions,
  type VkCallback,
  type VkConfirmationCallback,
  type VkConversationCallback,
  type VkIgnoredCallback,
  type VkLeadCallback,
  type VkPublicationCallback,
  type VkPublicationReceiveKind,
} from './callback-types.js';
export { dialogUrl, vkCommentUrl, vkPublicationUrl } from './links.js';
export { renderVkContent, renderVkText } from './render.js';
export { mimeFromExtension } from '../mime.js';

// z.object strips unknown keys rather than rejecting them: VK adds fields regularly.
const groupIdSchema = z.union([
  z.number().int().positive(),
  z.string().regex(/^[1-9]\d*$/, 'expected a positive integer').transform(Number),
]);

const envelopeSchema = z.object({
  type: z.string().min(1),
  group_id: groupIdSchema,
  event_id: z.string().min(1).optional(),
  secret: z.string().optional(),
  object: z.unknown().optional(),
});

/** Parse an already JSON-parsed Callback body. Throws `VkCallbackError` for bodies that can't be routed. */
export function parseVkCallback(body: unknown, options: ParseVkCallbackOptions = {}): VkCallback {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new VkCallbackError('body', 'expected a JSON object');
  }
  const envelope = parseWith(envelopeSchema, body, '');
  const base: VkCallbackBase = { groupId: envelope.group_id };
  if (envelope.secret !== undefined) base.secret = envelope.secret;
  const eventType = envelope.type;

  // §2.3: confirmation has no `object` and (in older docs) no `event_id`; require neither.
  if (eventType === 'confirmation') return { type: 'confirmation', ...base };

  const receiveKind = VK_EVENT_RECEIVE_KIND[eventType];
  const ignored = (reason: VkIgnoredCallback['reason']): VkIgnoredCallback => {
    const out: VkIgnoredCallback = { type: 'ignored', ...base, eventType, reason };
    if (envelope.event_id !== undefined) out.eventId = envelope.event_id;
    if (receiveKind !== undefined) out.receiveKind = receiveKind;
    return out;
  };

  if (receiveKind === undefined) return ignored('unsupported_type');

  // Routed events: event_id is the de-duplication key, so it is required here.
  if (envelope.event_id === undefined) throw new VkCallbackError('event_id', `required for ${receiveKind === 'messages' ? 'message' : eventType} events`);
  const eventId = envelope.event_id;
  const object = envelope.object;
  if (typeof object !== 'object' || object === null || Array.isArray(object)) {
    throw new VkCallbackError('object', 'expected an object');
  }
  const ctx = { groupId: envelope.group_id, eventId };
  const receivedAt = options.receivedAt ?? new Date();

  if (receiveKind === 'leadForms') {
    if (eventType !== 'lead_forms_new') return ignored('unsupported_type');
    return { type: 'lead', ...base, eventId, eventType, lead: parseLead(object, receivedAt), receiveKind: 'leadForms' };
  }
  if (receiveKind !== 'messages') {
    const comment = commentEventType(eventType);
    if (!comment) return ignored('unsupported_type');
    const { publication, event } = parsePublicationComment(ctx, comment.spec, comment.action, object, receivedAt);
    return { type: 'publication', ...base, eventId, eventType, publication, event, receiveKind: comment.spec.receiveKind };
  }
  const outcome = parseMessageEvent(ctx, eventType, object, receivedAt);
  if ('ignored' in outcome) return ignored(outcome.ignored);
  return { type: 'conversation', ...base, eventId, eventType, peerId: String(outcome.peerId), event: outcome.event, receiveKind: 'messages' };
}
