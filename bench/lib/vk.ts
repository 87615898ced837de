/** VK Callback bodies for the benchmarks, built from the shared fixture like the e2e tests do. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const SHARED_DIR = process.env.TASKWIRE_SHARED_DIR ?? fileURLToPath(new URL('../../../shared/', import.meta.url));

export async function readMessageNewFixture(): Promise<Record<string, any>> {
  const file = path.join(SHARED_DIR, 'fixtures', 'vk', 'message_new.text.json');
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Record<string, any>;
  } catch (err) {
    throw new Error(`cannot read the VK fixture ${file} (set TASKWIRE_SHARED_DIR to the shared folder): ${(err as Error).message}`);
  }
}

/**
 * A message_new body (the fixture's shape) from `peer`: VK message id `id`, per-dialog
 * `conversation_message_id` `cmid`, `eventId`, `text`, dated now, signed with `secret`.
 */
export function vkMessageNew(
  base: Record<string, any>,
  opts: { groupId: number; secret: string; peer: number; id: number; cmid: number; eventId: string; text: string },
): Record<string, any> {
  const body = structuredClone(base);
  body.group_id = opts.groupId;
  body.secret = opts.secret;
  body.event_id = opts.eventId;
  Object.assign(body.object.message, {
    from_id: opts.peer,
    peer_id: opts.peer,
    id: opts.id,
    conversation_message_id: opts.cmid,
    text: opts.text,
    date: Math.floor(Date.now() / 1000),
    attachments: [],
    fwd_messages: [],
  });
  return body;
}
