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
import { lead, type LeadInput } from '../workflows/lead.js';
import { publication, publicationEventSignal, type PublicationInput } from '../workflows/publication.js';
import { SA, conversationStartOptions, leadWorkflowId, publicationWorkflowId } from '../workflows/shared/temporal.js';
import type { BroadcastPolicy, ChannelKind, ConversationEvent, ConversationInput, ConversationSeed, ConversationTiming, LeadEvent, PublicationCommentEvent, PublicationRef } from '../workflows/shared/types.js';
import { ApiError } from './errors.js';

export function conversationTiming(config: Config, kind: ChannelKind): ConversationTiming {
  return {
    replyWindowSeconds: kind === 'vk' ? config.VK_REPLY_WINDOW_SECONDS : config.WHATSAPP_REPLY_WINDOW_SECONDS,
    idleSeconds: config.CONVERSATION_IDLE_SECONDS,
    continueAsNewAfterEvents: config.CONVERSATION_CONTINUE_AS_NEW_EVENTS,
    broadcast: broadcastPolicy(config),
  };
}

export function broadcastPolicy(config: Config): BroadcastPolicy {
  return {
    windowSeconds: config.BROADCAST_WINDOW_SECONDS,
    threshold: config.BROADCAST_THRESHOLD,
    retentionSeconds: config.BROADCAST_RETENTION_SECONDS,
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
  return conversationStartOptions(config.TEMPORAL_TASK_QUEUE, ref.channelExternalId, input);
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

export interface ChannelRef {
  channelId: string;
  channelKind: ChannelKind;
  channelExternalId: string;
}

function publicationStart(config: Config, ch: ChannelRef, ref: PublicationRef) {
  const input: PublicationInput = { channelId: ch.channelId, channelKind: ch.channelKind, ref, timing: conversationTiming(config, ch.channelKind) };
  return {
    workflowId: publicationWorkflowId(ch.channelKind, ch.channelExternalId, ref),
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    args: [input] as [PublicationInput],
    typedSearchAttributes: [
      { key: SA.channel, value: ch.channelKind },
      { key: SA.channelId, value: ch.channelId },
    ],
    staticSummary: `comments under ${ref.kind} ${ref.ownerId}_${ref.itemId}`,
  };
}

/** Rule 17: hands a publication comment event to the publication's workflow. */
export async function signalPublication(client: Client, config: Config, ch: ChannelRef, ref: PublicationRef, event: PublicationCommentEvent): Promise<void> {
  await client.withDeadline(Date.now() + SIGNAL_DEADLINE_MS, () =>
    client.workflow.signalWithStart(publication, { ...publicationStart(config, ch, ref), signal: publicationEventSignal, signalArgs: [event] }),
  );
}

function leadStart(config: Config, ch: ChannelRef, l: LeadEvent) {
  const input: LeadInput = { channelId: ch.channelId, channelKind: ch.channelKind, lead: l, timing: conversationTiming(config, ch.channelKind) };
  return {
    workflowId: leadWorkflowId(ch.channelKind, ch.channelExternalId, l.leadId),
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    args: [input] as [LeadInput],
    typedSearchAttributes: [
      { key: SA.channel, value: ch.channelKind },
      { key: SA.channelId, value: ch.channelId },
    ],
    staticSummary: `lead ${l.leadId}: ${l.formName}`,
  };
}

/**
 * Rule 21: starts the lead's workflow. A redelivered lead finds its workflow open (nothing
 * happens) or closed — then a new run finds the task already written (idempotent by lead id).
 */
export async function startLead(client: Client, config: Config, ch: ChannelRef, l: LeadEvent): Promise<void> {
  await client.withDeadline(Date.now() + SIGNAL_DEADLINE_MS, async () => {
    await client.workflow.start(lead, { ...leadStart(config, ch, l), workflowIdConflictPolicy: 'USE_EXISTING' });
  });
}

/** An agent action on a publication or lead task: update-with-start on the task's owner workflow. */
export async function updateTaskOwner<Ret, Args extends [unknown, ...unknown[]]>(
  client: Client,
  config: Config,
  ch: ChannelRef,
  owner: { kind: 'publication'; ref: PublicationRef } | { kind: 'lead'; lead: LeadEvent },
  update: UpdateDefinition<Ret, Args>,
  args: Args,
  requestId: string,
): Promise<Ret> {
  const op =
    owner.kind === 'publication'
      ? new WithStartWorkflowOperation(publication, { ...publicationStart(config, ch, owner.ref), workflowIdConflictPolicy: 'USE_EXISTING' })
      : new WithStartWorkflowOperation(lead, { ...leadStart(config, ch, owner.lead), workflowIdConflictPolicy: 'USE_EXISTING' });
  try {
    return await client.withDeadline(Date.now() + UPDATE_WAIT_MS, () =>
      client.workflow.executeUpdateWithStart(update, { args, updateId: requestId, startWorkflowOperation: op as WithStartWorkflowOperation<typeof publication> }),
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
