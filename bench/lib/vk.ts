/** VK Callback bodies for the benchmarks, built from the repository's fixture like the e2e tests do. */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/** tests/fixtures/vk/message_new.text.json: the message_new shape every benchmark body copies. */
const MESSAGE_NEW_FIXTURE = fileURLToPath(new URL('../../tests/fixtures/vk/message_new.text.json', import.meta.url));

export async function readMessageNewFixture(): Promise<Record<string, any>> {
  try {
    return JSON.parse(await readFile(MESSAGE_NEW_FIXTURE, 'utf8')) as Record<string, any>;
  } catch (err) {
    throw new Error(`cannot read the VK fixture ${MESSAGE_NEW_FIXTURE}: ${(err as Error).message}`);
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
