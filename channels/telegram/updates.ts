/**
 * One Telegram webhook `Update` → one taskwire item (shared/reference/telegram-bot-api.md, "Webhook",
 * "Message"). Pure parsing, no I/O; the route checks `X-Telegram-Bot-Api-Secret-Token` first.
 *
 * - `message` in a private chat → an `inbound` event; `edited_message` → `inbound_edit`;
 * - `my_chat_member` in a private chat: `kicked` (the person blocked the bot) → permission denied,
 *   `member` (unblocked / started again) → allowed;
 * - groups, supergroups, channels and every other update kind → `ignored`, with the reason.
 *
 * The conversation's peer is the chat id (in a private chat it equals the person's user id).
 * De-duplication keys: `tg-update:<update_id>` (unique per bot; Telegram redelivers the same update
 * until it gets a 2xx) and, for messages, `tg-msg:<chat id>:<message_id>`.
 *
 * Only a body that cannot be routed (not an object, no `update_id`, a message without chat, id or
 * date) throws `TelegramUpdateError`. Note for the route: Telegram retries a refused update for a day
 * and holds the bot's later updates meanwhile, so an authenticated update should not be refused
 * lightly. Unknown message content is never dropped: it reaches the agent as a placeholder text.
 */
import { z } from 'zod';
import type { ConversationEvent, MediaRef } from '../../workflows/shared/types.js';
import { isObject } from '../http.js';

/** A body we cannot route. `field` names the offending field (dotted path, e.g. `message.chat.id`). */
/** taskwire's id of a Telegram message: `<chat id>:<message id>` (Telegram numbers messages per chat). */
export function telegramMessageId(chatId: string | number, messageId: number): string {
  return `${chatId}:${messageId}`;
}

export class TelegramUpdateError extends Error {
  constructor(
    readonly field: string,
    readonly detail: string,
  ) {
    super(`invalid Telegram update: ${field}: ${detail}`);
    this.name = 'TelegramUpdateError';
  }
}

export type TelegramIgnoredReason =
  /** A group, supergroup or channel (detail: the chat type); taskwire answers private chats only. */
  | 'not_private'
  /** An update kind taskwire does not handle (detail: its field, e.g. `callback_query`). */
  | 'unsupported_update'
  /** `my_chat_member` with a status other than kicked / member (detail: old → new). */
  | 'chat_member_status';

export interface TelegramConversationItem {
  type: 'conversation';
  updateId: number;
  /** The chat id: the conversation is `(channel, peerId)`. */
  peerId: string;
  event: ConversationEvent;
}

export interface TelegramIgnoredItem {
  type: 'ignored';
  updateId: number;
  reason: TelegramIgnoredReason;
  detail?: string;
  peerId?: string;
}

export type TelegramUpdateItem = TelegramConversationItem | TelegramIgnoredItem;

export interface ParseUpdateOptions {
  /** Time the update was received: `occurredAt` when its own date is unreadable. */
  receivedAt?: Date;
}

// ---------------------------------------------------------------------------------------------
// Schemas. z.object strips unknown keys: Telegram adds fields with every Bot API version.
// File objects that do not parse become "not available" placeholders instead of refusing the update.

const fileSchema = z.object({
  file_id: z.string().min(1),
  file_unique_id: z.string().optional(),
  file_size: z.number().nonnegative().optional(),
  file_name: z.string().optional(),
  mime_type: z.string().optional(),
  is_animated: z.boolean().optional(),
  is_video: z.boolean().optional(),
  emoji: z.string().optional(),
});
type TgFileObject = z.infer<typeof fileSchema>;
const optionalFile = fileSchema.optional().catch(undefined);

const userSchema = z.object({
  id: z.number().int(),
  is_bot: z.boolean().optional(),
  first_name: z.string().optional(),
  last_name: z.string().optional(),
  username: z.string().optional(),
});

const chatSchema = z.object({
  id: z.number().int(),
  type: z.string().min(1),
  first_name: z.string().optional(),
  last_name: z.string().optional(),
  username: z.string().optional(),
});

const messageSchema = z.object({
  message_id: z.number().int().positive(),
  from: userSchema.optional().catch(undefined),
  chat: chatSchema,
  date: z.number().int(),
  edit_date: z.number().int().optional().catch(undefined),
  text: z.string().optional().catch(undefined),
  caption: z.string().optional().catch(undefined),
  reply_to_message: z.object({ message_id: z.number().int() }).optional().catch(undefined),
  forward_origin: z.unknown().optional(),
  photo: z.array(z.unknown()).optional().catch(undefined),
  document: optionalFile,
  animation: optionalFile,
  voice: optionalFile,
  audio: optionalFile,
  video: optionalFile,
  video_note: optionalFile,
  sticker: optionalFile,
  location: z.object({ latitude: z.number(), longitude: z.number() }).optional().catch(undefined),
  venue: z.object({ title: z.string().optional(), address: z.string().optional() }).optional().catch(undefined),
  contact: z
    .object({ phone_number: z.string(), first_name: z.string().optional(), last_name: z.string().optional(), user_id: z.number().optional() })
    .optional()
    .catch(undefined),
});
type TgMessage = z.infer<typeof messageSchema> & { raw: Record<string, unknown> };

const memberUpdateSchema = z.object({
  chat: chatSchema,
  date: z.number().int(),
  old_chat_member: z.object({ status: z.string() }).optional().catch(undefined),
  new_chat_member: z.object({ status: z.string() }),
});

/** Update fields that carry a message of a group or channel only. */
const CHANNEL_FIELDS = new Set(['channel_post', 'edited_channel_post']);

// ---------------------------------------------------------------------------------------------

/** Parse an already JSON-parsed webhook body (one `Update`). Throws `TelegramUpdateError`. */
export function parseUpdate(body: unknown, opts: ParseUpdateOptions = {}): TelegramUpdateItem {
  if (!isObject(body)) throw new TelegramUpdateError('body', 'expected a JSON object');
  const updateId = body.update_id;
  if (typeof updateId !== 'number' || !Number.isSafeInteger(updateId) || updateId < 0) {
    throw new TelegramUpdateError('update_id', 'expected a non-negative integer');
  }
  const ignored = (reason: TelegramIgnoredReason, detail: string, peerId?: string): TelegramIgnoredItem => ({
    type: 'ignored',
    updateId,
    reason,
    detail,
    ...(peerId ? { peerId } : {}),
  });
  const field = Object.keys(body).find((k) => k !== 'update_id' && body[k] !== undefined && body[k] !== null);
  if (!field) return ignored('unsupported_update', 'no update field');
  if (CHANNEL_FIELDS.has(field)) return ignored('not_private', `${field} (a channel)`);
  if (field !== 'message' && field !== 'edited_message' && field !== 'my_chat_member') return ignored('unsupported_update', field);

  const receivedAt = opts.receivedAt ?? new Date();
  const updateKey = `tg-update:${updateId}`;
  if (field === 'my_chat_member') {
    const m = strictParse(memberUpdateSchema, body[field], field);
    const peerId = String(m.chat.id);
    if (m.chat.type !== 'private') return ignored('not_private', `${field} in a ${m.chat.type} chat`, peerId);
    const status = m.new_chat_member.status;
    if (status !== 'kicked' && status !== 'member') {
      return ignored('chat_member_status', `${m.old_chat_member?.status ?? 'unknown'} → ${status}`, peerId);
    }
    const event: ConversationEvent = { type: 'permission', keys: [updateKey], occurredAt: toIso(m.date, receivedAt), allowed: status === 'member' };
    return { type: 'conversation', updateId, peerId, event };
  }

  const raw = body[field];
  const msg: TgMessage = { ...strictParse(messageSchema, raw, field), raw: raw as Record<string, unknown> };
  const peerId = String(msg.chat.id);
  if (msg.chat.type !== 'private') return ignored('not_private', `${field} in a ${msg.chat.type} chat`, peerId);
  const content = renderMessage(msg);
  // Message ids are numbered per chat: taskwire's id of a message names its chat too, so that it is
  // unique in the channel (delivery look-ups are by channel and message id).
  const externalId = telegramMessageId(peerId, msg.message_id);
  if (field === 'edited_message') {
    const editedAt = toIso(msg.edit_date ?? msg.date, receivedAt);
    const event: ConversationEvent = {
      type: 'inbound_edit',
      keys: [updateKey, `tg-edit:${externalId}:${msg.edit_date ?? updateId}`],
      occurredAt: editedAt,
      externalId,
      text: content.text,
      media: content.media,
      editedAt,
    };
    return { type: 'conversation', updateId, peerId, event };
  }
  const name = personName(msg.from ?? msg.chat);
  const event: ConversationEvent = {
    type: 'inbound',
    keys: [updateKey, `tg-msg:${externalId}`],
    occurredAt: toIso(msg.date, receivedAt),
    externalId,
    text: content.text,
    media: content.media,
    ...(name ? { profile: { name } } : {}),
    ...(msg.reply_to_message ? { replyToExternalId: telegramMessageId(peerId, msg.reply_to_message.message_id) } : {}),
  };
  return { type: 'conversation', updateId, peerId, event };
}

/** `first_name last_name` of a user (or of a private chat, when `from` is missing). */
export function personName(p: { first_name?: string | undefined; last_name?: string | undefined }): string | undefined {
  const name = [p.first_name, p.last_name].map((s) => s?.trim()).filter(Boolean).join(' ');
  return name || undefined;
}

function strictParse<T>(schema: z.ZodType<T>, value: unknown, field: string): T {
  if (!isObject(value)) throw new TelegramUpdateError(field, 'expected an object');
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = [field, ...(issue?.path ?? []).map(String)].join('.');
  throw new TelegramUpdateError(path, issue?.message ?? 'invalid');
}

// ---------------------------------------------------------------------------------------------
// Content

interface Rendered {
  text: string;
  media: MediaRef[];
}

/** How each Telegram file kind becomes a taskwire file: our kind, a default type and extension. */
const FILE_KINDS = {
  photo: { kind: 'image', mime: 'image/jpeg', ext: '.jpg', label: 'photo' },
  animation: { kind: 'video', mime: 'video/mp4', ext: '.mp4', label: 'animation' },
  document: { kind: 'document', mime: 'application/octet-stream', ext: '', label: 'document' },
  voice: { kind: 'voice', mime: 'audio/ogg', ext: '.ogg', label: 'voice message' },
  audio: { kind: 'audio', mime: 'audio/mpeg', ext: '.mp3', label: 'audio file' },
  video: { kind: 'video', mime: 'video/mp4', ext: '.mp4', label: 'video' },
  video_note: { kind: 'video', mime: 'video/mp4', ext: '.mp4', label: 'video message' },
  sticker: { kind: 'sticker', mime: 'image/webp', ext: '.webp', label: 'sticker' },
} as const satisfies Record<string, { kind: MediaRef['kind']; mime: string; ext: string; label: string }>;
type FileField = keyof typeof FILE_KINDS;

/** Fields a message's content may be in, in the order they are looked at; `animation` comes with a `document` copy. */
const CONTENT_FIELDS = ['text', 'caption', 'photo', 'animation', 'document', 'voice', 'audio', 'video', 'video_note', 'sticker', 'location', 'venue', 'contact'];

/** A message as one text (text or caption, then rendered location / contact / placeholders) plus its files. */
function renderMessage(msg: TgMessage): Rendered {
  const lines: string[] = [];
  const media: MediaRef[] = [];
  const body = msg.text ?? msg.caption ?? '';
  if (body) lines.push(body);

  const fileField = (['animation', 'document', 'voice', 'audio', 'video', 'video_note', 'sticker'] as const).find((f) => msg.raw[f] !== undefined);
  if (msg.raw.photo !== undefined) addFile(lines, media, 'photo', largestPhoto(msg.photo));
  else if (fileField) addFile(lines, media, fileField, msg[fileField]);

  if (msg.venue && msg.location) lines.push(renderPlace(msg.location, [msg.venue.title, msg.venue.address]));
  else if (msg.location) lines.push(renderPlace(msg.location, []));
  if (msg.contact) lines.push(renderContact(msg.contact));
  if (msg.forward_origin !== undefined) lines.push('[forwarded]');

  if (lines.length === 0 && media.length === 0) {
    const kinds = Object.keys(msg.raw).filter((k) => !CONTENT_FIELDS.includes(k) && !HEAD_FIELDS.has(k));
    lines.push(`[unsupported message${kinds.length ? `: ${kinds.join(', ')}` : ''}]`);
  }
  return { text: lines.join('\n'), media };
}

/** Message fields that are not content. */
const HEAD_FIELDS = new Set(['message_id', 'from', 'chat', 'date', 'edit_date', 'reply_to_message', 'forward_origin', 'entities', 'caption_entities', 'media_group_id', 'message_thread_id', 'has_protected_content', 'link_preview_options', 'sender_chat', 'author_signature', 'via_bot', 'quote', 'external_reply']);

/** `photo` lists the sizes of one picture, smallest first: the last one that parses is the largest. */
function largestPhoto(sizes: unknown[] | undefined): TgFileObject | undefined {
  for (let i = (sizes?.length ?? 0) - 1; i >= 0; i--) {
    const r = fileSchema.safeParse(sizes![i]);
    if (r.success) return r.data;
  }
  return undefined;
}

function addFile(lines: string[], media: MediaRef[], field: FileField, file: TgFileObject | undefined): void {
  const spec = FILE_KINDS[field];
  if (!file) {
    lines.push(`[${spec.label} not available]`);
    return;
  }
  let mimeType: string = file.mime_type?.trim().toLowerCase() || spec.mime;
  let ext: string = spec.ext;
  if (field === 'sticker' && file.is_video) [mimeType, ext] = ['video/webm', '.webm'];
  else if (field === 'sticker' && file.is_animated) [mimeType, ext] = ['application/x-tgsticker', '.tgs'];
  else if (mimeType !== spec.mime) ext = '';
  const id = file.file_unique_id || file.file_id.slice(-16);
  const filename = file.file_name?.trim() || `${field.replace('_', '-')}-${id}${ext}`;
  const ref: MediaRef = { kind: spec.kind, mediaId: file.file_id, mimeType, filename };
  if (file.file_size !== undefined) ref.size = file.file_size;
  media.push(ref);
  if (field === 'sticker' && file.emoji) lines.push(`[sticker ${file.emoji}]`);
}

function renderPlace(loc: { latitude: number; longitude: number }, names: Array<string | undefined>): string {
  const coords = `${loc.latitude},${loc.longitude}`;
  const head = names.map((n) => n?.trim()).filter((n): n is string => !!n);
  return [`Location: ${head.shift() ?? `${loc.latitude}, ${loc.longitude}`}`, ...head, `https://maps.google.com/?q=${coords}`].join('\n');
}

function renderContact(c: { phone_number: string; first_name?: string | undefined; last_name?: string | undefined; user_id?: number | undefined }): string {
  const lines = [`Contact: ${personName(c) ?? 'unnamed'}`, `Phone: ${c.phone_number}`];
  if (c.user_id !== undefined) lines.push(`Telegram user id: ${c.user_id}`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------

/** Unix seconds → ISO; unreadable or impossible → time of receipt. */
function toIso(seconds: number, receivedAt: Date): string {
  if (seconds > 0 && seconds <= 253_402_300_799) return new Date(seconds * 1000).toISOString();
  return receivedAt.toISOString();
}
