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
import type { EnsureContactResult } from '../../activities/contacts.js';

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
  /**
   * Version 6 (input.version): the profile of a new person is fetched by the worker outside the run
   * (worker/profile-enricher.ts), so it costs the run no activity, workflow task or memo change; the
   * memo starts with the name the first event carried and follows later names (`nameChanged`).
   */
  v6?: boolean;
}

export function conversationContact({ input, st, activities, clock, v2, v3, v6 = false }: ConversationContactOptions) {
  const { db, profiles, enrichment } = activities;
  // The memo the run started with (v6: the name the first event carried, if any).
  if (v6 && st.displayName === undefined) st.displayName = workflowInfo().memo?.displayName as string | undefined;
  /** The name the memo shows (v6: not a placeholder while the profile is under way). */
  let pendingName: string | undefined;

  /** How the contact is asked for: by a local activity (no channel call), or on the channel's queue. */
  function contactRequest(hint: ProfileHint | undefined, skipProfile = false) {
    const profileCostsNoCall = hint?.name !== undefined || !channelCapabilities(input).profileNeedsApi;
    const later = v3 && !skipProfile && !profileCostsNoCall;
    const local = skipProfile || later || (v2 && profileCostsNoCall);
    const request = {
      hint,
      ...(skipProfile ? { skipProfile } : {}),
      ...(later ? { profileLater: true } : {}),
      ...(later && v6 ? { enrichInBackground: true } : {}),
    };
    return { local, later, request };
  }

  async function ensureContact(hint: ProfileHint | undefined, skipProfile = false): Promise<void> {
    const { local, later, request } = contactRequest(hint, skipProfile);
    const r = await (local ? db : profiles).ensureContact({ channelId: input.channelId, peerId: input.peerId, workflowId: workflowInfo().workflowId, ...request });
    adopt(r, later);
  }

  /** The contact found or created (by ensureContact, or v6: by recordEvents with the first events). */
  function adopt(r: EnsureContactResult, later: boolean): void {
    st.contactId = r.contactId;
    if (r.lastInboundAt && (!st.lastInboundAt || r.lastInboundAt > st.lastInboundAt)) st.lastInboundAt = r.lastInboundAt;
    if (r.messagesAllowed !== null && st.messagesAllowed === undefined) st.messagesAllowed = r.messagesAllowed;
    if (later && r.profilePending) {
      if (v6) pendingName = r.displayName; // the worker fetches the profile; the memo waits for the name
      else {
        st.displayName = r.displayName; // the memo waits for the name
        enrichLater();
      }
    } else nameChanged(r.displayName);
  }

  /**
   * v6: what recordEvents needs to create the contact in the transaction that records the batch's
   * events, when the name is known without asking the channel: the events carry it, or a
   * placeholder stands in while the worker fetches the profile. Otherwise undefined (ensureContact first).
   */
  function firstRecord(batch: ConversationEvent[]) {
    const hint = hintOf(batch);
    const { request, later } = contactRequest(hint);
    if (!later && hint?.name === undefined) return undefined;
    return { request, adopt: (r: EnsureContactResult) => adopt(r, later) };
  }

  /** The contact's name as the database has it now: the memo shows it (one memo change, only when it changed). */
  function nameChanged(name: string): void {
    if (name === pendingName) return; // still the placeholder of a profile under way
    pendingName = undefined;
    if (st.displayName === name) return;
    st.displayName = name;
    upsertMemo({ displayName: name });
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
    const hint = hintOf(batch);
    const first = await untilDatabaseAnswers(() => ensureContact(hint), { timeoutsToo: false });
    if (first.ok) return undefined;
    // The channel's profile could not be fetched: the contact gets a placeholder name for now.
    log.warn('the profile could not be fetched; the contact gets a placeholder name', failureSummary(first.failure));
    const fallback = await untilDatabaseAnswers(() => ensureContact(hint, true));
    return fallback.ok ? undefined : fallback.failure;
  }

  return { ensureContact, contactFor, firstRecord, nameChanged };
}

/** The profile data the batch's events carry (WhatsApp, Telegram; a bulk send's prefetched profile). */
function hintOf(batch: ConversationEvent[]): ProfileHint | undefined {
  const withProfile = batch.find((e) => (e.type === 'inbound' || e.type === 'observed_outgoing') && e.profile);
  return withProfile && 'profile' in withProfile ? withProfile.profile : undefined;
}
