/**
 * Conditional task reads (`GET /api/tasks/{id}` with `If-None-Match`): agent UIs poll their open
 * tasks, and most polls find nothing new. The tag is the task id, the fingerprint of the rows the
 * read is made of (db/queries/tasks.ts, `viewFingerprint`), and this process's start: an API
 * started with other code (a new version may shape the JSON differently) never answers 304 to a
 * copy another one served. Several API replicas behind a load balancer therefore cost a full
 * read when a client moves between them, never a stale one.
 */
import { randomBytes } from 'node:crypto';

const PROCESS_TAG = randomBytes(6).toString('base64url');

export function taskETag(taskId: string, fingerprint: string): string {
  return `W/"t${taskId}.${fingerprint}.${PROCESS_TAG}"`;
}

/**
 * The fingerprints of `taskId` that If-None-Match (`*` or a list of tags, weak comparison: `W/`
 * ignored) names in tags of this process; `'any'` for `*`. The read compares the task's with them
 * and answers 304 when it is among them.
 */
export function fingerprintsNamed(ifNoneMatch: string | undefined, taskId: string): string[] | 'any' {
  if (!ifNoneMatch) return [];
  const found: string[] = [];
  const prefix = `"t${taskId}.`;
  const suffix = `.${PROCESS_TAG}"`;
  for (const raw of ifNoneMatch.split(',')) {
    const t = raw.trim().replace(/^W\//, '');
    if (t === '*') return 'any';
    if (t.startsWith(prefix) && t.endsWith(suffix) && t.length > prefix.length + suffix.length) found.push(t.slice(prefix.length, -suffix.length));
  }
  return found;
}
