/**
 * A VK message, comment or post as one readable text plus its files: mention markup rendered,
 * attachments collected (attachments.ts), quoted and forwarded messages quoted with "> ".
 */
import { z } from 'zod';
import type { MediaRef } from '../../workflows/shared/types.js';
import { MAX_UNIX_SECONDS, quote, unixToIso } from '../text.js';
import { describeAttachment } from './attachments.js';

export const unixSeconds = z.number().nonnegative().max(MAX_UNIX_SECONDS, 'must be a Unix time in seconds');

/** The content fields every VK message shape shares (top-level, forwarded, quoted). */
export const messageContentFields = {
  text: z.string().optional().default(''),
  attachments: z.array(z.unknown()).optional().default([]),
  fwd_messages: z.array(z.unknown()).optional().default([]),
  reply_message: z.unknown().optional(),
  geo: z.unknown().optional(),
  is_cropped: z.boolean().optional(),
};

/** Forwarded / quoted messages: parsed leniently, one by one; a broken one is skipped, never fatal. */
export const foreignMessageSchema = z.object({
  id: z.number().optional(),
  // Quoted and forwarded messages are rendered leniently: an impossible date is left out.
  date: unixSeconds.optional().catch(undefined),
  from_id: z.number().optional(),
  ...messageContentFields,
});

const geoSchema = z.object({ coordinates: z.object({ latitude: z.number(), longitude: z.number() }) });

/** What rendering reads of a message. */
export interface VkContent {
  text?: string;
  attachments?: unknown[];
  fwd_messages?: unknown[];
  reply_message?: unknown;
  geo?: unknown;
  is_cropped?: boolean | undefined;
}

export interface Rendered {
  text: string;
  media: MediaRef[];
}

const MAX_DEPTH = 5;
const MAX_MEDIA = 50;

/**
 * The message as one readable text plus its files. The person's own text comes first (task titles
 * are taken from it); links, the quoted message and forwarded messages follow, quoted with "> ".
 * Files of forwarded messages are new content and are attached; the quoted (reply) message is
 * already in the conversation, so its files are only named.
 */
export function renderMessage(msg: VkContent): Rendered {
  const media: MediaRef[] = [];
  const text = renderBody(msg, media, 0, true);
  return { text, media };
}

/**
 * A VK text with its attachments (a comment, a post): mention markup rendered, links appended,
 * files collected as in private messages.
 */
export function renderVkContent(text: string, attachments: unknown[]): Rendered {
  return renderMessage({ text, attachments });
}

/** Mention markup `[id123|Anna]`, `[club456|Shop]`, `[public7|x]` → the shown name. */
export function renderVkText(text: string): string {
  return text.replace(/\[((?:id|club|public|event)\d+)\|([^\]]*)\]/g, (_m, _ref: string, name: string) => name);
}

function renderBody(msg: VkContent, media: MediaRef[], depth: number, collectMedia: boolean): string {
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
      const inner = renderBody(r.data, media, depth + 1, false);
      blocks.push(`In reply to message from ${authorRef(r.data.from_id)}${dateSuffix(r.data.date)}:\n${quote(inner)}`);
    }
  }
  for (const raw of msg.fwd_messages ?? []) {
    const f = foreignMessageSchema.safeParse(raw);
    if (!f.success) continue;
    const inner = renderBody(f.data, media, depth + 1, collectMedia);
    blocks.push(`Forwarded message from ${authorRef(f.data.from_id)}${dateSuffix(f.data.date)}:\n${quote(inner)}`);
  }
  return blocks.join('\n\n');
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
