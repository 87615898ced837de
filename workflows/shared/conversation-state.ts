/**
 * The conversation workflow's state: what a run starts from (its input's seed, or what the run
 * before it carried over continue-as-new) and what it carries to the next run. Workflow code:
 * deterministic.
 */
import type { CarriedConversationState, ConversationInput, HoldRef } from './types.js';

export interface ConversationState extends CarriedConversationState {
  processed: number;
  lastSA: Record<string, unknown>;
  holds: HoldRef[];
  holdingOnly: boolean;
  deadLetters: number;
  /** Settling holds failed: not before this time again. */
  holdsRetryAtMs?: number;
  lastMessageStepMs?: number;
  waitingReplies: NonNullable<CarriedConversationState['waitingReplies']>;
}

export function initialState(input: ConversationInput): ConversationState {
  const c = input.carried;
  return {
    contactId: c?.contactId ?? input.seed?.contactId,
    displayName: c?.displayName,
    taskId: c?.taskId,
    lastInboundAt: c?.lastInboundAt ?? input.seed?.lastInboundAt,
    messagesAllowed: c?.messagesAllowed ?? input.seed?.messagesAllowed,
    pending: c?.pending ?? [],
    holds: c?.holds ?? [],
    holdingOnly: c?.holdingOnly ?? false,
    seenKeys: c?.seenKeys ?? [],
    recentRequests: c?.recentRequests ?? [],
    deadLetters: c?.deadLetters ?? 0,
    waitingReplies: c?.waitingReplies ?? [],
    processed: 0,
    lastSA: {},
  };
}

/** What the next run (continue-as-new) starts from. */
export function carry(st: ConversationState): CarriedConversationState {
  return {
    contactId: st.contactId,
    displayName: st.displayName,
    taskId: st.taskId,
    lastInboundAt: st.lastInboundAt,
    messagesAllowed: st.messagesAllowed,
    pending: st.pending,
    holds: st.holds,
    seenKeys: st.seenKeys,
    recentRequests: st.recentRequests,
    ...(st.deadLetters ? { deadLetters: st.deadLetters } : {}),
    ...(st.waitingReplies.length ? { waitingReplies: st.waitingReplies } : {}),
  };
}
