/**
 * The task thread: what every workflow that owns tasks (conversation, publication, lead) does the
 * same way with agent actions (workflow-side, deterministic). Agents comment, edit and complete /
 * reopen through Updates; a finished request is remembered so a retried update returns the first
 * outcome; sends go to the channel one at a time, in the order agents sent them; a failed send
 * becomes the agent's error and the comment's recorded failure.
 *
 * `Date.now()` here is the workflow sandbox's clock (the workflow task's time), deterministic on replay.
 */
import { ActivityFailure, ApplicationFailure, condition, defineUpdate, setHandler, workflowInfo } from '@temporalio/workflow';
import { FailureType } from './errors.js';
import type { ThreadActivities } from './thread-activities.js';
import type { WaitingReplies } from './waiting-replies.js';
import type {
  CommentResult,
  EditCommentRequest,
  PostCommentRequest,
  SetTaskStatusRequest,
  StartConversationResult,
  TaskResult,
} from './types.js';

/** Updates, not signals: the agent's HTTP call needs the outcome (sent, window closed, refused). */
export const postCommentUpdate = defineUpdate<CommentResult, [PostCommentRequest]>('postComment');
export const editCommentUpdate = defineUpdate<CommentResult, [EditCommentRequest]>('editComment');
export const setTaskStatusUpdate = defineUpdate<TaskResult, [SetTaskStatusRequest]>('setTaskStatus');

/**
 * Publications and leads run the thread as conversations do: edits wait in the send queue behind
 * earlier replies, and the idle timer is armed again right after a batch. Runs recorded before
 * did neither (`patched`, so their histories replay).
 */
export const TASK_THREAD_PATCH = 'task-thread';

export type RequestResult = CommentResult | TaskResult | StartConversationResult;
export type RecentRequests = Array<{ requestId: string; result: RequestResult }>;
export const MAX_RECENT_REQUESTS = 200;

/** The owner's activity clock: the idle timer counts from the last action; sends keep a run open. */
export interface ActivityClock {
  lastActivityMs: number;
  sendsInFlight: number;
  /** Other work the owner started that the run waits for before it ends (a new contact's profile). */
  backgroundInFlight?: number;
}

/** Sends and other started work: the run does not end while there is some. */
export function workInFlight(clock: ActivityClock): number {
  return clock.sendsInFlight + (clock.backgroundInFlight ?? 0);
}

/**
 * Runs `fn` once per request id. Update ids de-duplicate only within one run, so finished
 * requests are remembered (and carried across continue-as-new) by the owner.
 */
export async function once<T extends RequestResult>(recent: RecentRequests, clock: ActivityClock, requestId: string, fn: () => Promise<T>): Promise<T> {
  const done = recent.find((r) => r.requestId === requestId);
  if (done) return done.result as T;
  clock.lastActivityMs = Date.now();
  const result = await fn();
  recent.push({ requestId, result });
  if (recent.length > MAX_RECENT_REQUESTS) recent.splice(0, recent.length - MAX_RECENT_REQUESTS);
  return result;
}

/** A queue that runs channel sends one after another, whatever the outcome of the previous one. */
export function createSendQueue(clock: ActivityClock): <T>(fn: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>): Promise<T> => {
    clock.lastActivityMs = Date.now();
    clock.sendsInFlight++;
    const run = tail.then(fn, fn);
    tail = run.catch(() => undefined);
    return run.finally(() => {
      clock.sendsInFlight--;
      clock.lastActivityMs = Date.now();
    });
  };
}

/** Failure types an agent is told about as they are (the others become `retries_exhausted`). */
const NON_RETRYABLE: string[] = Object.values(FailureType);

interface FailureDescription {
  type: string;
  code: string | number;
  message: string;
  details: Record<string, unknown>;
}

/** Turns an activity failure into what the agent is told (and what the comment records). */
export function describeFailure(err: unknown): FailureDescription {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure && cause.type && NON_RETRYABLE.includes(cause.type)) {
    const details = (cause.details?.[0] ?? {}) as Record<string, unknown>;
    const code = (details.channelCode as string | number | undefined) ?? cause.type;
    return { type: cause.type, code, message: cause.message, details };
  }
  // Retries ran out (rate limits, outages) or the send timed out.
  const message = cause instanceof Error ? cause.message : 'the channel did not accept the message in time';
  return {
    type: FailureType.ChannelRefused,
    code: 'retries_exhausted',
    message: `the channel did not accept the message: ${message}`,
    details: { channelCode: 'retries_exhausted', channelMessage: message },
  };
}

/** Runs a channel call; its failure becomes the agent's (non-retryable) error. */
export async function channelCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const f = describeFailure(err);
    throw ApplicationFailure.nonRetryable(f.message, f.type, f.details);
  }
}

export interface TaskThreadOptions {
  channelId: string;
  activities: Pick<ThreadActivities, 'db' | 'channelOut'>;
  recent: RecentRequests;
  /** Edits wait in the send queue behind earlier replies (runs recorded before publications did so: false). */
  editsInSendOrder: boolean;
  /** The owner may still be writing the task (a lead's first run): actions wait until it is. */
  ready?: () => boolean;
  /** Checks a comment before it is accepted; by default: text or files. */
  validatePost?: (req: PostCommentRequest) => void;
  /** Before a comment is written: the reply window (judged once the queue got that far). */
  replyWindow?: (req: PostCommentRequest) => Promise<void>;
  /** Before a comment is written: the rows it needs (a conversation's contact). */
  rowsReady?: () => Promise<void>;
  /** A comment in `taskId` reached the person. */
  delivered?: (taskId: string) => void;
  /** Replies that wait (conversations, issue 13): scheduled or held replies are written, not sent. */
  waits?: Pick<WaitingReplies, 'plan' | 'accepted'>;
}

/**
 * Serves agent actions on the tasks a workflow owns: comments (sent to the person with
 * notifyContact), edits, complete / reopen. Register before the owner's first await. Returns
 * what the owner's own actions use: the clock, `once`, the send queue and `deliver`.
 */
export function serveTaskUpdates(o: TaskThreadOptions) {
  const { db, channelOut } = o.activities;
  const clock: ActivityClock = { lastActivityMs: Date.now(), sendsInFlight: 0 };
  const send = createSendQueue(clock);
  const onceFor = <T extends RequestResult>(requestId: string, fn: () => Promise<T>): Promise<T> => once(o.recent, clock, requestId, fn);

  /** Sends a comment's parts in order; the first refused part fails the comment. */
  async function deliver(commentId: string, deliveryIds: string[]): Promise<void> {
    for (const deliveryId of deliveryIds) {
      try {
        await channelOut.deliverPart({ deliveryId });
      } catch (err) {
        const failure = describeFailure(err);
        await db.markCommentFailed({ commentId, code: failure.code, message: failure.message });
        throw ApplicationFailure.nonRetryable(failure.message, failure.type, failure.details);
      }
    }
  }

  async function edit(req: EditCommentRequest): Promise<CommentResult> {
    await channelCall(() =>
      channelOut.editComment({ commentId: req.commentId, workflowId: workflowInfo().workflowId, text: req.text, editorEmployeeId: req.editorEmployeeId, requestId: req.requestId }),
    );
    return { commentId: req.commentId };
  }

  setHandler(
    postCommentUpdate,
    (req) =>
      onceFor(req.requestId, async () => {
        if (o.ready) await condition(o.ready);
        const wait = o.waits ? await o.waits.plan(req) : undefined;
        if (o.replyWindow && wait?.status !== 'held') await o.replyWindow(req);
        if (o.rowsReady) await o.rowsReady();
        const created = await db.createAgentComment({
          requestId: req.requestId,
          workflowId: workflowInfo().workflowId,
          channelId: o.channelId,
          taskId: req.taskId,
          authorEmployeeId: req.authorEmployeeId,
          text: req.text,
          notifyContact: req.notifyContact,
          files: req.files,
          template: wait?.invite ? undefined : req.template,
          replyToCommentId: req.replyToCommentId,
          ...(wait ? { wait: { status: wait.status, until: wait.until } } : {}),
        });
        if (wait) {
          await o.waits!.accepted(req, created.commentId, wait);
          return { commentId: created.commentId };
        }
        if (req.notifyContact && created.pendingDeliveryIds.length > 0) {
          await send(() => deliver(created.commentId, created.pendingDeliveryIds));
          o.delivered?.(req.taskId);
        }
        return { commentId: created.commentId };
      }),
    {
      validator: o.validatePost ?? validateComment,
      description: 'An agent comments on a task; with notifyContact the comment is sent to the person.',
    },
  );

  setHandler(
    editCommentUpdate,
    (req) => {
      const now = () => (o.editsInSendOrder ? send(() => edit(req)) : edit(req));
      const ready = o.ready;
      return onceFor(req.requestId, ready ? () => condition(ready).then(now) : now);
    },
    {
      validator: (req) => {
        if (!req.text.trim()) throw ApplicationFailure.nonRetryable('text must not be empty', FailureType.InvalidRequest, { field: 'text' });
      },
      description: 'An agent edits a comment; a sent message or reply is edited in the channel too.',
    },
  );

  setHandler(
    setTaskStatusUpdate,
    (req) =>
      onceFor(req.requestId, async () => {
        if (o.ready) await condition(o.ready);
        const r = await db.setTaskStatus({ taskId: req.taskId, workflowId: workflowInfo().workflowId, status: req.status });
        return { taskId: r.taskId };
      }),
    { description: 'Complete or reopen a task of this workflow.' },
  );

  return { clock, once: onceFor, send, deliver };
}

function validateComment(req: PostCommentRequest): void {
  if (!req.text.trim() && req.files.length === 0) throw ApplicationFailure.nonRetryable('a comment needs text or files', FailureType.InvalidRequest, { field: 'text' });
}

/**
 * De-duplication of channel events by their keys (redeliveries). `keys` is the owner's bounded
 * list, oldest first, carried across continue-as-new; returns whether an event is new (and
 * remembers it).
 */
export function seenKeys(keys: string[], max = 2000): (eventKeys: string[]) => boolean {
  const seen = new Set(keys);
  return (eventKeys) => {
    if (eventKeys.some((k) => seen.has(k))) return false;
    for (const k of eventKeys) {
      seen.add(k);
      keys.push(k);
    }
    if (keys.length > max) for (const old of keys.splice(0, keys.length - max)) seen.delete(old);
    return true;
  };
}
