/**
 * How the API hands state changes to conversation workflows: signal-with-start for channel
 * events, update-with-start for agent actions. The API never calls a channel itself.
 */
import {
  WithStartWorkflowOperation,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  WorkflowUpdateStage,
  type Client,
  type WorkflowUpdateHandle,
} from '@temporalio/client';
import { WorkflowNotFoundError, type UpdateDefinition } from '@temporalio/common';
import { channelDefinition } from '../channels/index.js';
import { conversationStartOptions, leadWorkflowId, publicationWorkflowId } from '../channels/workflow-ids.js';
import type { Config } from '../runtime/config.js';
import type { Logger } from '../runtime/logger.js';
import { conversation, conversationEventSignal } from '../workflows/conversation.js';
import { lead, type LeadInput } from '../workflows/lead.js';
import { publication, publicationEventSignal, type PublicationInput } from '../workflows/publication.js';
import { SA } from '../workflows/shared/temporal.js';
import type { BroadcastPolicy, ChannelKind, ConversationEvent, ConversationInput, ConversationSeed, ConversationTiming, LeadEvent, PublicationCommentEvent, PublicationRef } from '../workflows/shared/types.js';
import { ApiError, isTemporalUnavailable } from './errors.js';

export function conversationTiming(config: Config, kind: ChannelKind): ConversationTiming {
  return {
    // A channel without a reply window never closes it (its capabilities say so): the length is unused.
    replyWindowSeconds: channelDefinition(kind).replyWindowSeconds?.(config) ?? 0,
    idleSeconds: config.CONVERSATION_IDLE_SECONDS,
    continueAsNewAfterEvents: config.CONVERSATION_CONTINUE_AS_NEW_EVENTS,
    broadcast: broadcastPolicy(config),
    heldReplyRetentionSeconds: config.HELD_REPLY_RETENTION_SECONDS,
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

function startOptions(config: Config, ref: ConversationRef, seed?: ConversationSeed, displayName?: string) {
  const input: ConversationInput = {
    channelId: ref.channelId,
    channelKind: ref.channelKind,
    peerId: ref.peerId,
    timing: conversationTiming(config, ref.channelKind),
    seed,
  };
  return conversationStartOptions(config.TEMPORAL_TASK_QUEUE, ref.channelExternalId, input, { displayName });
}

/** A webhook waits this long for Temporal before answering 503 (the channel then retries). */
export const SIGNAL_DEADLINE_MS = 5_000;

/** Durably hands a channel event to its conversation (starting a run if none is open). */
export async function signalConversation(client: Client, config: Config, ref: ConversationRef, event: ConversationEvent): Promise<void> {
  await client.withDeadline(Date.now() + SIGNAL_DEADLINE_MS, () =>
    client.workflow.signalWithStart(conversation, {
      ...startOptions(config, ref, undefined, 'profile' in event ? event.profile?.name : undefined),
      signal: conversationEventSignal,
      signalArgs: [event],
    }),
  );
}

/** Where an update was sent: enough to wait for it again (a retried request) without re-sending it. */
export interface UpdateRef {
  workflowId: string;
  runId?: string;
  updateId: string;
}

/**
 * How far an agent action got by the deadline: finished (with the workflow's result), or durably
 * accepted by the workflow and still running (it will finish; its outcome shows later).
 */
export type UpdateProgress<R> = { state: 'completed'; result: R; ref: UpdateRef } | { state: 'accepted'; ref: UpdateRef };

/**
 * Temporal took the request, but the workflow had not accepted the update by the deadline (its
 * worker is down or busy): it may still run. Nothing is known to be done, so this is a 503 — and a
 * retry with the same Idempotency-Key (same update id) joins it instead of acting twice.
 */
export class UpdateNotAccepted extends ApiError {
  constructor(readonly ref: UpdateRef) {
    super(
      503,
      'unavailable',
      'the conversation has not taken the request yet (its worker is down or busy); it may still take it: retry with the same Idempotency-Key (given back in the Idempotency-Key header), which never acts twice',
      { reason: 'not_accepted' },
    );
  }
}

/** One agent action as a workflow update: the update, its arguments, its id (the request's) and until when to wait. */
interface UpdateCall<Ret, Args extends [unknown, ...unknown[]]> {
  update: UpdateDefinition<Ret, Args>;
  args: Args;
  updateId: string;
  deadline: number;
}

/**
 * Sends an update (starting the workflow when no run is open) and waits for it until `deadline`
 * (ms since the epoch). Failures thrown by the workflow (also a validator's refusal) become contract
 * errors through api/errors.ts; a Temporal that cannot be reached at all is a 503 (nothing was sent).
 */
async function issueUpdate<Ret, Args extends [unknown, ...unknown[]], W extends Parameters<Client['workflow']['startUpdateWithStart']>[1]['startWorkflowOperation']>(
  client: Client,
  op: W,
  { update, args, updateId, deadline }: UpdateCall<Ret, Args>,
): Promise<UpdateProgress<Ret>> {
  let handle: WorkflowUpdateHandle<Ret>;
  try {
    handle = await client.withDeadline(deadline, () =>
      client.workflow.startUpdateWithStart(update, { args, updateId, startWorkflowOperation: op, waitForStage: WorkflowUpdateStage.ACCEPTED }),
    );
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) throw err.cause ?? err;
    // Did Temporal answer at all? Then the update was admitted (it may run later): not "nothing done".
    const started = await op.workflowHandle().then((h) => h, () => undefined);
    if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError || (started && isTemporalUnavailable(err))) {
      throw new UpdateNotAccepted({ workflowId: op.options.workflowId, runId: (started as { firstExecutionRunId?: string } | undefined)?.firstExecutionRunId, updateId });
    }
    throw err;
  }
  return waitForUpdate(client, handle, deadline);
}

async function waitForUpdate<Ret>(client: Client, handle: WorkflowUpdateHandle<Ret>, deadline: number): Promise<UpdateProgress<Ret>> {
  const ref: UpdateRef = { workflowId: handle.workflowId, runId: handle.workflowRunId, updateId: handle.updateId };
  try {
    return { state: 'completed', result: await client.withDeadline(deadline, () => handle.result()), ref };
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) throw err.cause ?? err;
    // Accepted is durable: the update runs even if we stop waiting, or Temporal went away meanwhile.
    if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError || isTemporalUnavailable(err)) return { state: 'accepted', ref };
    throw err;
  }
}

/**
 * Waits again, until `deadline`, for an update an earlier attempt of the same request saw accepted.
 * undefined: Temporal does not know it — send it again with the same id.
 */
export async function attachUpdate<Ret>(client: Client, ref: UpdateRef, deadline: number): Promise<UpdateProgress<Ret> | undefined> {
  const handle = client.workflow.getHandle(ref.workflowId, ref.runId).getUpdateHandle<Ret>(ref.updateId, { workflowRunId: ref.runId });
  try {
    // Only accepted updates are waited for again: accepted they stay, whether or not Temporal answers now.
    return await waitForUpdate(client, handle, deadline);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

/** Runs an agent action on a conversation as an update (update-with-start when no run is open). */
export async function updateConversation<Ret, Args extends [unknown, ...unknown[]]>(
  client: Client,
  config: Config,
  ref: ConversationRef,
  seed: ConversationSeed,
  update: UpdateDefinition<Ret, Args>,
  args: Args,
  requestId: string,
  deadline: number,
): Promise<UpdateProgress<Ret>> {
  const op = new WithStartWorkflowOperation(conversation, { ...startOptions(config, ref, seed), workflowIdConflictPolicy: 'USE_EXISTING' });
  return issueUpdate(client, op, { update, args, updateId: requestId, deadline });
}

/**
 * Until the row an accepted update writes (its comment) exists — or the update finishes — up to
 * `deadline`. A conversation can be behind (earlier messages still being recorded, the database
 * down): the action is accepted and will happen, but there is nothing to show yet. Read errors
 * count as "not yet"; a failure of the update (e.g. the window still closed) is thrown.
 */
async function awaitRow<Row, Ret>(
  client: Client,
  progress: UpdateProgress<Ret>,
  find: () => Promise<Row | undefined>,
  deadline: number,
): Promise<{ row?: Row; progress: UpdateProgress<Ret> }> {
  let settled: UpdateProgress<Ret> | { failed: unknown } | undefined = progress.state === 'completed' ? progress : undefined;
  if (!settled) {
    void attachUpdate<Ret>(client, progress.ref, deadline).then(
      (p) => (settled = p ?? progress),
      (err: unknown) => (settled = { failed: err }),
    );
  }
  for (;;) {
    const row = await find().catch(() => undefined);
    if (row) return { row, progress: settled && !('failed' in settled) ? settled : progress };
    if (settled && 'failed' in settled) throw settled.failed;
    if (settled && settled.state === 'completed') return { progress: settled };
    if (Date.now() >= deadline) return { progress };
    await new Promise((r) => setTimeout(r, Math.min(250, Math.max(0, deadline - Date.now()))));
  }
}

/** A read after a change was made: a failure (database down) means "cannot show it now", never a 5xx. */
export async function readAfterChange<T>(logger: Logger, read: () => Promise<T | undefined>): Promise<T | undefined> {
  try {
    return await read();
  } catch (err) {
    logger.warn({ err }, 'read after a change failed; answering with what is known');
    return undefined;
  }
}

/**
 * What an agent action can show once its update finished or the wait ran out: the row it wrote
 * (`find`, by the update's result when completed, else by the request), read after the change —
 * so a failing read means "cannot show it now", never a 5xx. An accepted update whose row is not
 * written yet gets up to `extraDeadline` more.
 */
export async function rowAfterUpdate<Row, Ret>(
  client: Client,
  logger: Logger,
  progress: UpdateProgress<Ret>,
  find: (p: UpdateProgress<Ret>) => Promise<Row | undefined>,
  extraDeadline: number,
): Promise<{ row?: Row; progress: UpdateProgress<Ret> }> {
  const soft = (p: UpdateProgress<Ret>) => readAfterChange(logger, () => find(p));
  let row = await soft(progress);
  if (row || progress.state === 'completed') return { row, progress };
  const later = await awaitRow<Row, Ret>(client, progress, () => find(progress), extraDeadline);
  if (!later.row && later.progress.state === 'completed') row = await soft(later.progress);
  return { row: later.row ?? row, progress: later.progress };
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
  deadline: number,
): Promise<UpdateProgress<Ret>> {
  const op =
    owner.kind === 'publication'
      ? new WithStartWorkflowOperation(publication, { ...publicationStart(config, ch, owner.ref), workflowIdConflictPolicy: 'USE_EXISTING' })
      : new WithStartWorkflowOperation(lead, { ...leadStart(config, ch, owner.lead), workflowIdConflictPolicy: 'USE_EXISTING' });
  return issueUpdate(client, op as WithStartWorkflowOperation<typeof publication>, { update, args, updateId: requestId, deadline });
}

export function requireOpenConversation(target: { peerId: string | null; kind: string }): asserts target is { peerId: string; kind: 'conversation' } {
  if (target.kind !== 'conversation' || !target.peerId) {
    throw new ApiError(409, 'not_supported', 'this task is not a private conversation');
  }
}
