/**
 * One entity workflow per VK publication thread: `publication/<channel>/<kind>/<owner>_<id>`
 * (rules 17–19). Comments are queued and recorded in order, de-duplicated by their keys; the
 * publication is fetched once, when its first comment creates the task. Agent replies (wall
 * posts only) are Updates, like in conversations. Idle runs complete; the next event restarts.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  defineSignal,
  makeContinueAsNewFunc,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { proxySerialLocalActivities } from './shared/local-activities.js';
import { editCommentUpdate, postCommentUpdate, setTaskStatusUpdate } from './conversation.js';
import { FailureType } from './shared/errors.js';
import { deadLetters } from './shared/dead-letters.js';
import { CHANNEL_IN_RETRY, CHANNEL_OUT_RETRY, DB_RETRY, contactOrPlaceholder, missingFiles, untilDatabaseAnswers } from './shared/retry.js';
import { placeholderPublication } from './shared/types.js';
import { channelTaskQueue } from './shared/temporal.js';
import { createSendQueue, once, type ActivityClock } from './task-thread.js';
import type { ChannelKind, CommentResult, ConversationTiming, PublicationCommentEvent, PublicationRef, TaskResult } from './shared/types.js';

export const publicationEventSignal = defineSignal<[PublicationCommentEvent]>('publicationEvent');

export interface PublicationInput {
  channelId: string;
  channelKind: ChannelKind;
  ref: PublicationRef;
  timing: ConversationTiming;
  carried?: { pending: PublicationCommentEvent[]; seenKeys: string[]; recentRequests: Array<{ requestId: string; result: CommentResult | TaskResult }> };
}

const NON_RETRYABLE = Object.values(FailureType);
const MAX_SEEN_KEYS = 2000;

export async function publication(input: PublicationInput): Promise<void> {
  const pending: PublicationCommentEvent[] = input.carried?.pending ?? [];
  const seenKeys: string[] = input.carried?.seenKeys ?? [];
  const seen = new Set(seenKeys);
  const recent = input.carried?.recentRequests ?? [];

  // Bounded retries; failures contained as in conversations (workflows/shared/retry.ts).
  const db = proxySerialLocalActivities<Activities>({ startToCloseTimeout: '30 seconds', localRetryThreshold: '10 seconds', retry: DB_RETRY });
  const queue = channelTaskQueue(workflowInfo().taskQueue, input.channelKind);
  const channelIn = proxyActivities<Activities>({ taskQueue: queue, startToCloseTimeout: '2 minutes', retry: CHANNEL_IN_RETRY });
  const channelOut = proxyActivities<Activities>({ taskQueue: queue, startToCloseTimeout: '1 minute', heartbeatTimeout: '5 seconds', scheduleToCloseTimeout: '5 minutes', retry: CHANNEL_OUT_RETRY });
  const deadLetter = deadLetters(db.recordDeadLetter, {
    channelId: input.channelId,
    workflowId: workflowInfo().workflowId,
    workflowType: 'publication',
    target: { type: 'publication', ref: input.ref },
  });

  setHandler(publicationEventSignal, (event) => {
    if (event.keys.some((k) => seen.has(k))) return;
    for (const k of event.keys) {
      seen.add(k);
      seenKeys.push(k);
    }
    if (seenKeys.length > MAX_SEEN_KEYS) for (const old of seenKeys.splice(0, seenKeys.length - MAX_SEEN_KEYS)) seen.delete(old);
    pending.push(event);
  });

  const thread = serveTaskUpdates({ channelId: input.channelId, db, channelOut, recent });

  const idleMs = input.timing.idleSeconds * 1000;
  let idleFired = false;
  const armIdle = () => {
    idleFired = false;
    void sleep(Math.max(50, thread.lastActivityMs() + idleMs - Date.now())).then(() => (idleFired = true));
  };
  armIdle();

  for (;;) {
    await condition(() => pending.length > 0 || idleFired);
    if (pending.length > 0) {
      await processBatch(pending.slice(0, 50));
      thread.touch();
    } else if (Date.now() < thread.lastActivityMs() + idleMs || thread.sendsInFlight() > 0) {
      armIdle();
    } else {
      await condition(allHandlersFinished);
      if (pending.length === 0 && thread.sendsInFlight() === 0) return;
      armIdle();
    }
    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength > input.timing.continueAsNewAfterEvents) {
      await condition(() => allHandlersFinished() && thread.sendsInFlight() === 0);
      return makeContinueAsNewFunc<typeof publication>({ memo: workflowInfo().memo })({ ...input, carried: { pending, seenKeys, recentRequests: recent } });
    }
  }

  /**
   * Records a batch of comment events in order. A commenter whose profile cannot be fetched gets a
   * placeholder name, a file that cannot be fetched a note, and an event that cannot be recorded is
   * set aside as a dead letter (one at a time, so only the bad one is); the next ones go on.
   */
  async function processBatch(batch: PublicationCommentEvent[]): Promise<void> {
    const events = [];
    for (const event of batch) events.push({ event, contactId: await commenter(event), files: await download(event) });
    const all = await record(events);
    if (!all.ok && events.length > 1) {
      for (const one of events) {
        const r = await record([one]);
        if (!r.ok) await deadLetter(one.event, 'the comment could not be recorded', r.failure);
      }
    } else if (!all.ok) await deadLetter(events[0]!.event, 'the comment could not be recorded', all.failure);
    pending.splice(0, batch.length);
  }

  async function commenter(event: PublicationCommentEvent): Promise<string | undefined> {
    // Commenters are contacts (name from users.get; the contacts table is the cache).
    if (event.action !== 'new' || !/^\d+$/.test(event.fromId)) return undefined;
    const args = { channelId: input.channelId, peerId: event.fromId, workflowId: workflowInfo().workflowId, withoutConversation: true };
    const r = await contactOrPlaceholder(channelIn.ensureContact, db.ensureContact, args);
    return r.ok ? r.value.contactId : undefined;
  }

  async function download(event: PublicationCommentEvent) {
    if (!event.media.length) return [];
    const r = await untilDatabaseAnswers(() => channelIn.downloadMedia({ channelId: input.channelId, items: event.media }), { timeoutsToo: false });
    return r.ok ? r.value : missingFiles(event.media, r.failure);
  }

  /** The first comment creates the task from the publication, fetched once. */
  async function record(events: Parameters<typeof db.recordPublicationEvents>[0]['events']) {
    const args = { channelId: input.channelId, workflowId: workflowInfo().workflowId, ref: input.ref, events };
    const first = await untilDatabaseAnswers(() => db.recordPublicationEvents(args));
    if (!first.ok || !first.value.needsPublication) return first;
    const snapshot = await untilDatabaseAnswers(() => channelIn.fetchPublication({ channelId: input.channelId, ref: input.ref }), { timeoutsToo: false });
    // The publication could not be fetched: its comments still make the task, with a placeholder title.
    const publication = snapshot.ok ? snapshot.value : placeholderPublication(input.ref);
    return untilDatabaseAnswers(() => db.recordPublicationEvents({ ...args, publication }));
  }
}

type Db = ReturnType<typeof proxyLocalActivities<Activities>>;
type ChannelOut = ReturnType<typeof proxyActivities<Activities>>;

/**
 * Agent actions on a task owned by a publication or lead workflow: comments (replies under a
 * wall comment with notifyContact), edits, complete / reopen. Registered by the workflow that
 * owns the task; serialises sends; tells the owner when it was last active.
 */
export function serveTaskUpdates(o: { channelId: string; db: Db; channelOut: ChannelOut; recent: Array<{ requestId: string; result: CommentResult | TaskResult }>; ready?: () => boolean }) {
  const { db, channelOut, recent } = o;
  const clock: ActivityClock = { lastActivityMs: Date.now(), sendsInFlight: 0 };
  const serialised = createSendQueue(clock);
  const guarded = async <T extends CommentResult | TaskResult>(requestId: string, fn: () => Promise<T>): Promise<T> =>
    once(recent, clock, requestId, async () => {
      // The owner may still be writing the task (a lead's first run).
      if (o.ready) await condition(o.ready);
      return fn();
    });

  setHandler(
    postCommentUpdate,
    (req) =>
      guarded(req.requestId, async () => {
        const created = await db.createAgentComment({ ...req, workflowId: workflowInfo().workflowId, channelId: o.channelId });
        if (req.notifyContact && created.pendingDeliveryIds.length) {
          await serialised(async () => {
            for (const deliveryId of created.pendingDeliveryIds) {
              try {
                await channelOut.deliverPart({ deliveryId });
              } catch (err) {
                const cause = err instanceof ActivityFailure ? err.cause : err;
                const f = cause instanceof ApplicationFailure ? cause : undefined;
                const details = (f?.details?.[0] ?? { channelCode: 'retries_exhausted', channelMessage: String(cause) }) as Record<string, unknown>;
                await db.markCommentFailed({ commentId: created.commentId, code: (details.channelCode as string) ?? 'error', message: f?.message ?? String(cause) });
                throw ApplicationFailure.nonRetryable(f?.message ?? 'the channel did not accept the reply', f?.type && NON_RETRYABLE.includes(f.type as never) ? f.type : FailureType.ChannelRefused, details);
              }
            }
          });
        }
        return { commentId: created.commentId };
      }),
    {
      validator: (req) => {
        if (!req.text.trim() && req.files.length === 0) throw ApplicationFailure.nonRetryable('a comment needs text or files', FailureType.InvalidRequest, { field: 'text' });
      },
    },
  );
  setHandler(editCommentUpdate, (req) =>
    guarded(req.requestId, async () => {
      try {
        await channelOut.editComment({ commentId: req.commentId, workflowId: workflowInfo().workflowId, text: req.text, editorEmployeeId: req.editorEmployeeId, requestId: req.requestId });
      } catch (err) {
        const cause = err instanceof ActivityFailure ? err.cause : err;
        if (cause instanceof ApplicationFailure) throw ApplicationFailure.nonRetryable(cause.message, cause.type ?? FailureType.ChannelRefused, ...(cause.details ?? []));
        throw err;
      }
      return { commentId: req.commentId };
    }),
  );
  setHandler(setTaskStatusUpdate, (req) =>
    guarded(req.requestId, () => db.setTaskStatus({ taskId: req.taskId, workflowId: workflowInfo().workflowId, status: req.status })),
  );

  return {
    lastActivityMs: () => clock.lastActivityMs,
    sendsInFlight: () => clock.sendsInFlight,
    touch: () => void (clock.lastActivityMs = Date.now()),
  };
}
