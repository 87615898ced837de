/**
 * A workflow per VK lead form submission: `lead/<channel>/<leadId>` (rule 21). It writes the task
 * (one idempotent transaction: a redelivered lead is a no-op), then serves agent actions on it
 * (internal comments, complete / reopen) until idle. An action on an idle lead starts a new run
 * under the same id (update-with-start), which finds the task already written.
 */
import { patched, workflowInfo } from '@temporalio/workflow';
import { deadLetters } from './shared/dead-letters.js';
import { idleTimer, runUntilIdle } from './shared/idle-loop.js';
import { contactOrPlaceholder, untilDatabaseAnswers } from './shared/retry.js';
import { TASK_THREAD_PATCH, serveTaskUpdates } from './shared/task-thread.js';
import { threadActivities } from './shared/thread-activities.js';
import type { ChannelKind, ConversationTiming, LeadEvent } from './shared/types.js';

export interface LeadInput {
  channelId: string;
  channelKind: ChannelKind;
  lead: LeadEvent;
  timing: ConversationTiming;
}

export async function lead(input: LeadInput): Promise<void> {
  const activities = threadActivities(input.channelKind);
  const { db, channelIn } = activities;
  let ready = false;
  const thread = serveTaskUpdates({
    channelId: input.channelId,
    activities,
    recent: [],
    editsInSendOrder: patched(TASK_THREAD_PATCH),
    // Actions wait until the task is written.
    ready: () => ready,
  });

  // Bounded retries; a profile that cannot be fetched gives a placeholder name, a lead that cannot
  // be recorded is set aside as a dead letter (workflows/shared/retry.ts).
  const contactArgs = { channelId: input.channelId, peerId: input.lead.userId, workflowId: workflowInfo().workflowId, withoutConversation: true };
  const contact = await contactOrPlaceholder(channelIn.ensureContact, db.ensureContact, contactArgs);
  const recorded = contact.ok
    ? await untilDatabaseAnswers(() => db.recordLead({ channelId: input.channelId, workflowId: workflowInfo().workflowId, lead: input.lead, contactId: contact.value.contactId }))
    : contact;
  if (!recorded.ok) {
    const setAside = deadLetters(db.recordDeadLetter, { channelId: input.channelId, workflowId: workflowInfo().workflowId, workflowType: 'lead', target: { type: 'lead' } });
    await setAside(input.lead, 'the lead could not be recorded', recorded.failure);
    return; // no task: nothing for agents to act on
  }
  ready = true;

  // No events after the lead itself: the run serves agent actions until idle.
  const idle = idleTimer(thread.clock, input.timing.idleSeconds);
  idle.arm();
  await runUntilIdle({ idle, armAfterBatch: true });
}
