/**
 * The search attributes a conversation shows ops in the Temporal UI (TwContactId, TwTaskId,
 * TwLastMessageAt, TwState, TwHeldBroadcasts, TwDeadLetters): written only when they change, all
 * changes in one history event. Workflow code: deterministic.
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
}

export function syncSearchAttributes(st: ShownState, next: { state?: string }): void {
  const wanted: Record<string, unknown> = {
    deadLetters: st.lastSA.deadLetters,
    contactId: st.contactId,
    taskId: st.taskId,
    lastMessageAt: st.lastInboundAt,
    state: next.state ?? st.lastSA.state,
    held: st.holds.filter((h) => h.held).length,
  };
  const changes: Parameters<typeof upsertSearchAttributes>[0] = [];
  if (wanted.contactId && wanted.contactId !== st.lastSA.contactId) changes.push({ key: SA.contactId, value: String(wanted.contactId) });
  if (wanted.taskId && wanted.taskId !== st.lastSA.taskId) changes.push({ key: SA.taskId, value: String(wanted.taskId) });
  if (wanted.lastMessageAt && wanted.lastMessageAt !== st.lastSA.lastMessageAt) {
    changes.push({ key: SA.lastMessageAt, value: new Date(String(wanted.lastMessageAt)) });
  }
  if (wanted.state && wanted.state !== st.lastSA.state) changes.push({ key: SA.state, value: String(wanted.state) });
  // Rule 23, for ops: `TwHeldBroadcasts > 0` lists the conversations holding messages.
  if (wanted.held !== (st.lastSA.held ?? 0)) changes.push({ key: SA.heldBroadcasts, value: Number(wanted.held) });
  // Issue 10, for ops: `TwDeadLetters > 0` lists the conversations that set events aside.
  if (st.deadLetters > 0 && st.deadLetters !== st.lastSA.deadLetters) {
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
