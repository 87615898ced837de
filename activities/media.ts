import { Context } from '@temporalio/activity';
import { MediaRefusedError } from '../channels/media-fetch.js';
import { adapterFor, ChannelPermanentError, ChannelTransientError, type ChannelAdapter } from '../channels/types.js';
import type { Channel } from '../db/schema.js';
import { getChannelOrThrow } from '../db/queries/conversations.js';
import type { FileStore } from '../runtime/file-store.js';
import type { Logger } from '../runtime/logger.js';
import type { MediaRef, StoredFile } from '../workflows/shared/types.js';
import type { ActivityDeps } from './deps.js';
import { toActivityFailure } from './failures.js';

export interface DownloadedMedia {
  kind: MediaRef['kind'];
  file?: StoredFile;
  /** A link shown instead of a file (VK video), or the source of a file that could not be fetched. */
  link?: string;
  /** The name the file was sent with, when known (names a missing file in the comment). */
  filename?: string;
  /** Set when the file is missing: why it could not be fetched, for the agent to read. */
  error?: string;
}

export function mediaActivities({ db, files, adapters, logger }: ActivityDeps) {
  /**
   * Rule 9: inbound media is downloaded into the file store. Idempotent (content-addressed). A file
   * refused for good (host not allowed, too large, gone) is recorded as missing at once; one that
   * keeps failing for a reason that may pass (5xx, timeouts) fails the activity, which Temporal
   * retries, until the channel's `MEDIA_FETCH_ATTEMPTS`-th try records it as missing instead, so
   * the conversation goes on.
   */
  async function downloadMedia(input: { channelId: string; items: MediaRef[] }): Promise<DownloadedMedia[]> {
    const channel = await getChannelOrThrow(db, input.channelId);
    return downloadInboundMedia({ adapter: adapterFor(adapters, channel.kind), files, logger }, channel, input.items, currentAttempt());
  }
  return { downloadMedia };
}

/**
 * Downloads `items` for an activity on its `attempt`-th try (see downloadMedia); shared by every
 * activity that copies inbound files.
 */
export async function downloadInboundMedia(
  deps: { adapter: ChannelAdapter; files: FileStore; logger: Logger },
  channel: Channel,
  items: MediaRef[],
  attempt: number,
): Promise<DownloadedMedia[]> {
  const { adapter, files, logger } = deps;
  const lastTry = attempt >= adapter.mediaPolicy.fetchAttempts;
  const out: DownloadedMedia[] = [];
  for (const ref of items) {
    if (ref.linkOnly) {
      out.push({ kind: ref.kind, link: ref.url });
      continue;
    }
    try {
      const d = await adapter.download(channel, ref);
      out.push({ kind: ref.kind, file: await files.put(d.bytes, { filename: d.filename, mimeType: d.mimeType }) });
    } catch (err) {
      let reason: string | undefined;
      // A file that is refused or gone for good must not hold the message back.
      if (err instanceof MediaRefusedError) reason = err.explanation;
      else if (err instanceof ChannelPermanentError) reason = err.channelMessage;
      // Nor one that still fails after the last try.
      else if (err instanceof ChannelTransientError && lastTry) reason = `still failing after ${attempt} ${attempt === 1 ? 'try' : 'tries'} (last error: ${err.message})`;
      if (reason === undefined) throw toActivityFailure(err);
      logger.warn({ channelId: channel.id, kind: ref.kind, code: errorCode(err), attempt }, 'inbound file recorded as missing');
      out.push(missing(ref, reason));
    }
  }
  return out;
}

function missing(ref: MediaRef, reason: string): DownloadedMedia {
  const m: DownloadedMedia = { kind: ref.kind, error: reason };
  if (ref.url) m.link = ref.url;
  if (ref.filename) m.filename = ref.filename;
  return m;
}

const KIND_WORDS: Record<MediaRef['kind'], string> = {
  image: 'image',
  document: 'document',
  voice: 'voice message',
  audio: 'audio file',
  video: 'video',
  sticker: 'sticker',
  other: 'file',
};

/**
 * The line a comment gets for a file that is not attached, naming the file (its name, else its
 * link) and why: `[taskwire: document "Накладная.pdf" was not downloaded and is not attached —
 * host "localhost" is not in MEDIA_ALLOWED_HOSTS]`.
 */
export function missingFileNote(f: Pick<DownloadedMedia, 'kind' | 'filename' | 'link' | 'error'>): string {
  const name = f.filename ? ` "${f.filename}"` : f.link ? ` ${f.link}` : '';
  return `[taskwire: ${KIND_WORDS[f.kind] ?? 'file'}${name} was not downloaded and is not attached — ${f.error ?? 'unknown reason'}]`;
}

/** The lines a comment gets for its files that are not attached: a link (VK video) or a missing-file note. */
export function fileNoteLines(files: DownloadedMedia[]): string[] {
  return files.flatMap((f) => {
    if (f.file) return [];
    if (f.error) return [missingFileNote(f)];
    return f.link ? [`[${f.kind}] ${f.link}`] : [];
  });
}

/** This activity's attempt number (1 outside an activity, in tests). */
export function currentAttempt(): number {
  try {
    return Context.current().info.attempt;
  } catch {
    return 1; // called outside an activity (tests): a first try
  }
}

function errorCode(err: unknown): string | number | undefined {
  return err instanceof ChannelPermanentError || err instanceof ChannelTransientError ? err.channelCode : undefined;
}
