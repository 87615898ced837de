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

/** If-None-Match (`*` or a list of tags, weak comparison: `W/` ignored) names `tag`. */
export function etagMatches(ifNoneMatch: string | undefined, tag: string): boolean {
  if (!ifNoneMatch) return false;
  const opaque = (t: string) => t.trim().replace(/^W\//, '');
  const wanted = opaque(tag);
  return ifNoneMatch.split(',').some((t) => t.trim() === '*' || opaque(t) === wanted);
}
