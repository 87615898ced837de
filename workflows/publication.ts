/**
 * One entity workflow per VK publication thread: `publication/<channel>/<kind>/<owner>_<id>`
 * (rules 17–19). Comments are queued and recorded in order, de-duplicated by their keys; the
 * publication is fetched once, when its first comment creates the task. Agent replies (wall
 * posts only) are Updates, like in conversations. Idle runs complete; the next event restarts.
 */
import { defineSignal, makeContinueAsNewFunc, patched, setHandler, workflowInfo } from '@temporalio/workflow';
import { deadLetters } from './shared/dead-letters.js';
import { idleTimer, runUntilIdle } from './shared/idle-loop.js';
import { contactOrPlaceholder, missingFiles, untilDatabaseAnswers } from './shared/retry.js';
import { placeholderPublication } from './shared/types.js';
import { TASK_THREAD_PATCH, seenKeys, serveTaskUpdates, type RecentRequests } from './shared/task-thread.js';
import { threadActivities } from './shared/thread-activities.js';
import type { ChannelKind, ConversationTiming, PublicationCommentEvent, PublicationRef } from './shared/types.js';

export const publicationEventSignal = defineSignal<[PublicationCommentEvent]>('publicationEvent');

export interface PublicationInput {
  channelId: string;
  channelKind: ChannelKind;
  ref: PublicationRef;
  timing: ConversationTiming;
  carried?: { pending: PublicationCommentEvent[]; seenKeys: string[]; recentRequests: RecentRequests };
}

export async function publication(input: PublicationInput): Promise<void> {
  const pending: PublicationCommentEvent[] = input.carried?.pending ?? [];
  const seen: string[] = input.carried?.seenKeys ?? [];
  const recent = input.carried?.recentRequests ?? [];

  // Bounded retries; failures contained as in conversations (workflows/shared/retry.ts).
  const activities = threadActivities(input.channelKind);
  const { db, channelIn } = activities;
  const shared = patched(TASK_THREAD_PATCH);
  const deadLetter = deadLetters(db.recordDeadLetter, {
    channelId: input.channelId,
    workflowId: workflowInfo().workflowId,
    workflowType: 'publication',
    target: { type: 'publication', ref: input.ref },
  });

  const isNew = seenKeys(seen);
  setHandler(publicationEventSignal, (event) => {
    if (isNew(event.keys)) pending.push(event);
  });

  // Agent actions: replies under wall comments (notifyContact), edits, complete / reopen.
  const { clock } = serveTaskUpdates({ channelId: input.channelId, activities, recent, editsInSendOrder: shared });

  const idle = idleTimer(clock, input.timing.idleSeconds);
  idle.arm();
  return runUntilIdle({
    idle,
    armAfterBatch: shared,
    queue: { length: () => pending.length, processBatch: () => processBatch(pending.slice(0, 50)) },
    continueAsNew: {
      afterEvents: input.timing.continueAsNewAfterEvents,
      run: () => makeContinueAsNewFunc<typeof publication>({ memo: workflowInfo().memo })({ ...input, carried: { pending, seenKeys: seen, recentRequests: recent } }),
    },
  });

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
