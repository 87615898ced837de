/**
 * WhatsApp messages as taskwire shows them (reference §3.2): one readable text plus the files to
 * download, for every message type, including those taskwire does not understand (a placeholder
 * naming the type, never dropped).
 */
import { z } from 'zod';
import type { MediaRef } from '../../workflows/shared/types.js';
import { arrayOrEmpty, isObject } from '../http.js';
import { GENERIC_MIME, extensionFor } from '../mime.js';
import { sanitizeFilename } from '../filenames.js';
import { phoneFromDigits } from '../phone.js';
import { errorText, readErrors } from './webhook-errors.js';
import { idLike, idString, num, str } from './webhook-types.js';

/** Longest Flow response JSON copied into a text. */
const MAX_FLOW_JSON = 2000;

/** The fields of an image / video / audio / document / sticker object taskwire reads (`animated` stickers are images all the same). */
const mediaSchema = z.object({ id: idLike, mime_type: z.string(), url: z.string(), caption: z.string(), filename: z.string(), voice: z.boolean() }).partial();

/** What rendering reads of a message: the object itself and the notes around its content. */
export interface RenderableMessage {
  raw: Record<string, unknown>;
  errors?: unknown[] | undefined;
  context?: { forwarded?: boolean | undefined; frequently_forwarded?: boolean | undefined } | undefined;
  referral?: unknown;
}

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
export function renderMessage(msg: RenderableMessage, type: string): Rendered {
  const rendered = renderContent(type, msg.raw, msg.errors);
  const notes: string[] = [];
  if (msg.context?.frequently_forwarded) notes.push('[forwarded many times]');
  else if (msg.context?.forwarded) notes.push('[forwarded]');
  const ad = renderReferral(msg.referral);
  if (ad) notes.push(ad);
  // `unsupported` and unknown types already name their errors in the placeholder.
  if (KNOWN_TYPES.has(type) && type !== 'unsupported') {
    for (const e of readErrors(msg.errors)) notes.push(`[WhatsApp error ${e.code ?? 'unknown'}: ${errorText(e)}]`);
  }
  const text = [rendered.text, ...notes].filter((l) => l !== '').join('\n');
  return { ...rendered, text };
}

const MEDIA_TYPES = new Set(['image', 'video', 'audio', 'document', 'sticker']);
const KNOWN_TYPES = new Set([...MEDIA_TYPES, 'text', 'location', 'contacts', 'interactive', 'button', 'order', 'revoke', 'unsupported']);

/** The content of one message object of `type` (inbound, echo, or the new version inside an edit). */
export function renderContent(type: string, m: Record<string, unknown>, errors?: unknown[]): Rendered {
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
  for (const e of readErrors(errors)) {
    const t = e.title || e.message;
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
  const mimeType = o.mime_type ?? DEFAULT_MIME[kind] ?? GENERIC_MIME;
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
      const waId = idString(ph.wa_id);
      const phone = str(ph.phone) ?? (waId ? phoneFromDigits(waId) : undefined);
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
