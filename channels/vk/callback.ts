/**
 * VK Callback API bodies → taskwire events (reference: shared/reference/vk-api.md §2–§4).
 *
 * Pure parsing, no I/O: the webhook route parses, checks `group_id` + `secret` against the
 * channel, and hands `event` to the conversation workflow keyed by `peerId` (private messages),
 * to the publication workflow keyed by `publication` (wall / photo / video / board comments), or
 * starts the lead workflow (`lead_forms_new`). Unknown event types,
 * unknown fields and unknown attachment kinds never reject a body (VK adds them over time); only a
 * body we cannot route (no object, no group_id, no type, a message event without its message)
 * throws `VkCallbackError`, which the API answers with 400. The same goes for a comment or lead
 * event without the ids it is routed by.
 */
import { z } from 'zod';
import type { ChannelSettings } from '../../db/schema.js';
import type {
  ConversationEvent,
  LeadEvent,
  MediaRef,
  PublicationCommentEvent,
  PublicationKind,
  PublicationRef,
} from '../../workflows/shared/types.js';

/** A Callback body we cannot route. `field` names the offending field (dotted path). */
export class VkCallbackError extends Error {
  constructor(
    readonly field: string,
    readonly detail: string,
  ) {
    super(`invalid VK callback body: ${field}: ${detail}`);
    this.name = 'VkCallbackError';
  }
}

type ReceiveKind = keyof ChannelSettings['receive'];
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

interface VkCallbackBase {
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

// ---------------------------------------------------------------------------------------------
// Schemas. z.object strips unknown keys rather than rejecting them: VK adds fields regularly.

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

const flag = z.union([z.number(), z.boolean()]).optional();

/** Latest Unix time (seconds) taken: 9999-12-31T23:59:59Z; beyond it there is no ISO date to store. */
const MAX_UNIX_SECONDS = 253_402_300_799;
const unixSeconds = z.number().nonnegative().max(MAX_UNIX_SECONDS, 'must be a Unix time in seconds');

/** The fields of a top-level Message taskwire relies on (message_new `object.message`, message_reply/edit `object`). */
const messageSchema = z.object({
  id: z.number().int().nonnegative(),
  date: unixSeconds,
  peer_id: z.number().int(),
  from_id: z.number().int(),
  text: z.string().optional().default(''),
  out: flag,
  conversation_message_id: z.number().int().optional(),
  random_id: z.number().int().optional(),
  update_time: unixSeconds.optional(),
  admin_author_id: z.number().int().optional(),
  attachments: z.array(z.unknown()).optional().default([]),
  fwd_messages: z.array(z.unknown()).optional().default([]),
  reply_message: z.unknown().optional(),
  geo: z.unknown().optional(),
  is_cropped: z.boolean().optional(),
});
type VkMessage = z.infer<typeof messageSchema>;

/** Forwarded / quoted messages: parsed leniently, one by one; a broken one is skipped, never fatal. */
const foreignMessageSchema = z.object({
  id: z.number().optional(),
  // Quoted and forwarded messages are rendered leniently: an impossible date is left out.
  date: unixSeconds.optional().catch(undefined),
  from_id: z.number().optional(),
  text: z.string().optional().default(''),
  attachments: z.array(z.unknown()).optional().default([]),
  fwd_messages: z.array(z.unknown()).optional().default([]),
  reply_message: z.unknown().optional(),
  geo: z.unknown().optional(),
  is_cropped: z.boolean().optional(),
});
type ForeignMessage = z.infer<typeof foreignMessageSchema>;

const permissionSchema = z.object({ user_id: z.number().int().positive() });

const imageSchema = z.object({
  url: z.string().min(1),
  width: z.coerce.number().optional().catch(undefined),
  height: z.coerce.number().optional().catch(undefined),
});
type VkImage = z.infer<typeof imageSchema>;

const photoSchema = z.object({
  id: z.number(),
  owner_id: z.number(),
  sizes: z.array(z.unknown()).optional().default([]),
  orig_photo: z.unknown().optional(),
});
const docSchema = z.object({
  id: z.number(),
  owner_id: z.number(),
  title: z.string().optional().default(''),
  ext: z.string().optional().default(''),
  url: z.string().min(1),
  type: z.number().optional(),
});
const audioMessageSchema = z.object({
  id: z.number(),
  owner_id: z.number().optional(),
  link_mp3: z.string().optional(),
  link_ogg: z.string().optional(),
});
const stickerSchema = z.object({
  sticker_id: z.number().optional(),
  product_id: z.number().optional(),
  images: z.array(z.unknown()).optional().default([]),
  images_with_background: z.array(z.unknown()).optional().default([]),
});
const videoSchema = z.object({ id: z.number(), owner_id: z.number(), title: z.string().optional() });
const audioSchema = z.object({
  id: z.number(),
  owner_id: z.number(),
  artist: z.string().optional().default(''),
  title: z.string().optional().default(''),
  url: z.string().optional().default(''),
});
const graffitiSchema = z.object({ id: z.number(), owner_id: z.number(), url: z.string().min(1) });
const linkSchema = z.object({ url: z.string().min(1), title: z.string().optional() });
const wallSchema = z.object({ id: z.number(), to_id: z.number().optional(), owner_id: z.number().optional() });
const wallReplySchema = z.object({ id: z.number(), owner_id: z.number(), post_id: z.number() });
const marketSchema = z.object({ id: z.number(), owner_id: z.number(), title: z.string().optional() });
const geoSchema = z.object({ coordinates: z.object({ latitude: z.number(), longitude: z.number() }) });

const int = z.number().int();
const optionalInt = z.number().int().optional();

/**
 * Comment events (§3.5). new/edit/restore carry the comment object plus the location fields;
 * delete events carry ids only. Location owner fields are all optional here: which one a kind
 * uses (and its sign) varies, see `ownerOf`.
 */
const commentSchema = z.object({
  id: int.positive(),
  from_id: int,
  date: unixSeconds,
  text: z.string().optional().default(''),
  attachments: z.array(z.unknown()).optional().default([]),
  reply_to_comment: optionalInt,
  parents_stack: z.array(z.number()).optional().catch(undefined),
});
const commentDeleteSchema = z.object({
  id: int.positive(),
  deleter_id: optionalInt,
  user_id: optionalInt,
});
const ownerFieldsSchema = z.object({
  owner_id: optionalInt,
  post_owner_id: optionalInt,
  photo_owner_id: optionalInt,
  video_owner_id: optionalInt,
  topic_owner_id: optionalInt,
});

interface PublicationEventSpec {
  kind: PublicationKind;
  receiveKind: VkPublicationReceiveKind;
  /** Field with the post / photo / video / topic id. */
  itemField: string;
  /** Owner id fields, in order of preference (delete events of photos / videos use `owner_id`). */
  ownerFields: Array<keyof z.infer<typeof ownerFieldsSchema>>;
}

/** Per event-type prefix: the publication kind, the settings switch, and where the ids are. */
const PUBLICATION_EVENTS: Record<string, PublicationEventSpec> = {
  wall_reply: { kind: 'wall', receiveKind: 'wallComments', itemField: 'post_id', ownerFields: ['owner_id', 'post_owner_id'] },
  photo_comment: { kind: 'photo', receiveKind: 'photoComments', itemField: 'photo_id', ownerFields: ['photo_owner_id', 'owner_id'] },
  video_comment: { kind: 'video', receiveKind: 'videoComments', itemField: 'video_id', ownerFields: ['video_owner_id', 'owner_id'] },
  board_post: { kind: 'topic', receiveKind: 'boardComments', itemField: 'topic_id', ownerFields: ['topic_owner_id', 'owner_id'] },
};
const PUBLICATION_EVENT_TYPE = /^(wall_reply|photo_comment|video_comment|board_post)_(new|edit|delete|restore)$/;

/** `lead_forms_new` (§3.6). How multi-choice answers arrive is unconfirmed: answers are read leniently. */
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

// ---------------------------------------------------------------------------------------------

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
  const ctx: Ctx = { groupId: envelope.group_id, eventId };
  const receivedAt = options.receivedAt ?? new Date();

  if (receiveKind === 'leadForms') {
    if (eventType !== 'lead_forms_new') return ignored('unsupported_type');
    return { type: 'lead', ...base, eventId, eventType, lead: parseLead(object, receivedAt), receiveKind: 'leadForms' };
  }
  if (receiveKind !== 'messages') {
    const m = PUBLICATION_EVENT_TYPE.exec(eventType);
    const spec = m ? PUBLICATION_EVENTS[m[1]!] : undefined;
    if (!m || !spec) return ignored('unsupported_type');
    const { publication, event } = parsePublicationComment(ctx, spec, m[2] as PublicationCommentEvent['action'], object, receivedAt);
    return { type: 'publication', ...base, eventId, eventType, publication, event, receiveKind: spec.receiveKind };
  }
  const routed = (peerId: number, event: ConversationEvent): VkConversationCallback => ({
    type: 'conversation',
    ...base,
    eventId,
    eventType,
    peerId: String(peerId),
    event,
    receiveKind: 'messages',
  });

  switch (eventType) {
    case 'message_new': {
      const raw = (object as Record<string, unknown>).message;
      if (raw === undefined) throw new VkCallbackError('object.message', 'required');
      const msg = parseWith(messageSchema, raw, 'object.message');
      if (isGroupChat(msg.peer_id)) return ignored('group_chat');
      // message_new is incoming by definition; should VK ever deliver an outgoing one here, it is
      // treated like message_reply (same message key, so the pair de-duplicates).
      if (isOut(msg)) return routed(msg.peer_id, observedOutgoing(ctx, msg));
      return routed(msg.peer_id, inboundMessage(ctx, msg));
    }
    case 'message_reply': {
      // §3.2: bare Message, always outgoing (admin in VK, a mailing tool, or our own messages.send).
      const msg = parseWith(messageSchema, object, 'object');
      if (isGroupChat(msg.peer_id)) return ignored('group_chat');
      return routed(msg.peer_id, observedOutgoing(ctx, msg));
    }
    case 'message_edit': {
      const msg = parseWith(messageSchema, object, 'object');
      if (isGroupChat(msg.peer_id)) return ignored('group_chat');
      // The community editing its own message (in VK or through our messages.edit) is not a
      // customer edit; whether VK sends these at all is unconfirmed (§3.2).
      if (isOut(msg)) return ignored('own_message_edit');
      return routed(msg.peer_id, inboundEdit(ctx, msg));
    }
    case 'message_allow':
    case 'message_deny': {
      const p = parseWith(permissionSchema, object, 'object');
      // No date in these payloads: the time of receipt stands in for it.
      const occurredAt = receivedAt.toISOString();
      return routed(p.user_id, {
        type: 'permission',
        keys: [`vk-event:${eventId}`],
        occurredAt,
        allowed: eventType === 'message_allow',
      });
    }
    default:
      // Other message_* types (message_event, message_typing_state, message_read...).
      return ignored('unsupported_type');
  }
}

// ---------------------------------------------------------------------------------------------
// Events

interface Ctx {
  groupId: number;
  eventId: string;
}

function isGroupChat(peerId: number): boolean {
  return peerId >= VK_GROUP_CHAT_PEER_MIN;
}

function isOut(msg: VkMessage): boolean {
  return msg.out === 1 || msg.out === true;
}

/** Key of one VK message in one community: message_new and message_reply of the same message share it. */
function messageKey(ctx: Ctx, msg: VkMessage): string {
  if (msg.id > 0) return `vk-msg:${ctx.groupId}:${msg.id}`;
  return `vk-cmid:${ctx.groupId}:${msg.peer_id}:${msg.conversation_message_id ?? 0}`;
}

function inboundMessage(ctx: Ctx, msg: VkMessage): ConversationEvent {
  const { text, media } = renderMessage(msg, ctx);
  const replyTo = replyToId(msg.reply_message);
  return {
    type: 'inbound',
    keys: [`vk-event:${ctx.eventId}`, messageKey(ctx, msg)],
    occurredAt: unixToIso(msg.date),
    externalId: String(msg.id),
    text,
    media,
    ...(replyTo !== undefined ? { replyToExternalId: replyTo } : {}),
    externalUrl: dialogUrl(ctx.groupId, msg.peer_id),
  };
}

function observedOutgoing(ctx: Ctx, msg: VkMessage): ConversationEvent {
  const { text, media } = renderMessage(msg, ctx);
  return {
    type: 'observed_outgoing',
    keys: [`vk-event:${ctx.eventId}`, messageKey(ctx, msg)],
    occurredAt: unixToIso(msg.date),
    externalId: String(msg.id),
    // random_id 0 = the sender gave none (nothing to match our own sends against).
    ...(msg.random_id ? { sendKey: String(msg.random_id) } : {}),
    text,
    media,
    ...(msg.admin_author_id ? { senderRef: String(msg.admin_author_id) } : {}),
  };
}

function inboundEdit(ctx: Ctx, msg: VkMessage): ConversationEvent {
  const { text, media } = renderMessage(msg, ctx);
  const editedAtUnix = msg.update_time ?? msg.date;
  const editedAt = unixToIso(editedAtUnix);
  return {
    type: 'inbound_edit',
    keys: [`vk-event:${ctx.eventId}`, `vk-edit:${ctx.groupId}:${msg.id}:${editedAtUnix}`],
    occurredAt: editedAt,
    externalId: String(msg.id),
    text,
    media,
    editedAt,
  };
}

function replyToId(raw: unknown): string | undefined {
  if (raw === undefined || raw === null) return undefined;
  const r = foreignMessageSchema.safeParse(raw);
  if (!r.success || !r.data.id) return undefined;
  return String(r.data.id);
}

// ---------------------------------------------------------------------------------------------
// Publication comments and leads

/**
 * A comment event → the publication it belongs to and the comment event.
 *
 * Keys: `vk-event:<event_id>` (VK redelivery) and one logical key per change of one comment,
 * `vk-pub:<group>:<kind>:<owner>_<item>:<comment>:<action>`; edits and restores add the
 * comment's `date`, edits also a fingerprint of the new content: VK's `date` on an edit is the
 * comment's creation time, so without it a second edit of the same comment would be dropped.
 */
function parsePublicationComment(
  ctx: Ctx,
  spec: PublicationEventSpec,
  action: PublicationCommentEvent['action'],
  object: object,
  receivedAt: Date,
): { publication: PublicationRef; event: PublicationCommentEvent } {
  const raw = object as Record<string, unknown>;
  const itemId = parseWith(int.positive(), raw[spec.itemField], `object.${spec.itemField}`);
  const owners = parseWith(ownerFieldsSchema, raw, 'object');
  const ownerId = ownerOf(spec.ownerFields.map((f) => owners[f]), ctx.groupId);
  const publication: PublicationRef = { kind: spec.kind, ownerId, itemId };
  const logicalKey = `vk-pub:${ctx.groupId}:${spec.kind}:${ownerId}_${itemId}`;

  if (action === 'delete') {
    const d = parseWith(commentDeleteSchema, raw, 'object');
    const commentId = String(d.id);
    const by = d.deleter_id ?? d.user_id;
    return {
      publication,
      event: {
        type: 'publication_comment',
        action,
        keys: [`vk-event:${ctx.eventId}`, `${logicalKey}:${commentId}:delete`],
        // Delete events carry no date.
        occurredAt: receivedAt.toISOString(),
        commentId,
        fromId: by !== undefined ? String(by) : '',
        text: '',
        media: [],
        externalUrl: vkCommentUrl(publication, commentId),
      },
    };
  }

  const c = parseWith(commentSchema, raw, 'object');
  const commentId = String(c.id);
  const { text, media } = renderVkContent(c.text, c.attachments, ctx.groupId);
  let key = `${logicalKey}:${commentId}:${action}`;
  if (action === 'edit') key += `:${c.date}:${fingerprint(text, media)}`;
  else if (action === 'restore') key += `:${c.date}`;
  const root = spec.kind === 'wall' ? c.parents_stack?.[0] : undefined;
  const event: PublicationCommentEvent = {
    type: 'publication_comment',
    action,
    keys: [`vk-event:${ctx.eventId}`, key],
    occurredAt: unixToIso(c.date),
    commentId,
    fromId: String(c.from_id),
    text,
    media,
    externalUrl: vkCommentUrl(publication, commentId, root !== undefined ? String(root) : undefined),
  };
  if (c.reply_to_comment !== undefined && c.reply_to_comment > 0) event.replyToCommentId = String(c.reply_to_comment);
  return { publication, event };
}

/**
 * The publication's owner id: negative (a community), whatever sign the field has (§3.5 conflict:
 * some owner ids arrive positive). The first non-zero candidate wins; when none is present the
 * Callback's own community is the owner (it only reports events on its own publications).
 */
function ownerOf(candidates: Array<number | undefined>, groupId: number): number {
  for (const c of candidates) if (c !== undefined && c !== 0) return -Math.abs(c);
  return -groupId;
}

/** A short stable hash (FNV-1a, hex) of a comment's content, to tell its edits apart. */
function fingerprint(text: string, media: MediaRef[]): string {
  const s = [text, ...media.map((m) => m.url ?? m.mediaId ?? '')].join('\u0000');
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

function parseLead(object: object, receivedAt: Date): LeadEvent {
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

/** Link to a publication in VK (§9). */
export function vkPublicationUrl(ref: PublicationRef): string {
  const id = `${ref.ownerId}_${ref.itemId}`;
  switch (ref.kind) {
    case 'wall':
      return `https://vk.com/wall${id}`;
    case 'photo':
      return `https://vk.com/photo${id}`;
    case 'video':
      return `https://vk.com/video${id}`;
    case 'topic':
      return `https://vk.com/topic${id}`;
  }
}

/**
 * Direct link to a comment (§9): wall `?reply=<id>` (plus `&thread=<root>` inside a thread, root =
 * `parents_stack[0]`), topic `?post=<id>`. Photos and videos have no documented comment anchor:
 * the publication's link.
 */
export function vkCommentUrl(ref: PublicationRef, commentId: string, threadRootId?: string): string {
  const base = vkPublicationUrl(ref);
  switch (ref.kind) {
    case 'wall': {
      const thread = threadRootId && threadRootId !== commentId ? `&thread=${encodeURIComponent(threadRootId)}` : '';
      return `${base}?reply=${encodeURIComponent(commentId)}${thread}`;
    }
    case 'topic':
      return `${base}?post=${encodeURIComponent(commentId)}`;
    default:
      return base;
  }
}

/**
 * A VK text with its attachments (a comment, a post): mention markup rendered, links appended,
 * files collected as in private messages.
 */
export function renderVkContent(text: string, attachments: unknown[], groupId: number): { text: string; media: MediaRef[] } {
  return renderMessage({ text, attachments, fwd_messages: [] }, { groupId, eventId: '' });
}

// ---------------------------------------------------------------------------------------------
// Text and media rendering

const MAX_DEPTH = 5;
const MAX_MEDIA = 50;

interface Rendered {
  text: string;
  media: MediaRef[];
}

/**
 * The message as one readable text plus its files. The person's own text comes first (task titles
 * are taken from it); links, the quoted message and forwarded messages follow, quoted with "> ".
 * Files of forwarded messages are new content and are attached; the quoted (reply) message is
 * already in the conversation, so its files are only named.
 */
function renderMessage(msg: VkMessage | ForeignMessage, ctx: Ctx): Rendered {
  const media: MediaRef[] = [];
  const text = renderBody(msg, ctx, media, 0, true);
  return { text, media };
}

function renderBody(
  msg: VkMessage | ForeignMessage,
  ctx: Ctx,
  media: MediaRef[],
  depth: number,
  collectMedia: boolean,
): string {
  const blocks: string[] = [];
  const own = renderVkText(msg.text ?? '').trim();
  const lines: string[] = own ? [own] : [];

  for (const raw of msg.attachments ?? []) {
    const a = describeAttachment(raw);
    if (a.media && collectMedia && media.length < MAX_MEDIA) media.push(a.media);
    else if (a.media) lines.push(a.placeholder);
    if (a.line) lines.push(a.line);
  }
  const geo = geoSchema.safeParse(msg.geo);
  if (geo.success) lines.push(`[location: ${geo.data.coordinates.latitude}, ${geo.data.coordinates.longitude}]`);
  if (msg.is_cropped) lines.push('[message shortened by VK]');
  if (lines.length) blocks.push(lines.join('\n'));

  if (depth >= MAX_DEPTH) {
    if ((msg.fwd_messages?.length ?? 0) > 0 || msg.reply_message) blocks.push('[more quoted messages]');
    return blocks.join('\n\n');
  }

  if (msg.reply_message !== undefined && msg.reply_message !== null) {
    const r = foreignMessageSchema.safeParse(msg.reply_message);
    if (r.success) {
      const inner = renderBody(r.data, ctx, media, depth + 1, false);
      blocks.push(`In reply to message from ${authorRef(r.data.from_id)}${dateSuffix(r.data.date)}:\n${quote(inner)}`);
    }
  }
  for (const raw of msg.fwd_messages ?? []) {
    const f = foreignMessageSchema.safeParse(raw);
    if (!f.success) continue;
    const inner = renderBody(f.data, ctx, media, depth + 1, collectMedia);
    blocks.push(`Forwarded message from ${authorRef(f.data.from_id)}${dateSuffix(f.data.date)}:\n${quote(inner)}`);
  }
  return blocks.join('\n\n');
}

function quote(text: string): string {
  if (!text) return '> ';
  return text
    .split('\n')
    .map((l) => (l ? `> ${l}` : '>'))
    .join('\n');
}

/** VK's own notation: `id123` for people, `club456` for communities. */
function authorRef(fromId: number | undefined): string {
  if (fromId === undefined || fromId === 0) return 'unknown sender';
  return fromId > 0 ? `id${fromId}` : `club${-fromId}`;
}

function dateSuffix(date: number | undefined): string {
  if (!date) return '';
  const iso = unixToIso(date);
  return ` (${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC)`;
}

/** Mention markup `[id123|Anna]`, `[club456|Shop]`, `[public7|x]` → the shown name. */
export function renderVkText(text: string): string {
  return text.replace(/\[((?:id|club|public|event)\d+)\|([^\]]*)\]/g, (_m, _ref: string, name: string) => name);
}

interface DescribedAttachment {
  media?: MediaRef;
  /** Shown instead of the file where files are not collected (quoted messages). */
  placeholder: string;
  /** Extra text line (links, things that are not files). */
  line?: string;
}

function describeAttachment(raw: unknown): DescribedAttachment {
  const head = z.object({ type: z.string() }).safeParse(raw);
  if (!head.success) return { placeholder: '', line: '[attachment]' };
  const type = head.data.type;
  const payload = (raw as Record<string, unknown>)[type];
  const unknownKind: DescribedAttachment = { placeholder: '', line: `[${type.replace(/_/g, ' ')}]` };

  switch (type) {
    case 'photo': {
      const p = photoSchema.safeParse(payload);
      if (!p.success) return unknownKind;
      const orig = imageSchema.safeParse(p.data.orig_photo);
      const best = orig.success ? orig.data : largestImage(p.data.sizes);
      if (!best) return unknownKind;
      return {
        media: { kind: 'image', url: best.url, filename: `photo${p.data.owner_id}_${p.data.id}.jpg`, mimeType: 'image/jpeg' },
        placeholder: '[photo]',
      };
    }
    case 'doc': {
      const d = docSchema.safeParse(payload);
      if (!d.success) return unknownKind;
      const ext = d.data.ext.toLowerCase();
      let filename = d.data.title.trim() || `doc${d.data.owner_id}_${d.data.id}`;
      if (ext && !filename.toLowerCase().endsWith(`.${ext}`)) filename += `.${ext}`;
      const kind: MediaRef['kind'] =
        d.data.type === 3 || d.data.type === 4 ? 'image' : d.data.type === 5 ? 'audio' : d.data.type === 6 ? 'video' : 'document';
      return {
        media: { kind, url: d.data.url, filename, mimeType: mimeFromExtension(ext) },
        placeholder: `[document: ${filename}]`,
      };
    }
    case 'audio_message': {
      const v = audioMessageSchema.safeParse(payload);
      if (!v.success) return unknownKind;
      if (v.data.link_mp3) {
        return {
          media: { kind: 'voice', url: v.data.link_mp3, filename: `voice-${v.data.id}.mp3`, mimeType: 'audio/mpeg' },
          placeholder: '[voice message]',
        };
      }
      if (v.data.link_ogg) {
        return {
          media: { kind: 'voice', url: v.data.link_ogg, filename: `voice-${v.data.id}.ogg`, mimeType: 'audio/ogg' },
          placeholder: '[voice message]',
        };
      }
      return { placeholder: '', line: '[voice message]' };
    }
    case 'sticker': {
      const s = stickerSchema.safeParse(payload);
      if (!s.success) return unknownKind;
      const best = largestImage(s.data.images) ?? largestImage(s.data.images_with_background);
      if (!best) return { placeholder: '', line: '[sticker]' };
      const name = s.data.sticker_id !== undefined ? `sticker-${s.data.sticker_id}.png` : 'sticker.png';
      return { media: { kind: 'sticker', url: best.url, filename: name, mimeType: 'image/png' }, placeholder: '[sticker]' };
    }
    case 'video': {
      const v = videoSchema.safeParse(payload);
      if (!v.success) return unknownKind;
      // §4: no file URL with a community token; the link is shown instead.
      const url = `https://vk.com/video${v.data.owner_id}_${v.data.id}`;
      const media: MediaRef = { kind: 'video', url, linkOnly: true };
      if (v.data.title) media.filename = v.data.title;
      return { media, placeholder: `[video: ${url}]` };
    }
    case 'audio': {
      const a = audioSchema.safeParse(payload);
      if (!a.success) return unknownKind;
      const name = [a.data.artist, a.data.title].filter(Boolean).join(' - ') || `audio${a.data.owner_id}_${a.data.id}`;
      if (!a.data.url) return { placeholder: '', line: `[audio: ${name}]` };
      return {
        media: { kind: 'audio', url: a.data.url, filename: `${name}.mp3`, mimeType: 'audio/mpeg' },
        placeholder: `[audio: ${name}]`,
      };
    }
    case 'graffiti': {
      const g = graffitiSchema.safeParse(payload);
      if (!g.success) return unknownKind;
      return {
        media: { kind: 'image', url: g.data.url, filename: `graffiti${g.data.owner_id}_${g.data.id}.png`, mimeType: 'image/png' },
        placeholder: '[graffiti]',
      };
    }
    case 'link': {
      const l = linkSchema.safeParse(payload);
      if (!l.success) return unknownKind;
      return { placeholder: '', line: l.data.url };
    }
    case 'wall': {
      const w = wallSchema.safeParse(payload);
      const owner = w.success ? (w.data.to_id ?? w.data.owner_id) : undefined;
      if (!w.success || owner === undefined) return unknownKind;
      return { placeholder: '', line: `https://vk.com/wall${owner}_${w.data.id}` };
    }
    case 'wall_reply': {
      const w = wallReplySchema.safeParse(payload);
      if (!w.success) return unknownKind;
      return { placeholder: '', line: `https://vk.com/wall${w.data.owner_id}_${w.data.post_id}?reply=${w.data.id}` };
    }
    case 'market': {
      const m = marketSchema.safeParse(payload);
      if (!m.success) return unknownKind;
      return { placeholder: '', line: `https://vk.com/product${m.data.owner_id}_${m.data.id}` };
    }
    default:
      return unknownKind;
  }
}

/** The image with the largest area; the last one when sizes are unknown (§4: width/height may be 0). */
function largestImage(items: unknown[]): VkImage | undefined {
  let best: VkImage | undefined;
  let bestArea = -1;
  let last: VkImage | undefined;
  for (const raw of items) {
    const r = imageSchema.safeParse(raw);
    if (!r.success) continue;
    last = r.data;
    const area = (r.data.width ?? 0) * (r.data.height ?? 0);
    if (Number.isFinite(area) && area > bestArea) {
      best = r.data;
      bestArea = area;
    }
  }
  return bestArea > 0 ? best : last;
}

const MIME_BY_EXT: Record<string, string> = {
  pdf: 'application/pdf',
  doc: 'application/msword',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  xls: 'application/vnd.ms-excel',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  ppt: 'application/vnd.ms-powerpoint',
  pptx: 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
  odt: 'application/vnd.oasis.opendocument.text',
  ods: 'application/vnd.oasis.opendocument.spreadsheet',
  rtf: 'application/rtf',
  txt: 'text/plain',
  csv: 'text/csv',
  json: 'application/json',
  xml: 'application/xml',
  html: 'text/html',
  htm: 'text/html',
  epub: 'application/epub+zip',
  fb2: 'application/x-fictionbook+xml',
  djvu: 'image/vnd.djvu',
  zip: 'application/zip',
  rar: 'application/vnd.rar',
  '7z': 'application/x-7z-compressed',
  gz: 'application/gzip',
  tar: 'application/x-tar',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
  webp: 'image/webp',
  bmp: 'image/bmp',
  heic: 'image/heic',
  tif: 'image/tiff',
  tiff: 'image/tiff',
  svg: 'image/svg+xml',
  mp3: 'audio/mpeg',
  ogg: 'audio/ogg',
  opus: 'audio/ogg',
  oga: 'audio/ogg',
  wav: 'audio/wav',
  m4a: 'audio/mp4',
  aac: 'audio/aac',
  flac: 'audio/flac',
  mp4: 'video/mp4',
  mov: 'video/quicktime',
  avi: 'video/x-msvideo',
  mkv: 'video/x-matroska',
  webm: 'video/webm',
  '3gp': 'video/3gpp',
};

/** MIME type of a file extension (without the dot); `application/octet-stream` when unknown. */
export function mimeFromExtension(ext: string): string {
  return MIME_BY_EXT[ext.toLowerCase().replace(/^\./, '')] ?? 'application/octet-stream';
}

/** Link to the dialog in the community's inbox, for agents (§9). */
export function dialogUrl(groupId: number, peerId: number | string): string {
  return `https://vk.com/gim${groupId}?sel=${peerId}`;
}

function unixToIso(seconds: number): string {
  return new Date(Math.round(seconds * 1000)).toISOString();
}

function parseWith<S extends z.ZodType>(schema: S, value: unknown, prefix: string): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = [prefix, ...(issue?.path ?? []).map(String)].filter(Boolean).join('.');
  throw new VkCallbackError(path || prefix || 'body', issue?.message ?? 'invalid');
}
