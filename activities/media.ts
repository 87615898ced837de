import { ChannelPermanentError } from '../channels/types.js';
import { getChannelOrThrow } from '../db/queries/conversations.js';
import type { MediaRef, StoredFile } from '../workflows/shared/types.js';
import type { ActivityDeps } from './deps.js';
import { toActivityFailure } from './failures.js';

export interface DownloadedMedia {
  kind: MediaRef['kind'];
  file?: StoredFile;
  /** A link shown instead of a file (VK video), or the source of a file that could not be fetched. */
  link?: string;
  /** The file's name, when the channel gave one (shown for a file that could not be fetched). */
  filename?: string;
  error?: string;
}

export function mediaActivities({ db, files, adapters }: ActivityDeps) {
  /** Rule 9: inbound media is downloaded into the file store. Idempotent (content-addressed). */
  async function downloadMedia(input: { channelId: string; items: MediaRef[] }): Promise<DownloadedMedia[]> {
    const channel = await getChannelOrThrow(db, input.channelId);
    const adapter = adapters[channel.kind];
    const out: DownloadedMedia[] = [];
    for (const ref of input.items) {
      if (ref.linkOnly) {
        out.push({ kind: ref.kind, link: ref.url });
        continue;
      }
      try {
        const d = await adapter.download(channel, ref);
        out.push({ kind: ref.kind, file: await files.put(d.bytes, { filename: d.filename, mimeType: d.mimeType }) });
      } catch (err) {
        // A file that is gone for good must not hold the message back: it is recorded with a note.
        if (err instanceof ChannelPermanentError) out.push({ kind: ref.kind, link: ref.url, error: err.message });
        else throw toActivityFailure(err);
      }
    }
    return out;
  }
  return { downloadMedia };
}
