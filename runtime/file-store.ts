/**
 * Content-addressed file storage under FILES_DIR: a file is stored once under its sha256, so
 * storing it again (a retried download or upload) is a no-op. Rows in `attachments` point here.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { StoredFile } from '../workflows/shared/types.js';

export class FileStore {
  constructor(readonly dir: string) {}

  private pathOf(sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error('invalid file id');
    return path.join(this.dir, sha256.slice(0, 2), sha256);
  }

  async put(bytes: Uint8Array, meta: { filename: string; mimeType: string }): Promise<StoredFile> {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const target = this.pathOf(sha256);
    const exists = await stat(target).then(() => true, () => false);
    if (!exists) {
      await mkdir(path.dirname(target), { recursive: true });
      // Write then rename: a crash never leaves a half-written file under the final name.
      const tmp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
      await writeFile(tmp, bytes);
      await rename(tmp, target);
    }
    return { sha256, filename: sanitizeFilename(meta.filename), mimeType: meta.mimeType, size: bytes.byteLength };
  }

  async get(sha256: string): Promise<Uint8Array> {
    return new Uint8Array(await readFile(this.pathOf(sha256)));
  }
}

/** User-controlled names: keep them readable, drop path separators and control characters. */
export function sanitizeFilename(name: string): string {
  const cleaned = name.replace(/[\u0000-\u001f\u007f/\\]/g, '_').replace(/^\.+/, '').trim();
  return (cleaned || 'file').slice(0, 200);
}
