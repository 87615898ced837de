/**
 * A workflow per VK lead form submission: `lead/<channel>/<leadId>` (rule 21). It writes the task
 * (one idempotent transaction: a redelivered lead is a no-op), then serves agent actions on it
 * (internal comments, complete / reopen) until idle. An action on an idle lead starts a new run
 * under the same id (update-with-start), which finds the task already written.
 */
import { allHandlersFinished, condition, proxyActivities, proxyLocalActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { proxySerialLocalActivities } from './shared/local-activities.js';
import { serveTaskUpdates } from './publication.js';
import { deadLetters } from './shared/dead-letters.js';
import { CHANNEL_IN_RETRY, CHANNEL_OUT_RETRY, DB_RETRY, contactOrPlaceholder, untilDatabaseAnswers } from './shared/retry.js';
import { channelTaskQueue } from './shared/temporal.js';
import type { ChannelKind, ConversationTiming, LeadEvent } from './shared/types.js';

export interface LeadInput {
  channelId: string;
  channelKind: ChannelKind;
  lead: LeadEvent;
  timing: ConversationTiming;
}

export async function lead(input: LeadInput): Promise<void> {
  const queue = channelTaskQueue(workflowInfo().taskQueue, input.channelKind);
  const channel = proxyActivities<Activities>({ taskQueue: queue, startToCloseTimeout: '2 minutes', retry: CHANNEL_IN_RETRY });
  const channelOut = proxyActivities<Activities>({ taskQueue: queue, startToCloseTimeout: '1 minute', heartbeatTimeout: '5 seconds', scheduleToCloseTimeout: '5 minutes', retry: CHANNEL_OUT_RETRY });
  const db = proxySerialLocalActivities<Activities>({ startToCloseTimeout: '30 seconds', localRetryThreshold: '10 seconds', retry: DB_RETRY });
  let ready = false;
  const thread = serveTaskUpdates({ channelId: input.channelId, db, channelOut, recent: [], ready: () => ready });

  // Bounded retries; a profile that cannot be fetched gives a placeholder name, a lead that cannot
  // be recorded is set aside as a dead letter (workflows/shared/retry.ts).
  const contactArgs = { channelId: input.channelId, peerId: input.lead.userId, workflowId: workflowInfo().workflowId, withoutConversation: true };
  const contact = await contactOrPlaceholder(channel.ensureContact, db.ensureContact, contactArgs);
  const recorded = contact.ok
    ? await untilDatabaseAnswers(() => db.recordLead({ channelId: input.channelId, workflowId: workflowInfo().workflowId, lead: input.lead, contactId: contact.value.contactId }))
    : contact;
  if (!recorded.ok) {
    const setAside = deadLetters(db.recordDeadLetter, { channelId: input.channelId, workflowId: workflowInfo().workflowId, workflowType: 'lead', target: { type: 'lead' } });
    await setAside(input.lead, 'the lead could not be recorded', recorded.failure);
    return; // no task: nothing for agents to act on
  }
  ready = true;

  const idleMs = input.timing.idleSeconds * 1000;
  for (;;) {
    await sleep(Math.max(50, thread.lastActivityMs() + idleMs - Date.now()));
    if (Date.now() < thread.lastActivityMs() + idleMs || thread.sendsInFlight() > 0) continue;
    await condition(allHandlersFinished);
    if (thread.sendsInFlight() === 0) return;
  }
}
