import { storableDeep } from '../runtime/storable-text.js';
import { channelDefinition } from '../channels/index.js';
import { adapterFor, ChannelPermanentError } from '../channels/types.js';
import { getChannelOrThrow, type DbOrTx } from '../db/queries/conversations.js';
import type { ChannelKind } from '../workflows/shared/types.js';
import type { ActivityDeps } from './deps.js';
import { toActivityFailure } from './failures.js';

export interface EnsureContactInput {
  channelId: string;
  peerId: string;
  workflowId: string;
  /** Profile data the event carried (WhatsApp; a bulk send's batched VK profiles): used instead of asking the channel. */
  hint?: { name?: string; phone?: string; extra?: Record<string, unknown> };
  /** Publication commenters and lead authors have a contact but no private conversation row. */
  withoutConversation?: boolean;
  /** The channel's profile could not be fetched (bounded retries ran out): use a placeholder name. */
  skipProfile?: boolean;
}

export interface EnsureContactResult {
  contactId: string;
  conversationId: string;
  displayName: string;
  lastInboundAt: string | null;
  messagesAllowed: boolean | null;
}

export function contactActivities({ db, adapters, logger }: ActivityDeps) {
  /**
   * Rule 4: the first event of a person creates their contact (name from the channel profile)
   * and the conversation row. Idempotent: the identity (channel kind, peer) is unique.
   */
  async function ensureContact(input: EnsureContactInput): Promise<EnsureContactResult> {
    const channel = await getChannelOrThrow(db, input.channelId);
    let identity = await findIdentity(db, channel.kind, input.peerId);

    let profile: { name: string; phone?: string; extra?: Record<string, unknown> } | undefined;
    if (!identity) {
      if (input.hint?.name) profile = { name: input.hint.name, phone: input.hint.phone, extra: input.hint.extra };
      else if (input.skipProfile) profile = { name: channelDefinition(channel.kind).placeholderName(input.peerId), phone: input.hint?.phone };
      else {
        try {
          profile = await adapterFor(adapters, channel.kind).fetchProfile(channel, input.peerId);
        } catch (err) {
          if (!(err instanceof ChannelPermanentError)) throw toActivityFailure(err);
          logger.warn({ channelId: channel.id, code: err.channelCode }, 'profile unavailable; using a placeholder name');
          profile = { name: channelDefinition(channel.kind).placeholderName(input.peerId), phone: input.hint?.phone };
        }
      }
    }
    // A name or profile field with NUL or a broken UTF-16 pair must not fail the insert for ever.
    if (profile) profile = storableDeep(profile).value;

    return db.transaction().execute(async (tx) => {
      if (!identity) {
        const contact = await tx
          .insertInto('contacts')
          .values({ name: profile!.name, phone: profile!.phone ?? null })
          .returning(['id', 'name'])
          .executeTakeFirstOrThrow();
        const inserted = await tx
          .insertInto('contact_identities')
          .values({ contact_id: contact.id, channel_kind: channel.kind, external_id: input.peerId, profile: JSON.stringify(profile!.extra ?? {}) })
          .onConflict((oc) => oc.columns(['channel_kind', 'external_id']).doNothing())
          .returning('id')
          .executeTakeFirst();
        if (inserted) identity = contact;
        else {
          // Another conversation (same person, other community) created it first: use theirs.
          await tx.deleteFrom('contacts').where('id', '=', contact.id).execute();
          identity = await findIdentity(tx, channel.kind, input.peerId);
          if (!identity) throw new Error('contact identity vanished'); // retried
        }
      }
      if (input.withoutConversation) {
        return { contactId: identity.id, conversationId: '', displayName: identity.name, lastInboundAt: null, messagesAllowed: null };
      }
      const conv = await tx
        .insertInto('conversations')
        .values({ channel_id: channel.id, peer_id: input.peerId, contact_id: identity.id, workflow_id: input.workflowId })
        .onConflict((oc) => oc.columns(['channel_id', 'peer_id']).doUpdateSet({ updated_at: new Date() }))
        .returning(['id', 'last_inbound_at', 'messages_allowed', 'contact_id'])
        .executeTakeFirstOrThrow();
      return {
        contactId: conv.contact_id,
        conversationId: conv.id,
        displayName: identity.name,
        lastInboundAt: conv.last_inbound_at?.toISOString() ?? null,
        messagesAllowed: conv.messages_allowed,
      };
    });
  }

  return { ensureContact };
}

/** The contact of a person's channel identity (VK user id, WhatsApp wa_id). */
function findIdentity(db: DbOrTx, kind: ChannelKind, externalId: string) {
  return db
    .selectFrom('contact_identities as i')
    .innerJoin('contacts as c', 'c.id', 'i.contact_id')
    .select(['c.id', 'c.name'])
    .where('i.channel_kind', '=', kind)
    .where('i.external_id', '=', externalId)
    .executeTakeFirst();
}
