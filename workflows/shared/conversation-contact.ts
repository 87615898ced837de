/**
 * A conversation's contact, workflow side (deterministic): created on the person's first event (or
 * an agent's first action), named from what the event carries, from the channel profile, or —
 * record first, enrich later (issue 12) — with a placeholder name at once, the profile following
 * while the queue goes on.
 */
import { log, upsertMemo, workflowInfo } from '@temporalio/workflow';
import { channelCapabilities } from './reply-policy.js';
import { failureSummary, untilDatabaseAnswers } from './retry.js';
import type { ActivityClock } from './task-thread.js';
import type { ThreadActivities } from './thread-activities.js';
import type { ConversationEvent, ConversationInput } from './types.js';

type ProfileHint = { name?: string; phone?: string; extra?: Record<string, unknown> };

export interface ContactState {
  contactId?: string;
  displayName?: string;
  lastInboundAt?: string;
  messagesAllowed?: boolean;
}

export interface ConversationContactOptions {
  input: ConversationInput;
  st: ContactState;
  activities: Pick<ThreadActivities, 'db' | 'profiles' | 'enrichment'>;
  /** Counts the profile look-up as work under way: the run does not end before it is done. */
  clock: ActivityClock;
  /** conversation-v2: a contact whose profile costs no channel call is written by a local activity. */
  v2: boolean;
  /** conversation-v3: record first, enrich later. */
  v3: boolean;
}

export function conversationContact({ input, st, activities, clock, v2, v3 }: ConversationContactOptions) {
  const { db, profiles, enrichment } = activities;

  async function ensureContact(hint: ProfileHint | undefined, skipProfile = false): Promise<void> {
    const profileCostsNoCall = hint?.name !== undefined || !channelCapabilities(input).profileNeedsApi;
    const later = v3 && !skipProfile && !profileCostsNoCall;
    const local = skipProfile || later || (v2 && profileCostsNoCall);
    const r = await (local ? db : profiles).ensureContact({
      channelId: input.channelId,
      peerId: input.peerId,
      workflowId: workflowInfo().workflowId,
      hint,
      ...(skipProfile ? { skipProfile } : {}),
      ...(later ? { profileLater: true } : {}),
    });
    st.contactId = r.contactId;
    if (r.lastInboundAt && (!st.lastInboundAt || r.lastInboundAt > st.lastInboundAt)) st.lastInboundAt = r.lastInboundAt;
    if (r.messagesAllowed !== null && st.messagesAllowed === undefined) st.messagesAllowed = r.messagesAllowed;
    if (later && r.profilePending) {
      st.displayName = r.displayName; // the memo waits for the name
      enrichLater();
    } else if (st.displayName !== r.displayName) {
      st.displayName = r.displayName;
      upsertMemo({ displayName: r.displayName });
    }
  }

  /**
   * The profile of a contact named with a placeholder, while the queue goes on: the name replaces
   * the placeholder when it comes; a look-up that keeps failing leaves the placeholder.
   */
  function enrichLater(): void {
    clock.backgroundInFlight = (clock.backgroundInFlight ?? 0) + 1;
    clock.lastActivityMs = Date.now();
    void untilDatabaseAnswers(() => enrichment.enrichContact({ channelId: input.channelId, peerId: input.peerId }), { timeoutsToo: false })
      .then((r) => {
        if (r.ok) st.displayName = r.value.displayName;
        else log.warn('the profile could not be fetched; the contact keeps its placeholder name', failureSummary(r.failure));
        upsertMemo({ displayName: st.displayName });
      })
      .finally(() => {
        clock.backgroundInFlight!--;
        clock.lastActivityMs = Date.now();
      });
  }

  /** Creates the person's contact for a batch; returns the failure when even a placeholder could not be written. */
  async function contactFor(batch: ConversationEvent[]): Promise<unknown> {
    const withProfile = batch.find((e) => (e.type === 'inbound' || e.type === 'observed_outgoing') && e.profile);
    const hint = withProfile && 'profile' in withProfile ? withProfile.profile : undefined;
    const first = await untilDatabaseAnswers(() => ensureContact(hint), { timeoutsToo: false });
    if (first.ok) return undefined;
    // The channel's profile could not be fetched: the contact gets a placeholder name for now.
    log.warn('the profile could not be fetched; the contact gets a placeholder name', failureSummary(first.failure));
    const fallback = await untilDatabaseAnswers(() => ensureContact(hint, true));
    return fallback.ok ? undefined : fallback.failure;
  }

  return { ensureContact, contactFor };
}
