/**
 * One long-lived entity workflow per (channel, person): `conversation/<channel>/<peer>`.
 *
 * It owns ordering and de-duplication of everything the person's channel reports (signals,
 * drained in order by the main loop), and serialises what agents send them (updates). All I/O
 * is in activities. An idle conversation completes; the next event starts a new run under the
 * same id (signal-with-start / update-with-start), so idle conversations cost nothing.
 */
import {
  ApplicationFailure,
  condition,
  defineQuery,
  defineSignal,
  defineUpdate,
  log,
  makeContinueAsNewFunc,
  patched,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { DownloadedMedia } from '../activities/media.js';
import { FailureType } from './shared/errors.js';
import { deadLetters } from './shared/dead-letters.js';
import { idleTimer, runUntilIdle } from './shared/idle-loop.js';
import { failureSummary, missingFiles, untilDatabaseAnswers } from './shared/retry.js';
import { channelCapabilities, closedReplyWindow, replyWindowClosesAt } from './shared/reply-policy.js';
import { LAST_MESSAGE_STEP_MS, searchAttributesShown, syncSearchAttributes } from './shared/conversation-search-attributes.js';
import { holdTimer } from './shared/hold-timer.js';
import { conversationContact } from './shared/conversation-contact.js';
import { seenKeys, serveTaskUpdates } from './shared/task-thread.js';
import { threadActivities } from './shared/thread-activities.js';
import { slaClock } from './shared/sla-clock.js';
import { waitingReplies } from './shared/waiting-replies.js';
import { carry, initialState } from './shared/conversation-state.js';
import type {
  ConversationEvent,
  ConversationInput,
  ConversationView,
  PostCommentRequest,
  StartConversationRequest,
  StartConversationResult,
} from './shared/types.js';

// The agent updates are the task thread's (workflows/shared/task-thread.ts); the API imports them from here too.
export { editCommentUpdate, postCommentUpdate, setTaskStatusUpdate } from './shared/task-thread.js';
export { cancelCommentUpdate } from './shared/waiting-replies.js';
export const conversationEventSignal = defineSignal<[ConversationEvent]>('event');
export const startConversationUpdate = defineUpdate<StartConversationResult, [StartConversationRequest]>('startConversation');
export const conversationStateQuery = defineQuery<ConversationView>('state');

const MAX_BATCH = 50;

/** After a failure of the database work for held messages, look again this much later. */
const HOLDS_RETRY_MS = 10 * 60_000;

/** A reply refused for a closed window is judged after the queued events (see replyWindowAfterQueue). */
const REPLY_WINDOW_AFTER_QUEUE_PATCH = 'reply-window-after-queue';
/** One patch standing for all of the conversation's earlier ones (see `v4` in the workflow). */
export const CONVERSATION_V4_PATCH = 'conversation-v4';

export async function conversation(input: ConversationInput): Promise<void> {
  const carried = input.carried;
  const st = initialState(input);
  // Version 2 (broadcasts), for runs started from now on; `patched` keeps older histories replaying:
  // - search attributes carry over continue-as-new: start from what the run already shows, so a
  //   change back (TwHeldBroadcasts to 0 after a reply) is written;
  // - a contact whose profile needs no channel call (WhatsApp; a bulk send's prefetched profile)
  //   is created by a local activity, off the channel's rate-limited queue.
  // Version 4 (issue 12): a run started from now on records this one patch and takes every
  // version below (v2, v3, serial local activities, the reply window judged after the queue) as
  // given. Each `patched()` costs the run's first workflow task a marker and an upsert of
  // TemporalChangeVersion: two history events and one billable action per patch and conversation.
  // Older runs replay: their histories have no v4 marker, and ask for each patch as before.
  // Version 5 (issue 13): response-time clocks (workflows/shared/sla-clock.ts); stands for v4 too.
  // Version 6 (issue 12) comes in the input (CONVERSATION_VERSION), not from a marker: no patch
  // event or TemporalChangeVersion upsert at all; a new person's profile is fetched outside the run.
  const v6 = (input.version ?? 0) >= 6;
  const v5 = v6 || patched('conversation-v5');
  const v4 = v5 || patched(CONVERSATION_V4_PATCH);
  const v2 = v4 || patched('conversation-v2');
  if (v2) st.lastSA = searchAttributesShown();
  // Version 3 (issue 12), for runs started from now on:
  // - record first, enrich later: a new person whose profile costs a channel call gets a
  //   placeholder name at once (a local activity) and their messages are recorded without waiting;
  //   the profile follows (`enrichContact`, batched across conversations by the worker);
  // - TwLastMessageAt is coarse (conversation-search-attributes.ts): no upsert per message.
  const v3 = v4 || patched('conversation-v3');
  if (v3) st.lastMessageStepMs = LAST_MESSAGE_STEP_MS;

  // Every retry is bounded (workflows/shared/retry.ts); what still fails is contained below: the
  // database being down is waited out, anything else is set aside and the next event goes on.
  const activities = threadActivities(input.channelKind, { serialLocalActivities: v4 || undefined });
  const { db, channelIn } = activities;
  // Events that cannot be recorded are set aside; the queue goes on (TwDeadLetters counts them).
  const deadLetter = deadLetters(
    db.recordDeadLetter,
    { channelId: input.channelId, workflowId: workflowInfo().workflowId, workflowType: 'conversation', target: { type: 'conversation', peerId: input.peerId } },
    () => void st.deadLetters++,
  );

  // ---- handlers (registered before the first await) ----

  const isNew = seenKeys(st.seenKeys);
  setHandler(
    conversationEventSignal,
    (event) => {
      if (isNew(event.keys)) st.pending.push(event); // not a VK/Meta redelivery
    },
    { description: 'An event from the channel about this person (message, edit, observed outgoing, permission).' },
  );

  // Issue 13: replies that wait — scheduled, or held for a closed window (workflows/shared/waiting-replies.ts).
  const waits = waitingReplies({ input, st, activities, delivered: () => answered(undefined) });
  // Agent actions (workflows/shared/task-thread.ts): a reply waits for the reply window and the contact.
  const thread = serveTaskUpdates({
    channelId: input.channelId,
    activities,
    recent: st.recentRequests,
    editsInSendOrder: true,
    validatePost,
    replyWindow: replyWindowAfterQueue,
    rowsReady: contactReady,
    delivered: (taskId) => answered(taskId),
    waits,
  });
  const { clock } = thread;
  waits.serve(thread);
  const { ensureContact, contactFor, firstRecord, nameChanged } = conversationContact({ input, st, activities, clock, v2, v3, v6 });

  // Response-time targets (issue 13, workflows/shared/sla-clock.ts), in runs from v5 on.
  const sla = v5 ? slaClock({ db, clock, carried: carried?.sla, settled: () => idleAgainIfFree() }) : undefined;
  /** Nothing left that the run waits for on a timer (held messages, a running clock, replies that wait): the idle rule applies again. */
  function idleAgainIfFree(): void {
    if (!st.holds.length && !sla?.waiting() && !waits.count() && !idle.armed) idle.arm();
  }
  /** An agent's notifying reply (sent at once, or after it waited) reached the person: it stops the clock. */
  function answered(taskId: string | undefined): void {
    setState('answered');
    sla?.answered(taskId);
  }

  setHandler(
    startConversationUpdate,
    (req) =>
      thread.once(req.requestId, async () => {
        await contactReady();
        const { taskId } = await db.openConversationTask({
          channelId: input.channelId,
          peerId: input.peerId,
          contactId: st.contactId!,
          workflowId: workflowInfo().workflowId,
        });
        st.taskId = taskId;
        const created = await db.createAgentComment({
          requestId: req.requestId,
          workflowId: workflowInfo().workflowId,
          channelId: input.channelId,
          taskId,
          authorEmployeeId: req.authorEmployeeId,
          text: '',
          notifyContact: true,
          files: [],
          template: req.template,
        });
        await thread.send(() => thread.deliver(created.commentId, created.pendingDeliveryIds));
        setState('answered');
        return { taskId, contactId: st.contactId!, commentId: created.commentId };
      }),
    {
      validator: (req) => {
        if (!channelCapabilities(input).companyWritesFirst) {
          throw ApplicationFailure.nonRetryable(`${input.channelKind} conversations cannot be started by the company`, FailureType.NotSupported, { reason: 'first_contact_not_supported' });
        }
        if (!req.template?.name) throw ApplicationFailure.nonRetryable('a template is required', FailureType.InvalidRequest, { field: 'template' });
        if (st.messagesAllowed === false) throw ApplicationFailure.nonRetryable('the person has forbidden messages from the company', FailureType.MessagesDenied, {});
      },
      description: 'Rule 15: the company writes first with an approved template; contact and task are created.',
    },
  );

  setHandler(conversationStateQuery, (): ConversationView => ({
    channelId: input.channelId,
    channelKind: input.channelKind,
    peerId: input.peerId,
    contactId: st.contactId,
    displayName: st.displayName,
    taskId: st.taskId,
    lastInboundAt: st.lastInboundAt,
    replyWindowClosesAt: replyWindowClosesAt(channelCapabilities(input), st, input.timing.replyWindowSeconds),
    messagesAllowed: st.messagesAllowed,
    pendingEvents: st.pending.length,
    processedEvents: st.processed,
    sendsInFlight: clock.sendsInFlight,
    heldMessages: st.holds.filter((h) => h.held).length,
    classifyingMessages: st.holds.filter((h) => !h.held).length,
    nextHoldCheckAt: st.holds.length ? new Date(nextHoldCheckMs()).toISOString() : undefined,
    waitingReplies: st.waitingReplies.length,
  }), { description: 'Current state of the conversation: contact, task, reply window, queue.' });

  // ---- helpers that close over state ----

  function validatePost(req: PostCommentRequest): void {
    if (!req.text.trim() && req.files.length === 0 && !req.template) {
      throw ApplicationFailure.nonRetryable('a comment needs text, files or a template', FailureType.InvalidRequest, { field: 'text' });
    }
    if (!req.notifyContact) return;
    if (st.recentRequests.some((r) => r.requestId === req.requestId)) return; // a retry of a finished request
    if (st.messagesAllowed === false) {
      throw ApplicationFailure.nonRetryable('the person has forbidden messages from the company', FailureType.MessagesDenied, {});
    }
    const closed = replyWindowClosed(req);
    // A message still in the queue may open the window (it is in the task already when a worker
    // restart interrupted its recording): the handler decides once the queue got that far.
    if (closed && st.pending.length === 0 && req.whenWindowClosed !== 'hold') throw closed;
  }

  function replyWindowClosed(req: PostCommentRequest): ApplicationFailure | undefined {
    if (!req.notifyContact) return undefined;
    if (req.template && channelCapabilities(input).templates) return undefined;
    const closed = closedReplyWindow(channelCapabilities(input), st, input.timing.replyWindowSeconds, Date.now());
    if (!closed) return undefined;
    const when = closed.closedAt ? `closed at ${closed.closedAt}` : 'never opened: the person has not written yet';
    return ApplicationFailure.nonRetryable(`the reply window (${closed.window}) ${when}`, FailureType.ReplyWindowClosed, closed);
  }

  /** The reply window, judged after the events queued when the reply came are recorded. */
  async function replyWindowAfterQueue(req: PostCommentRequest): Promise<void> {
    if (!replyWindowClosed(req) || !(v4 || patched(REPLY_WINDOW_AFTER_QUEUE_PATCH))) return;
    const upTo = st.processed + st.pending.length;
    await condition(() => st.processed >= upTo);
    const closed = replyWindowClosed(req);
    if (closed) throw closed;
  }

  /** Agent actions need the contact and conversation rows; a fresh run may not have them yet. */
  async function contactReady(): Promise<void> {
    await condition(() => st.contactId !== undefined || st.pending.length === 0);
    if (st.contactId === undefined) await ensureContact(undefined);
  }

  function setState(state: 'awaiting_agent' | 'answered'): void {
    syncSearchAttributes(st, { state });
  }

  // ---- main loop: drain the queue in order; complete when idle; continue-as-new when long ----

  const idle = idleTimer(clock, input.timing.idleSeconds);
  // A run that continued as new only to hold waits for the reply or its hold timer, nothing else.
  if (!st.holdingOnly) idle.arm();

  const holdCheck = holdTimer(() => st.holds, nextHoldCheckMs);
  holdCheck.arm();

  return runUntilIdle({
    idle,
    armAfterBatch: true,
    queue: {
      length: () => st.pending.length,
      processBatch: () => {
        st.holdingOnly = false;
        return processBatch(st.pending.slice(0, MAX_BATCH));
      },
    },
    other: {
      due: () => holdCheck.due || (sla?.due ?? false) || waits.timer.due,
      run: async () => {
        if (sla?.due) await sla.check();
        if (waits.timer.due) await waits.runDue();
        if (holdCheck.due) {
          holdCheck.due = false;
          if (st.holds.length && nextHoldCheckMs() <= Date.now()) await settleHolds();
          holdCheck.arm();
        }
        // The last hold, clock or reply that waits ended while the run only waited for it.
        idleAgainIfFree();
      },
    },
    // Idle, but holding: shed this run's history and wait in a fresh run with one timer.
    whenIdle: () => {
      // TwLastMessageAt shows the last message's time once the run is idle (v3 moves it coarsely).
      if (v3) syncSearchAttributes(st, { exact: true });
      return st.holds.length === 0 && !sla?.waiting() && !waits.count() ? 'complete' : st.holdingOnly ? 'wait' : 'continue-as-new';
    },
    continueAsNew: {
      afterEvents: input.timing.continueAsNewAfterEvents,
      run: (idleNow) =>
        makeContinueAsNewFunc<typeof conversation>({ memo: workflowInfo().memo })({
          ...input,
          seed: undefined,
          carried: { ...carry(st), ...(sla?.carry() ? { sla: sla.carry() } : {}), holdingOnly: (idleNow || st.holdingOnly) && st.pending.length === 0 },
        }),
    },
  });

  /** The conversation's row, as the database activities name it. */
  function conversationRow() {
    return { channelId: input.channelId, peerId: input.peerId, contactId: st.contactId!, workflowId: workflowInfo().workflowId, broadcast: input.timing.broadcast };
  }

  function nextHoldCheckMs(): number {
    return Math.max(Math.min(...st.holds.map((h) => Date.parse(h.checkAt))), st.holdsRetryAtMs ?? 0);
  }

  async function settleHolds(): Promise<void> {
    const settled = await untilDatabaseAnswers(() => db.settleHolds(conversationRow()));
    if (!settled.ok) {
      // The held messages stay where they are (in the database); look again later.
      log.error('settling held messages failed; trying again later', { ...failureSummary(settled.failure), retryInMs: HOLDS_RETRY_MS });
      st.holdsRetryAtMs = Date.now() + HOLDS_RETRY_MS;
      return;
    }
    st.holdsRetryAtMs = undefined;
    const r = settled.value;
    st.holds = r.holds;
    if (r.taskId) st.taskId = r.taskId;
    syncSearchAttributes(st, {});
  }

  /**
   * Records a batch of queued events in order. What cannot be done is contained, so one bad event
   * never blocks the ones behind it: a profile that cannot be fetched gives a placeholder name,
   * a file that cannot be fetched becomes a note naming it, and an event that cannot be recorded
   * is set aside as a dead letter (the batch is then recorded one event at a time, so only the
   * bad one is). The database being down is waited out (nothing is dropped).
   */
  async function processBatch(batch: ConversationEvent[]): Promise<void> {
    const eventsWith = (events: ConversationEvent[], eventFiles: DownloadedMedia[][]) => events.map((event, i) => ({ event, files: eventFiles[i]! }));
    let files: DownloadedMedia[][] | undefined;
    const first = v6 && st.contactId === undefined ? firstRecord(batch) : undefined;
    if (first) {
      // The person's first events and their contact in one activity and transaction. If that fails,
      // the contact alone first and then the events (below), so that only what fails is set aside.
      files = await downloadFor(batch);
      const { workflowId, broadcast } = conversationRow();
      const r = await untilDatabaseAnswers(() =>
        db.recordEvents({ channelId: input.channelId, peerId: input.peerId, workflowId, broadcast, contact: first.request, events: eventsWith(batch, files!) }),
      );
      if (r.ok && r.value.contact) {
        first.adopt(r.value.contact);
        applyRecorded(r.value);
        return finishBatch(batch);
      }
    }
    const contactFailure = st.contactId === undefined ? await contactFor(batch) : undefined;
    if (contactFailure !== undefined) {
      for (const event of batch) await deadLetter(event, 'the contact could not be created', contactFailure);
    } else {
      files ??= await downloadFor(batch);
      const record = (events: ConversationEvent[], eventFiles: DownloadedMedia[][]) =>
        untilDatabaseAnswers(() =>
          db.recordEvents({ ...conversationRow(), events: eventsWith(events, eventFiles), ...(v6 && st.holds.length === 0 ? { holdsNothing: true } : {}) }),
        );
      const all = await record(batch, files);
      if (all.ok) applyRecorded(all.value);
      else if (batch.length === 1) await deadLetter(batch[0]!, 'the event could not be recorded', all.failure);
      else {
        for (const [i, event] of batch.entries()) {
          const one = await record([event], [files[i]!]);
          if (one.ok) applyRecorded(one.value);
          else await deadLetter(event, 'the event could not be recorded', one.failure);
        }
      }
    }
    finishBatch(batch);
  }

  /** The batch is done (recorded, or set aside): off the queue; the search attributes follow. */
  function finishBatch(batch: ConversationEvent[]): void {
    st.pending.splice(0, batch.length);
    st.processed += batch.length;
    syncSearchAttributes(st, { state: batch.some((e) => e.type === 'inbound') ? 'awaiting_agent' : undefined });
  }

  /** Downloads the batch's files, per event. A download that keeps failing leaves notes, not a stuck queue. */
  async function downloadFor(batch: ConversationEvent[]): Promise<DownloadedMedia[][]> {
    const media = batch.flatMap((e, i) => ('media' in e ? e.media.map((ref) => ({ event: i, ref })) : []));
    if (media.length === 0) return batch.map(() => []);
    const r = await untilDatabaseAnswers(() => channelIn.downloadMedia({ channelId: input.channelId, items: media.map((m) => m.ref) }), {
      timeoutsToo: false,
    });
    const downloaded = r.ok ? r.value : missingFiles(media.map((m) => m.ref), r.failure);
    return batch.map((_, i) => downloaded.filter((_, k) => media[k]!.event === i));
  }

  function applyRecorded(result: Awaited<ReturnType<typeof db.recordEvents>>): void {
    if (result.taskId) st.taskId = result.taskId;
    if (result.lastInboundAt && (!st.lastInboundAt || result.lastInboundAt > st.lastInboundAt)) st.lastInboundAt = result.lastInboundAt;
    if (result.messagesAllowed !== null) st.messagesAllowed = result.messagesAllowed;
    // v6: the profile came outside the run; the memo follows with the next recorded event.
    if (v6 && result.contactName !== undefined) nameChanged(result.contactName);
    // A customer message waits for an answer: its response-time clock (started, or running).
    if (result.sla !== undefined) sla?.adopt(result.sla);
    // Histories recorded before broadcasts have no `holds` in this activity's result.
    if (result.holds) {
      st.holds = result.holds;
      holdCheck.arm();
    }
    waits.windowMayHaveOpened();
  }
}
