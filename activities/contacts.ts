import { sql } from 'kysely';
import { storableDeep } from '../runtime/storable-text.js';
import { channelDefinition } from '../channels/index.js';
import { adapterFor, ChannelPermanentError, type Profile } from '../channels/types.js';
import { getChannelOrThrow, type DbOrTx, type Tx } from '../db/queries/conversations.js';
import type { Channel } from '../db/schema.js';
import type { ChannelKind } from '../workflows/shared/types.js';
import type { ActivityDeps } from './deps.js';
import { notFound, toActivityFailure } from './failures.js';
import { keyedBatcher } from './profile-batcher.js';

/**
 * Profile look-ups of one channel within 100 ms (or 1,000 ids) share one call; calls at least a
 * second apart per channel: at most one of VK's 20 calls a second, for any number of new people.
 * The messages do not wait for it (record first, enrich later): only the name comes that late.
 */
const PROFILE_BATCHING = { windowMs: 100, maxBatch: 1000, minIntervalMs: 1000 };

/** On a contact identity's profile: named with a placeholder for now; `enrichContact` fetches the profile. */
const PROFILE_PENDING = 'profilePending';

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
  /** Record first (issue 12): a placeholder name now, the channel profile later (`enrichContact`). */
  profileLater?: boolean;
  /** With `profileLater`: the worker fetches the profile outside the workflow (worker/profile-enricher.ts). */
  enrichInBackground?: boolean;
}

export interface EnsureContactResult {
  contactId: string;
  conversationId: string;
  displayName: string;
  lastInboundAt: string | null;
  messagesAllowed: boolean | null;
  /** The contact has a placeholder name until its profile is fetched (`enrichContact`). */
  profilePending?: boolean;
}

export interface EnrichContactInput {
  channelId: string;
  peerId: string;
}

export function contactActivities({ db, adapters, logger, profilesPending }: ActivityDeps) {
  const batched = keyedBatcher((channel: Channel, ids: string[]) => profilesOf(channel, ids), PROFILE_BATCHING);

  /** Many people's profiles in one call where the channel can (VK users.get), else one by one. */
  async function profilesOf(channel: Channel, ids: string[]): Promise<Record<string, Profile>> {
    const adapter = adapterFor(adapters, channel.kind);
    if (adapter.fetchProfiles) return adapter.fetchProfiles(channel, ids);
    return Object.fromEntries(await Promise.all(ids.map(async (id) => [id, await adapter.fetchProfile(channel, id)] as const)));
  }

  /** The person's channel profile, batched with other conversations' look-ups; a refusal gives the placeholder. */
  async function profileOf(channel: Channel, peerId: string, phone?: string): Promise<Profile & { refused?: true }> {
    try {
      return await batched(channel.id, channel, peerId);
    } catch (err) {
      if (!(err instanceof ChannelPermanentError)) throw toActivityFailure(err);
      logger.warn({ channelId: channel.id, code: err.channelCode }, 'profile unavailable; using a placeholder name');
      return { name: channelDefinition(channel.kind).placeholderName(peerId), phone, refused: true };
    }
  }

  /**
   * Rule 4: the first event of a person creates their contact (name from the channel profile)
   * and the conversation row. Idempotent: the identity (channel kind, peer) is unique.
   */
  async function ensureContact(input: EnsureContactInput): Promise<EnsureContactResult> {
    const { channel, identity, profile } = await contactToEnsure(db, input);
    const named = identity ? undefined : (profile ?? (await profileOf(channel, input.peerId, input.hint?.phone)));
    const { fresh: _, ...result } = await db.transaction().execute((tx) => ensureContactRows(tx, channel, input, identity, named));
    enrichAfterCommit(profilesPending, input, result);
    return result;
  }

  /**
   * Record first, enrich later (issue 12): the channel profile of a contact created with a
   * placeholder name (`profileLater`). The name replaces the placeholder on the contact and in the
   * titles of the tasks that were named after it. Idempotent: a contact whose profile came already
   * is left as it is. A refused look-up leaves the placeholder (and ends the wait for a profile);
   * any other failure is retried by the caller, a bounded number of times.
   */
  async function enrichContact(input: EnrichContactInput): Promise<{ displayName: string }> {
    const channel = await getChannelOrThrow(db, input.channelId);
    const identity = await findIdentity(db, channel.kind, input.peerId);
    if (!identity) throw notFound(`contact of ${channel.kind} ${input.peerId}`);
    if (identity.profile?.[PROFILE_PENDING] !== true) return { displayName: identity.name };
    const placeholder = channelDefinition(channel.kind).placeholderName(input.peerId);
    const fetched = storableDeep(await profileOf(channel, input.peerId)).value;
    const name = fetched.name.trim() || placeholder;
    const rename = !fetched.refused && name !== placeholder;
    // One statement (atomic on its own): the identity stops waiting — only if it still waits, so of
    // two workers asking at once one renames —, the contact is renamed if it still has the
    // placeholder, and so are the titles of the tasks named after it (`<contact name> — <channel
    // name>`, activities/conversation-messages.ts).
    const prefix = `${placeholder} — `;
    const r = await sql<{ name: string | null }>`
      with ident as (
        update contact_identities set profile = ${JSON.stringify(fetched.extra ?? {})}::jsonb
         where id = ${identity.identityId} and (profile->>'${sql.raw(PROFILE_PENDING)}') = 'true'
        returning contact_id
      ), renamed as (
        update contacts set name = ${name}, phone = coalesce(${fetched.phone ?? null}::text, phone), updated_at = now()
         where ${rename} and id = (select contact_id from ident) and name = ${placeholder}
        returning id, name
      ), titled as (
        update tasks set title = ${`${name} — `} || substr(title, ${prefix.length + 1}), updated_at = now()
         where contact_id = (select id from renamed) and left(title, ${prefix.length}) = ${prefix}
      )
      select (select name from renamed) as name`.execute(db);
    return { displayName: r.rows[0]?.name ?? identity.name };
  }

  return { ensureContact, enrichContact };
}

type NewProfile = { name: string; phone?: string; extra?: Record<string, unknown> };

/**
 * What creating a person's contact starts from: the channel, their identity if it exists, and the
 * profile a new one gets without a channel call (undefined: the channel must be asked).
 */
export async function contactToEnsure(q: DbOrTx, input: EnsureContactInput) {
  const channel = await getChannelOrThrow(q, input.channelId);
  const identity = await findIdentity(q, channel.kind, input.peerId);
  return { channel, identity, profile: identity ? undefined : profileWithoutCall(channel, input) };
}

/** After the commit that created a contact with a placeholder (`enrichInBackground`): the worker fetches the profile. A retry asks again; harmless. */
export function enrichAfterCommit(profilesPending: ActivityDeps['profilesPending'], input: EnsureContactInput, result: EnsureContactResult | undefined): void {
  if (input.enrichInBackground && result?.profilePending) profilesPending?.({ channelId: input.channelId, peerId: input.peerId });
}

/** The profile a new person's contact is created with when that costs no channel call; undefined: ask the channel. */
function profileWithoutCall(channel: Channel, input: EnsureContactInput): NewProfile | undefined {
  const placeholder = { name: channelDefinition(channel.kind).placeholderName(input.peerId), phone: input.hint?.phone };
  if (input.hint?.name) return { name: input.hint.name, phone: input.hint.phone, extra: input.hint.extra };
  if (input.skipProfile) return placeholder;
  if (input.profileLater) return { ...placeholder, extra: { [PROFILE_PENDING]: true } };
  return undefined;
}

/**
 * Rule 4, in the caller's transaction: the person's contact and identity (unless `identity` exists
 * already; `profile` names a new one) and the conversation row. `fresh` says which rows this call
 * created: a conversation created now has no tasks, comments or held messages yet, a contact no history.
 */
export async function ensureContactRows(
  tx: Tx,
  channel: Channel,
  input: EnsureContactInput,
  identity: Identity | undefined,
  profile: NewProfile | undefined,
): Promise<EnsureContactResult & { fresh: { contact: boolean; conversation: boolean } }> {
  let contactFresh = false;
  if (!identity) {
    // A name or profile field with NUL or a broken UTF-16 pair must not fail the insert for ever.
    const p = storableDeep(profile!).value;
    const contact = await tx.insertInto('contacts').values({ name: p.name, phone: p.phone ?? null }).returning(['id', 'name']).executeTakeFirstOrThrow();
    const identityProfile = p.extra ?? {};
    const inserted = await tx
      .insertInto('contact_identities')
      .values({ contact_id: contact.id, channel_kind: channel.kind, external_id: input.peerId, profile: JSON.stringify(identityProfile) })
      .onConflict((oc) => oc.columns(['channel_kind', 'external_id']).doNothing())
      .returning('id')
      .executeTakeFirst();
    if (inserted) {
      identity = { ...contact, identityId: inserted.id, profile: identityProfile };
      contactFresh = true;
    } else {
      // Another conversation (same person, other community) created it first: use theirs.
      await tx.deleteFrom('contacts').where('id', '=', contact.id).execute();
      identity = await findIdentity(tx, channel.kind, input.peerId);
      if (!identity) throw new Error('contact identity vanished'); // retried
    }
  }
  const profilePending = identity.profile?.[PROFILE_PENDING] === true;
  if (input.withoutConversation) {
    return { contactId: identity.id, conversationId: '', displayName: identity.name, lastInboundAt: null, messagesAllowed: null, fresh: { contact: contactFresh, conversation: false } };
  }
  const conv = await tx
    .insertInto('conversations')
    .values({ channel_id: channel.id, peer_id: input.peerId, contact_id: identity.id, workflow_id: input.workflowId })
    .onConflict((oc) => oc.columns(['channel_id', 'peer_id']).doUpdateSet({ updated_at: new Date() }))
    // xmax = 0: the row was inserted by this statement, not updated.
    .returning(['id', 'last_inbound_at', 'messages_allowed', 'contact_id', sql<boolean>`(xmax = 0)`.as('inserted')])
    .executeTakeFirstOrThrow();
  return {
    contactId: conv.contact_id,
    conversationId: conv.id,
    displayName: identity.name,
    lastInboundAt: conv.last_inbound_at?.toISOString() ?? null,
    messagesAllowed: conv.messages_allowed,
    ...(profilePending ? { profilePending } : {}),
    fresh: { contact: contactFresh, conversation: conv.inserted },
  };
}

type Identity = NonNullable<Awaited<ReturnType<typeof findIdentity>>>;

/** The contact of a person's channel identity (VK user id, WhatsApp wa_id). */
function findIdentity(db: DbOrTx, kind: ChannelKind, externalId: string) {
  return db
    .selectFrom('contact_identities as i')
    .innerJoin('contacts as c', 'c.id', 'i.contact_id')
    .select(['c.id', 'c.name', 'i.id as identityId', 'i.profile'])
    .where('i.channel_kind', '=', kind)
    .where('i.external_id', '=', externalId)
    .executeTakeFirst();
}
