/**
 * VK attachments (reference §4) → a file taskwire downloads, a placeholder, or a line of text.
 * Unknown kinds and payloads that do not parse become a `[kind]` line, never an error.
 */
import { z } from 'zod';
import type { MediaRef } from '../../workflows/shared/types.js';
import { mimeFromExtension } from '../mime.js';
import { vkItemUrl } from './links.js';

const imageSchema = z.object({
  url: z.string().min(1),
  width: z.coerce.number().optional().catch(undefined),
  height: z.coerce.number().optional().catch(undefined),
});
type VkImage = z.infer<typeof imageSchema>;

const ownedItem = { id: z.number(), owner_id: z.number() };

const photoSchema = z.object({
  ...ownedItem,
  sizes: z.array(z.unknown()).optional().default([]),
  orig_photo: z.unknown().optional(),
});
const docSchema = z.object({
  ...ownedItem,
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
const videoSchema = z.object({ ...ownedItem, title: z.string().optional() });
const audioSchema = z.object({
  ...ownedItem,
  artist: z.string().optional().default(''),
  title: z.string().optional().default(''),
  url: z.string().optional().default(''),
});
const graffitiSchema = z.object({ ...ownedItem, url: z.string().min(1) });
const linkSchema = z.object({ url: z.string().min(1), title: z.string().optional() });
const wallSchema = z.object({ id: z.number(), to_id: z.number().optional(), owner_id: z.number().optional() });
const wallReplySchema = z.object({ ...ownedItem, post_id: z.number() });
const marketSchema = z.object({ ...ownedItem, title: z.string().optional() });

export interface DescribedAttachment {
  media?: MediaRef;
  /** Shown instead of the file where files are not collected (quoted messages). */
  placeholder: string;
  /** Extra text line (links, things that are not files). */
  line?: string;
}

/** Doc `type` (§4): 3 gif, 4 image, 5 audio, 6 video; the rest are documents. */
const DOC_KINDS: Record<number, MediaRef['kind']> = { 3: 'image', 4: 'image', 5: 'audio', 6: 'video' };

type Describe = (payload: unknown) => DescribedAttachment | undefined;

/** Per attachment type: the attachment, or undefined when its payload does not parse (→ `[type]`). */
const DESCRIBE: Record<string, Describe> = {
  photo(payload) {
    const p = photoSchema.safeParse(payload);
    if (!p.success) return undefined;
    const orig = imageSchema.safeParse(p.data.orig_photo);
    const best = orig.success ? orig.data : largestImage(p.data.sizes);
    if (!best) return undefined;
    return {
      media: { kind: 'image', url: best.url, filename: `photo${p.data.owner_id}_${p.data.id}.jpg`, mimeType: 'image/jpeg' },
      placeholder: '[photo]',
    };
  },
  doc(payload) {
    const d = docSchema.safeParse(payload);
    if (!d.success) return undefined;
    const ext = d.data.ext.toLowerCase();
    let filename = d.data.title.trim() || `doc${d.data.owner_id}_${d.data.id}`;
    if (ext && !filename.toLowerCase().endsWith(`.${ext}`)) filename += `.${ext}`;
    const kind = (d.data.type !== undefined ? DOC_KINDS[d.data.type] : undefined) ?? 'document';
    return {
      media: { kind, url: d.data.url, filename, mimeType: mimeFromExtension(ext) },
      placeholder: `[document: ${filename}]`,
    };
  },
  audio_message(payload) {
    const v = audioMessageSchema.safeParse(payload);
    if (!v.success) return undefined;
    const [url, ext, mimeType] = v.data.link_mp3 ? [v.data.link_mp3, 'mp3', 'audio/mpeg'] : [v.data.link_ogg, 'ogg', 'audio/ogg'];
    if (!url) return { placeholder: '', line: '[voice message]' };
    return { media: { kind: 'voice', url, filename: `voice-${v.data.id}.${ext}`, mimeType }, placeholder: '[voice message]' };
  },
  sticker(payload) {
    const s = stickerSchema.safeParse(payload);
    if (!s.success) return undefined;
    const best = largestImage(s.data.images) ?? largestImage(s.data.images_with_background);
    if (!best) return { placeholder: '', line: '[sticker]' };
    const name = s.data.sticker_id !== undefined ? `sticker-${s.data.sticker_id}.png` : 'sticker.png';
    return { media: { kind: 'sticker', url: best.url, filename: name, mimeType: 'image/png' }, placeholder: '[sticker]' };
  },
  video(payload) {
    const v = videoSchema.safeParse(payload);
    if (!v.success) return undefined;
    // §4: no file URL with a community token; the link is shown instead.
    const url = vkItemUrl('video', v.data.owner_id, v.data.id);
    const media: MediaRef = { kind: 'video', url, linkOnly: true };
    if (v.data.title) media.filename = v.data.title;
    return { media, placeholder: `[video: ${url}]` };
  },
  audio(payload) {
    const a = audioSchema.safeParse(payload);
    if (!a.success) return undefined;
    const name = [a.data.artist, a.data.title].filter(Boolean).join(' - ') || `audio${a.data.owner_id}_${a.data.id}`;
    if (!a.data.url) return { placeholder: '', line: `[audio: ${name}]` };
    return {
      media: { kind: 'audio', url: a.data.url, filename: `${name}.mp3`, mimeType: 'audio/mpeg' },
      placeholder: `[audio: ${name}]`,
    };
  },
  graffiti(payload) {
    const g = graffitiSchema.safeParse(payload);
    if (!g.success) return undefined;
    return {
      media: { kind: 'image', url: g.data.url, filename: `graffiti${g.data.owner_id}_${g.data.id}.png`, mimeType: 'image/png' },
      placeholder: '[graffiti]',
    };
  },
  link(payload) {
    const l = linkSchema.safeParse(payload);
    return l.success ? { placeholder: '', line: l.data.url } : undefined;
  },
  wall(payload) {
    const w = wallSchema.safeParse(payload);
    const owner = w.success ? (w.data.to_id ?? w.data.owner_id) : undefined;
    if (!w.success || owner === undefined) return undefined;
    return { placeholder: '', line: vkItemUrl('wall', owner, w.data.id) };
  },
  wall_reply(payload) {
    const w = wallReplySchema.safeParse(payload);
    return w.success ? { placeholder: '', line: `${vkItemUrl('wall', w.data.owner_id, w.data.post_id)}?reply=${w.data.id}` } : undefined;
  },
  market(payload) {
    const m = marketSchema.safeParse(payload);
    return m.success ? { placeholder: '', line: vkItemUrl('product', m.data.owner_id, m.data.id) } : undefined;
  },
};

/** One attachment (`{type, [type]: payload}`) as a file, a placeholder or a text line. */
export function describeAttachment(raw: unknown): DescribedAttachment {
  const head = z.object({ type: z.string() }).safeParse(raw);
  if (!head.success) return { placeholder: '', line: '[attachment]' };
  const type = head.data.type;
  const describe = Object.hasOwn(DESCRIBE, type) ? DESCRIBE[type] : undefined;
  return describe?.((raw as Record<string, unknown>)[type]) ?? { placeholder: '', line: `[${type.replace(/_/g, ' ')}]` };
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
