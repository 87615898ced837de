/**
 * How the API hands state changes to conversation workflows: signal-with-start for channel
 * events, update-with-start for agent actions. The API never calls a channel itself.
 */
import {
  WithStartWorkflowOperation,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
} from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import type { Config } from '../runtime/config.js';
import { conversation, conversationEventSignal } from '../workflows/conversation.js';
import { SA, conversationWorkflowId } from '../workflows/shared/temporal.js';
import type { ChannelKind, ConversationEvent, ConversationInput, ConversationSeed, ConversationTiming } from '../workflows/shared/types.js';
import { ApiError } from './errors.js';

export function conversationTiming(config: Config, kind: ChannelKind): ConversationTiming {
  return {
    replyWindowSeconds: kind === 'vk' ? config.VK_REPLY_WINDOW_SECONDS : config.WHATSAPP_REPLY_WINDOW_SECONDS,
    idleSeconds: config.CONVERSATION_IDLE_SECONDS,
    continueAsNewAfterEvents: config.CONVERSATION_CONTINUE_AS_NEW_EVENTS,
  };
}

export interface ConversationRef {
  channelId: string;
  channelKind: ChannelKind;
  channelExternalId: string;
  peerId: string;
}

function startOptions(config: Config, ref: ConversationRef, seed?: ConversationSeed) {
  const input: ConversationInput = {
    channelId: ref.channelId,
    channelKind: ref.channelKind,
    peerId: ref.peerId,
    timing: conversationTiming(config, ref.channelKind),
    seed,
  };
  return {
    workflowId: conversationWorkflowId(ref.channelKind, ref.channelExternalId, ref.peerId),
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    args: [input] as [ConversationInput],
    typedSearchAttributes: [
      { key: SA.channel, value: ref.channelKind },
      { key: SA.channelId, value: ref.channelId },
    ],
    staticSummary: `${ref.channelKind} conversation with ${ref.peerId}`,
  };
}

/** A webhook waits this long for Temporal before answering 503 (the channel then retries). */
export const SIGNAL_DEADLINE_MS = 5_000;

/** Durably hands a channel event to its conversation (starting a run if none is open). */
export async function signalConversation(client: Client, config: Config, ref: ConversationRef, event: ConversationEvent): Promise<void> {
  await client.withDeadline(Date.now() + SIGNAL_DEADLINE_MS, () =>
    client.workflow.signalWithStart(conversation, {
      ...startOptions(config, ref),
      signal: conversationEventSignal,
      signalArgs: [event],
    }),
  );
}

/** How long an agent's HTTP call waits for the channel before answering 202 (still pending). */
export const UPDATE_WAIT_MS = 60_000;

export class UpdateStillRunning extends Error {}

/**
 * Runs an agent action as an update (update-with-start when no run is open). Failures thrown by
 * the workflow become contract errors through api/errors.ts; a wait that outlasts UPDATE_WAIT_MS
 * throws UpdateStillRunning (the update goes on; retrying with the same request id is safe).
 */
export async function updateConversation<Ret, Args extends [unknown, ...unknown[]]>(
  client: Client,
  config: Config,
  ref: ConversationRef,
  seed: ConversationSeed,
  update: UpdateDefinition<Ret, Args>,
  args: Args,
  requestId: string,
): Promise<Ret> {
  const op = new WithStartWorkflowOperation(conversation, { ...startOptions(config, ref, seed), workflowIdConflictPolicy: 'USE_EXISTING' });
  try {
    return await client.withDeadline(Date.now() + UPDATE_WAIT_MS, () =>
      client.workflow.executeUpdateWithStart(update, { args, updateId: requestId, startWorkflowOperation: op }),
    );
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) throw err.cause ?? err;
    if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) throw new UpdateStillRunning(requestId);
    throw err;
  }
}

export function requireOpenConversation(target: { peerId: string | null; kind: string }): asserts target is { peerId: string; kind: 'conversation' } {
  if (target.kind !== 'conversation' || !target.peerId) {
    throw new ApiError(409, 'not_supported', 'this task is not a private conversation');
  }
}
