/** A person addressed by a request (bulk send, first contact), as their channel's recipient schema says. */
import type { ChannelDefinition } from '../channels/types.js';
import { badRequest } from './errors.js';

/**
 * The person's id in the channel; a recipient of another kind or a bad value is a 400 naming the
 * field (`at`: where the recipient is in the body, e.g. `recipients.3`; absent: the body itself).
 */
export function recipientPeer(def: ChannelDefinition, recipient: unknown, at?: string): string {
  const parsed = def.recipient.schema.safeParse(recipient);
  if (!parsed.success) throw badRequest(at ?? 'body', `${def.label} recipients are ${def.recipient.shape}`);
  const peer = def.recipient.peerId(parsed.data);
  if ('message' in peer) throw badRequest(at ? `${at}.${peer.field}` : peer.field, peer.message);
  return peer.peerId;
}
