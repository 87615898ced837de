/** File names from outside (a webhook, a URL, a Content-Disposition) made safe to store and show. */
import { extensionFor } from './mime.js';

const MAX_FILENAME = 180;

/**
 * A user-supplied file name made safe to store: no directories, control or reserved characters,
 * no leading dots, bounded length (extension kept); an extension from the MIME type when it has
 * none. Undefined when nothing usable remains.
 */
export function sanitizeFilename(name: string, mimeType?: string): string | undefined {
  let s = name.normalize('NFC');
  s = s.split(/[/\\]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  s = s.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '');
  s = s.replace(/[<>:"|?*]/g, '_');
  s = s.replace(/\s+/g, ' ').trim().replace(/^[.\s]+/, '').replace(/[.\s]+$/, '');
  if (!s) return undefined;
  const dot = s.lastIndexOf('.');
  let ext = dot > 0 && s.length - dot <= 10 ? s.slice(dot) : '';
  let stem = ext ? s.slice(0, dot) : s;
  if (!ext && mimeType) ext = extensionFor(mimeType);
  if (stem.length + ext.length > MAX_FILENAME) stem = [...stem].slice(0, MAX_FILENAME - ext.length).join('').trim();
  return `${stem}${ext}`;
}

/** The last path segment of a URL, decoded; undefined when there is none. */
export function filenameFromUrl(url: string): string | undefined {
  try {
    const last = new URL(url).pathname.split('/').filter(Boolean).pop();
    return last ? decodeURIComponent(last) : undefined;
  } catch {
    return undefined;
  }
}
