/**
 * File types for every channel, from the `mime-types` database: a file's type from its extension,
 * an extension from a type, and the type of a downloaded file (the server's Content-Type unless it
 * is generic, then what the event said, then the file name's extension).
 */
import mime from 'mime-types';

export const GENERIC_MIME = 'application/octet-stream';

/** Types CDNs send when they do not know (or will not say) what a file is. */
const GENERIC_MIMES = new Set([GENERIC_MIME, 'binary/octet-stream', 'application/x-download', 'application/force-download']);

/**
 * Where the database's first extension is not the one people and messengers use
 * (`audio/ogg` → `.oga`, `audio/mpeg` → `.mpga`).
 */
const USUAL_EXTENSION: Record<string, string> = {
  'audio/ogg': 'ogg',
  'audio/opus': 'opus',
  'audio/mpeg': 'mp3',
  'audio/aac': 'aac',
};

/** The type without parameters, lowercase: `Text/Plain; charset=utf-8` → `text/plain`. */
export function baseMime(mimeType: string): string {
  return mimeType.split(';')[0]!.trim().toLowerCase();
}

export function isGenericMime(mimeType: string): boolean {
  return GENERIC_MIMES.has(baseMime(mimeType));
}

/** MIME type of a file extension (with or without the dot, any case); `application/octet-stream` when unknown. */
export function mimeFromExtension(ext: string): string {
  return mime.lookup(ext.replace(/^\./, '')) || GENERIC_MIME;
}

/** `.ext` for a MIME type (parameters ignored); '' when unknown or generic. */
export function extensionFor(mimeType: string): string {
  const type = baseMime(mimeType);
  if (isGenericMime(type)) return '';
  const ext = USUAL_EXTENSION[type] ?? mime.extension(type);
  return ext ? `.${ext}` : '';
}

/**
 * The type of a downloaded file: the server's Content-Type unless it is generic (CDNs often say
 * octet-stream); then the type the event gave; then the file name's extension; else generic.
 */
export function pickMime(contentType: string | null | undefined, known: string | undefined, filename?: string): string {
  for (const candidate of [contentType, known]) {
    if (candidate && !isGenericMime(candidate)) return baseMime(candidate);
  }
  const byName = filename ? mime.lookup(filename) : false;
  return byName || GENERIC_MIME;
}
