/**
 * One workflow per bulk-send job: `bulk-send/<id>`. It walks the job's recipients in pages (ids
 * only) and sends each one's message through the channel's rate-limited task queue, a bounded
 * number at a time. Each send is an idempotent activity, so a crash or restart anywhere never sends
 * anyone twice; progress shows in the Temporal UI (current details, memo) and the `progress` query.
 */
import {
  defineQuery,
  makeContinueAsNewFunc,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import { DB_RETRY, NON_RETRYABLE_TYPES, failureSummary, untilDatabaseAnswers } from './shared/retry.js';
import type { Activities } from '../activities/index.js';
import type { BulkProgress, ConversationStart } from '../activities/bulk-sends.js';
import { channelTaskQueue } from './shared/temporal.js';
import type { ChannelKind } from './shared/types.js';

export interface BulkSendInput {
  bulkSendId: string;
  channelKind: ChannelKind;
  total: number;
  conversation: ConversationStart;
  /** Carried over continue-as-new. */
  carried?: { afterId: string; sent: number; failed: number };
}

export interface BulkSendView {
  bulkSendId: string;
  total: number;
  sent: number;
  failed: number;
  inFlight: number;
}

export const bulkSendProgressQuery = defineQuery<BulkSendView>('progress');

const PAGE = 100;
const IN_FLIGHT = 10;
const CONTINUE_AS_NEW_EVENTS = 4000;

export async function bulkSend(input: BulkSendInput): Promise<BulkProgress> {
  const db = proxyLocalActivities<Activities>({ startToCloseTimeout: '30 seconds', retry: DB_RETRY });
  const channel = proxyActivities<Activities>({
    taskQueue: channelTaskQueue(workflowInfo().taskQueue, input.channelKind),
    startToCloseTimeout: '1 minute',
    // A worker that dies mid-send is noticed in seconds; the retry reuses the recipient's key.
    heartbeatTimeout: '5 seconds',
    // Rate limits and short outages are waited out (about half an hour of attempts); a recipient
    // whose attempts run out is marked failed: every recipient ends sent or failed.
    retry: { initialInterval: '1 second', maximumInterval: '1 minute', maximumAttempts: 30, nonRetryableErrorTypes: NON_RETRYABLE_TYPES },
  });

  let afterId = input.carried?.afterId ?? '0';
  let sent = input.carried?.sent ?? 0;
  let failed = input.carried?.failed ?? 0;
  let inFlight = 0;
  setHandler(bulkSendProgressQuery, () => ({ bulkSendId: input.bulkSendId, total: input.total, sent, failed, inFlight }));

  const report = () => {
    setCurrentDetails(`**${sent + failed} of ${input.total}** done: ${sent} sent, ${failed} failed`);
    upsertMemo({ progress: { total: input.total, sent, failed } });
  };
  report();

  for (;;) {
    const ids = await database(() => db.listBulkRecipients({ bulkSendId: input.bulkSendId, afterId, limit: PAGE }));
    if (!ids.length) break;
    // One profile call for the page instead of one per new contact (halves VK calls of a mailing).
    // Best effort: a conversation without a prefetched profile looks the person up itself.
    await untilDatabaseAnswers(() => channel.prefetchBulkProfiles({ bulkSendId: input.bulkSendId, recipientIds: ids }), { timeoutsToo: false });
    let next = 0;
    const lane = async () => {
      while (next < ids.length) {
        const recipientId = ids[next++]!;
        inFlight++;
        try {
          const r = await untilDatabaseAnswers(() => channel.sendBulkMessage({ recipientId, conversation: input.conversation }), { timeoutsToo: false });
          const outcome = r.ok
            ? r.value
            : await database(() => db.failBulkRecipient({ recipientId, error: { code: 'retries_exhausted', message: failureSummary(r.failure).message } }));
          if (outcome === 'sent') sent++;
          else failed++;
        } finally {
          inFlight--;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, ids.length) }, lane));
    afterId = ids[ids.length - 1]!;
    report();
    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength > CONTINUE_AS_NEW_EVENTS) {
      return makeContinueAsNewFunc<typeof bulkSend>({ memo: info.memo })({ ...input, carried: { afterId, sent, failed } });
    }
  }
  const final = await database(() => db.finishBulkSend({ bulkSendId: input.bulkSendId }));
  setCurrentDetails(`**done**: ${final.sent} sent, ${final.failed} failed of ${final.total}`);
  return final;
}

/** Database work the bulk send cannot go on without: waited out while the database is down; anything else fails the run. */
async function database<T>(fn: () => Promise<T>): Promise<T> {
  const r = await untilDatabaseAnswers(fn);
  if (!r.ok) throw r.failure;
  return r.value;
}

/** Run by the `taskwire-purge-broadcasts` Schedule: deletes expired broadcast messages (rule 23). */
export async function purgeBroadcasts(input: { windowSeconds: number }): Promise<{ expired: number; recorded: number }> {
  const { purgeExpiredBroadcasts } = proxyActivities<Activities>({ startToCloseTimeout: '5 minutes', retry: { maximumAttempts: 5 } });
  return purgeExpiredBroadcasts(input);
}
