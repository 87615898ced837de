/**
 * Replies that wait (issue 13), kept by the conversation workflow: scheduled replies (`sendAt`, the
 * channel's `undoSendSeconds`) go out when due, in the order they were due; replies held for a
 * closed reply window (`whenWindowClosed: "hold"`) go out right after the person's next message is
 * recorded, in the order they were posted, or expire. One durable timer to the earliest deadline.
 *
 * Whether a reply goes out or is cancelled is decided here, in workflow code, synchronously: the
 * reply leaves `refs` either when it is released (then a cancel answers `already_sent`) or when it
 * is cancelled (then it is never released). Workflow code: deterministic; payloads are ids.
 */
import { ApplicationFailure, condition, defineUpdate, log, patched, setHandler, workflowInfo } from '@temporalio/workflow';
import { FailureType } from './errors.js';
import { failureSummary, untilDatabaseAnswers } from './retry.js';
import { deadlineTimer } from './hold-timer.js';
import { channelCapabilities, closedReplyWindow, type ReplyWindowState } from './reply-policy.js';
import type { ActivityClock } from './task-thread.js';
import type { ThreadActivities } from './thread-activities.js';
import type { WaitEnd } from '../../activities/waiting-replies.js';
import { isWaitingStatus, type CancelCommentRequest, type CommentResult, type ConversationInput, type PostCommentRequest, type WaitingReplyRef } from './types.js';

export const cancelCommentUpdate = defineUpdate<CommentResult, [CancelCommentRequest]>('cancelComment');

/** Runs recorded before issue 13 never took a reply that waits; new ones mark their history. */
export const WAITING_REPLIES_PATCH = 'replies-that-wait';

/** HELD_REPLY_RETENTION_SECONDS by default: 30 days. */
export const DEFAULT_HELD_REPLY_RETENTION_SECONDS = 2_592_000;

/** How a reply waits, decided when it is posted. */
export interface WaitPlan {
  status: 'scheduled' | 'held';
  /** ISO: send time (scheduled) or expiry (held). */
  until: string;
  hold: boolean;
  /** Held on a channel with templates: this template goes out at once to invite the answer. */
  invite?: NonNullable<PostCommentRequest['template']>;
}

/** What the thread hands over once it exists (its send queue, `once`, `deliver`). */
export interface ThreadHandle {
  clock: ActivityClock;
  send: <T>(fn: () => Promise<T>) => Promise<T>;
  deliver(commentId: string, deliveryIds: string[]): Promise<void>;
  once<T extends CommentResult>(requestId: string, fn: () => Promise<T>): Promise<T>;
}

/** The parts of a conversation's state the replies that wait read (live: mutated by the owner). */
export interface WaitingRepliesState extends ReplyWindowState {
  /** The carried list of replies that wait, in the order they were posted. */
  waitingReplies: WaitingReplyRef[];
  /** Queued channel events and how many were recorded (a queued message may open the window). */
  pending: unknown[];
  processed: number;
}

export interface WaitingRepliesOptions {
  /** The conversation's input: channel, capabilities (reply window, templates), timing (window length, HELD_REPLY_RETENTION_SECONDS). */
  input: Pick<ConversationInput, 'channelId' | 'channelKind' | 'capabilities' | 'timing'>;
  st: WaitingRepliesState;
  activities: Pick<ThreadActivities, 'db'>;
  /** A reply reached the person. */
  delivered(): void;
}

export type WaitingReplies = ReturnType<typeof waitingReplies>;

export function waitingReplies(o: WaitingRepliesOptions) {
  const { db } = o.activities;
  const { st, input } = o;
  const refs = st.waitingReplies;
  const capabilities = channelCapabilities(input);
  const retentionMs = (input.timing.heldReplyRetentionSeconds ?? DEFAULT_HELD_REPLY_RETENTION_SECONDS) * 1000;
  /** Is the reply window closed now for such a reply? (A template passes it where the channel has templates.) */
  const windowClosed = (reply: { template: boolean }) =>
    !(reply.template && capabilities.templates) && closedReplyWindow(capabilities, st, input.timing.replyWindowSeconds, Date.now()) !== null;
  let thread: ThreadHandle | undefined;
  const timer = deadlineTimer({
    any: () => refs.length > 0,
    nextMs: () => Math.min(...refs.map((r) => Date.parse(r.dueAt))),
    summary: () => `replies that wait: ${refs.filter((r) => r.status === 'scheduled').length} scheduled, ${refs.filter((r) => r.status === 'held').length} held`,
  });
  const heldUntil = () => new Date(Date.now() + retentionMs).toISOString();
  const workflowId = () => workflowInfo().workflowId;

  /** Takes the reply out of the list: from here on it is decided (sent, or not). */
  function take(ref: WaitingReplyRef): boolean {
    const i = refs.indexOf(ref);
    if (i < 0) return false;
    refs.splice(i, 1);
    return true;
  }

  /** Writes how a wait ended; the database being down is waited out. Whether the reply still waited. */
  async function settle(commentId: string, status: WaitEnd, more: { heldUntil?: string; error?: { code: string; message: string } } = {}): Promise<boolean> {
    const r = await untilDatabaseAnswers(() => db.settleWaitingReply({ commentId, workflowId: workflowId(), status, ...more }));
    if (!r.ok) log.error('a reply that waits could not be updated', { commentId, status, ...failureSummary(r.failure) });
    return r.ok && r.value;
  }

  /** Queues the reply behind the conversation's other sends; its failure shows on the comment. */
  function release(ref: WaitingReplyRef): void {
    const t = thread!;
    void t
      .send(async () => {
        // The database being down is waited out: a reply that was due is never dropped.
        const released = await untilDatabaseAnswers(() => db.releaseWaitingReply({ commentId: ref.commentId, workflowId: workflowId() }));
        if (!released.ok) throw released.failure;
        await t.deliver(ref.commentId, released.value.pendingDeliveryIds);
        if (released.value.pendingDeliveryIds.length) o.delivered();
      })
      .catch((err: unknown) => log.warn('a reply that waited was not sent', { commentId: ref.commentId, error: String(err) }));
  }

  /** A scheduled reply comes due: sent, held (window closed, hold asked), or failed (window closed). */
  async function due(ref: WaitingReplyRef): Promise<void> {
    if (ref.status === 'held') {
      await settle(ref.commentId, 'expired');
      return;
    }
    if (!windowClosed({ template: ref.template === true })) return release(ref);
    if (ref.hold) {
      const held: WaitingReplyRef = { ...ref, status: 'held', dueAt: heldUntil() };
      refs.push(held);
      await settle(ref.commentId, 'held', { heldUntil: held.dueAt });
      return;
    }
    await settle(ref.commentId, 'failed', { error: { code: 'reply_window_closed', message: 'the reply window was closed when the scheduled reply was due' } });
  }

  return {
    timer,
    count: () => refs.length,

    /** Registers the cancel update; call right after the thread exists (before the first await). */
    serve(t: ThreadHandle): void {
      thread = t;
      setHandler(
        cancelCommentUpdate,
        (req) =>
          t.once(req.requestId, async () => {
            const ref = refs.find((r) => r.commentId === req.commentId);
            if (ref && take(ref)) {
              // The main loop looks again: nothing left waiting, the idle rule applies again.
              timer.due = true;
              await db.settleWaitingReply({ commentId: req.commentId, workflowId: workflowId(), status: 'cancelled' });
              return { commentId: req.commentId };
            }
            const status = await db.waitingReplyStatus({ commentId: req.commentId, workflowId: workflowId() });
            if (status === 'cancelled') return { commentId: req.commentId };
            // Written as waiting, but this run does not keep it (its ref was lost, e.g. a terminated run):
            // it can never go out — cancelled, if it still waits in the database.
            if (isWaitingStatus(status) && (await db.settleWaitingReply({ commentId: req.commentId, workflowId: workflowId(), status: 'cancelled' }))) {
              return { commentId: req.commentId };
            }
            throw ApplicationFailure.nonRetryable(`the reply no longer waits (it is ${status ?? 'not a reply'})`, FailureType.NotSupported, {
              code: 'already_sent',
              deliveryStatus: status,
            });
          }),
        { description: 'Cancel a reply that waits (scheduled or held): it is never sent; once it went out: already_sent.' },
      );
      timer.arm();
    },

    /** How a notifying reply waits, if it does: held for a closed window, or scheduled. */
    async plan(req: PostCommentRequest): Promise<WaitPlan | undefined> {
      if (!req.notifyContact) return undefined;
      const hold = req.whenWindowClosed === 'hold';
      const sendAtMs = req.sendAt ? Date.parse(req.sendAt) : Number.NaN;
      const scheduled = sendAtMs > Date.now();
      if (!hold && !scheduled) return undefined;
      if (!patched(WAITING_REPLIES_PATCH)) return undefined;
      // A held reply is its text and files; a template alone goes out now (templates pass the window).
      const content = req.text.trim() !== '' || req.files.length > 0;
      if (hold && content && windowClosed({ template: false })) {
        // Judged after the events queued when the reply came are recorded (one may open the window).
        const upTo = st.processed + st.pending.length;
        await condition(() => st.processed >= upTo);
        if (windowClosed({ template: false })) {
          const invite = req.template && capabilities.templates ? req.template : undefined;
          return { status: 'held', until: heldUntil(), hold, ...(invite ? { invite } : {}) };
        }
      }
      return scheduled ? { status: 'scheduled', until: new Date(sendAtMs).toISOString(), hold } : undefined;
    },

    /** The reply is written (waiting): keep it, and send the template that invites the answer. */
    async accepted(req: PostCommentRequest, commentId: string, plan: WaitPlan): Promise<void> {
      refs.push({
        commentId,
        status: plan.status,
        dueAt: plan.until,
        ...(plan.hold ? { hold: true } : {}),
        ...(req.template && !plan.invite ? { template: true } : {}),
      });
      timer.arm();
      if (!plan.invite) return;
      const t = thread!;
      const invite = await db.createAgentComment({
        requestId: `${req.requestId}:invite`,
        workflowId: workflowId(),
        channelId: input.channelId,
        taskId: req.taskId,
        authorEmployeeId: req.authorEmployeeId,
        text: '',
        notifyContact: true,
        files: [],
        template: plan.invite,
      });
      // The invitation's failure shows on its own comment; the held reply waits on.
      await t.send(() => t.deliver(invite.commentId, invite.pendingDeliveryIds)).catch(() => undefined);
    },

    /** The main loop: replies due now go out (or expire), in the order they were due. */
    async runDue(): Promise<void> {
      timer.due = false;
      const now = Date.now();
      const dueNow = refs
        .map((ref, i) => ({ ref, i }))
        .filter(({ ref }) => Date.parse(ref.dueAt) <= now)
        .sort((a, b) => Date.parse(a.ref.dueAt) - Date.parse(b.ref.dueAt) || a.i - b.i)
        .map(({ ref }) => ref);
      for (const ref of dueNow) if (take(ref)) await due(ref);
      timer.arm();
    },

    /** The person's message was recorded: held replies go out now, in order, if the window opened. */
    windowMayHaveOpened(): void {
      if (!refs.some((r) => r.status === 'held') || windowClosed({ template: false })) return;
      for (const ref of refs.filter((r) => r.status === 'held')) if (take(ref)) release(ref);
    },
  };
}
