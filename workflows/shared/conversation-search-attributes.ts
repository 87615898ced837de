/**
 * The search attributes a conversation shows ops in the Temporal UI (TwContactId, TwTaskId,
 * TwLastMessageAt, TwState, TwHeldBroadcasts, TwDeadLetters): written only when they change, all
 * changes in one history event. TwLastMessageAt is coarse (issue 12): a later message moves it
 * only once it is `lastMessageStepMs` past the shown time, or along with another change, or when
 * the run ends, so a busy conversation does not write an event per message. Workflow code:
 * deterministic.
 */
import { upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { SA } from './temporal.js';
import type { HoldRef } from './types.js';

export interface ShownState {
  contactId?: string;
  taskId?: string;
  lastInboundAt?: string;
  holds: HoldRef[];
  deadLetters: number;
  /** What the run shows now (updated here). */
  lastSA: Record<string, unknown>;
  /** TwLastMessageAt moves on its own only this far (absent, in runs from before: on every message). */
  lastMessageStepMs?: number;
}

/** Runs from now on: TwLastMessageAt is at most a minute behind while the run goes on. */
export const LAST_MESSAGE_STEP_MS = 60_000;

/** `exact`: TwLastMessageAt is brought up to date too (the run ends). */
export function syncSearchAttributes(st: ShownState, next: { state?: string; exact?: boolean }): void {
  const wanted: Record<string, unknown> = {
    deadLetters: st.lastSA.deadLetters,
    contactId: st.contactId,
    taskId: st.taskId,
    lastMessageAt: st.lastInboundAt,
    state: next.state ?? st.lastSA.state,
    held: st.holds.filter((h) => h.held).length,
  };
  const changed = {
    contactId: Boolean(wanted.contactId) && wanted.contactId !== st.lastSA.contactId,
    taskId: Boolean(wanted.taskId) && wanted.taskId !== st.lastSA.taskId,
    lastMessageAt: Boolean(wanted.lastMessageAt) && wanted.lastMessageAt !== st.lastSA.lastMessageAt,
    state: Boolean(wanted.state) && wanted.state !== st.lastSA.state,
    // Rule 23, for ops: `TwHeldBroadcasts > 0` lists the conversations holding messages.
    held: wanted.held !== (st.lastSA.held ?? 0),
    // Issue 10, for ops: `TwDeadLetters > 0` lists the conversations that set events aside.
    deadLetters: st.deadLetters > 0 && st.deadLetters !== st.lastSA.deadLetters,
  };
  if (changed.lastMessageAt && st.lastMessageStepMs !== undefined && !next.exact) {
    const others = changed.contactId || changed.taskId || changed.state || changed.held || changed.deadLetters;
    const shown = st.lastSA.lastMessageAt === undefined ? undefined : Date.parse(String(st.lastSA.lastMessageAt));
    const moved = shown === undefined || Date.parse(String(wanted.lastMessageAt)) - shown >= st.lastMessageStepMs;
    if (!others && !moved) {
      changed.lastMessageAt = false;
      wanted.lastMessageAt = st.lastSA.lastMessageAt;
    }
  }
  const changes: Parameters<typeof upsertSearchAttributes>[0] = [];
  if (changed.contactId) changes.push({ key: SA.contactId, value: String(wanted.contactId) });
  if (changed.taskId) changes.push({ key: SA.taskId, value: String(wanted.taskId) });
  if (changed.lastMessageAt) changes.push({ key: SA.lastMessageAt, value: new Date(String(wanted.lastMessageAt)) });
  if (changed.state) changes.push({ key: SA.state, value: String(wanted.state) });
  if (changed.held) changes.push({ key: SA.heldBroadcasts, value: Number(wanted.held) });
  if (changed.deadLetters) {
    changes.push({ key: SA.deadLetters, value: st.deadLetters });
    wanted.deadLetters = st.deadLetters;
  }
  if (changes.length === 0) return;
  upsertSearchAttributes(changes); // one history event for all changes
  st.lastSA = { ...st.lastSA, ...wanted };
}

/** The values of the search attributes a conversation manages, as the run shows them now. */
export function searchAttributesShown(): Record<string, unknown> {
  const sa = workflowInfo().typedSearchAttributes;
  const shown: Record<string, unknown> = {
    contactId: sa.get(SA.contactId),
    taskId: sa.get(SA.taskId),
    lastMessageAt: sa.get(SA.lastMessageAt)?.toISOString(),
    state: sa.get(SA.state),
    held: sa.get(SA.heldBroadcasts),
    deadLetters: sa.get(SA.deadLetters),
  };
  return Object.fromEntries(Object.entries(shown).filter(([, v]) => v !== undefined));
}
