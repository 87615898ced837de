/**
 * What parsing a VK Callback body gives (reference: shared/reference/vk-api.md §2–§3): the routed
 * callback types, the error for a body that cannot be routed, and which settings switch governs
 * each event type. The parser itself is callback.ts.
 */
import type { z } from 'zod';
import type { ChannelSettings } from '../../db/schema.js';
import type { ConversationEvent, LeadEvent, PublicationCommentEvent, PublicationRef } from '../../workflows/shared/types.js';
import { WebhookBodyError, firstIssue } from '../webhook-body.js';

/** A Callback body we cannot route. `field` names the offending field (dotted path). */
export class VkCallbackError extends WebhookBodyError {
  static override readonly body = 'VK callback';
}

export type ReceiveKind = keyof ChannelSettings['receive'];
/** The settings switches of publication comment events. */
export type VkPublicationReceiveKind = 'wallComments' | 'photoComments' | 'videoComments' | 'boardComments';

/**
 * Which channel-settings switch (`settings.receive.*`) governs each event type. Every type listed
 * here is routed (`conversation`, `publication` or `lead`); other types are `unsupported_type`.
 */
export const VK_EVENT_RECEIVE_KIND: Record<string, ReceiveKind> = {
  message_new: 'messages',
  message_reply: 'messages',
  message_edit: 'messages',
  message_allow: 'messages',
  message_deny: 'messages',
  wall_reply_new: 'wallComments',
  wall_reply_edit: 'wallComments',
  wall_reply_delete: 'wallComments',
  wall_reply_restore: 'wallComments',
  photo_comment_new: 'photoComments',
  photo_comment_edit: 'photoComments',
  photo_comment_delete: 'photoComments',
  photo_comment_restore: 'photoComments',
  video_comment_new: 'videoComments',
  video_comment_edit: 'videoComments',
  video_comment_delete: 'videoComments',
  video_comment_restore: 'videoComments',
  board_post_new: 'boardComments',
  board_post_edit: 'boardComments',
  board_post_delete: 'boardComments',
  board_post_restore: 'boardComments',
  lead_forms_new: 'leadForms',
};

/** VK peer ids from 2e9 up are group chats (`2000000000 + chat_id`); taskwire handles private dialogs only. */
export const VK_GROUP_CHAT_PEER_MIN = 2_000_000_000;

export interface VkCallbackBase {
  /** Community id (positive), as VK sends it in the body. */
  groupId: number;
  /** The `secret` field of the body, when VK sent one; the caller compares it with the channel's. */
  secret?: string;
}

export interface VkConfirmationCallback extends VkCallbackBase {
  type: 'confirmation';
}

export interface VkConversationCallback extends VkCallbackBase {
  type: 'conversation';
  eventId: string;
  /** VK event type (`message_new`...), for logs. */
  eventType: string;
  /** The person's VK user id: the conversation is `(channel, peerId)`. */
  peerId: string;
  event: ConversationEvent;
  receiveKind: 'messages';
}

/** A comment under a community publication (wall post, photo, video, board topic): one workflow per publication. */
export interface VkPublicationCallback extends VkCallbackBase {
  type: 'publication';
  eventId: string;
  /** VK event type (`wall_reply_new`...), for logs. */
  eventType: string;
  /** The publication the comment belongs to: the workflow is `(channel, publication)`. */
  publication: PublicationRef;
  event: PublicationCommentEvent;
  receiveKind: VkPublicationReceiveKind;
}

/** A lead form submission (`lead_forms_new`). */
export interface VkLeadCallback extends VkCallbackBase {
  type: 'lead';
  eventId: string;
  eventType: string;
  lead: LeadEvent;
  receiveKind: 'leadForms';
}

export interface VkIgnoredCallback extends VkCallbackBase {
  type: 'ignored';
  eventId?: string;
  eventType: string;
  /** Why nothing is done: for logs and metrics. */
  reason: 'group_chat' | 'own_message_edit' | 'unsupported_type';
  /** The settings switch the event type belongs to, when it has one. */
  receiveKind?: ReceiveKind;
}

/** A routed Callback body. */
export type VkCallback = VkConfirmationCallback | VkConversationCallback | VkPublicationCallback | VkLeadCallback | VkIgnoredCallback;

export interface ParseVkCallbackOptions {
  /**
   * Time the body was received; used as `occurredAt` of events whose payload has no date
   * (message_allow/deny, comment deletions, lead forms).
   */
  receivedAt?: Date;
}

/** The routed event's community and `event_id` (the de-duplication key), for the per-kind parsers. */
export interface VkEventContext {
  groupId: number;
  eventId: string;
}

/** `schema` applied to `value`, or a `VkCallbackError` naming the first bad field below `prefix`. */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, prefix: string): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = firstIssue(r.error, prefix, 'body');
  throw new VkCallbackError(issue.path, issue.message);
}
