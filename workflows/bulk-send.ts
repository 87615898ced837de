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
import type { Activities } from '../activities/index.js';
import type { BulkProgress, ConversationStart } from '../activities/bulk-sends.js';
import { FailureType } from './shared/errors.js';
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
  const db = proxyLocalActivities<Activities>({
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  });
  const channel = proxyActivities<Activities>({
    taskQueue: channelTaskQueue(workflowInfo().taskQueue, input.channelKind),
    startToCloseTimeout: '1 minute',
    // A worker that dies mid-send is noticed in seconds; the retry reuses the recipient's key.
    heartbeatTimeout: '5 seconds',
    // Rate limits and outages are waited out: every recipient ends sent or refused.
    retry: { initialInterval: '1 second', maximumInterval: '1 minute', nonRetryableErrorTypes: Object.values(FailureType) },
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
    const ids = await db.listBulkRecipients({ bulkSendId: input.bulkSendId, afterId, limit: PAGE });
    if (!ids.length) break;
    // One profile call for the page instead of one per new contact (halves VK calls of a mailing).
    await channel.prefetchBulkProfiles({ bulkSendId: input.bulkSendId, recipientIds: ids });
    let next = 0;
    const lane = async () => {
      while (next < ids.length) {
        const recipientId = ids[next++]!;
        inFlight++;
        try {
          const outcome = await channel.sendBulkMessage({ recipientId, conversation: input.conversation });
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
  const final = await db.finishBulkSend({ bulkSendId: input.bulkSendId });
  setCurrentDetails(`**done**: ${final.sent} sent, ${final.failed} failed of ${final.total}`);
  return final;
}

/** Run by the `taskwire-purge-broadcasts` Schedule: deletes expired broadcast messages (rule 23). */
export async function purgeBroadcasts(input: { windowSeconds: number }): Promise<{ expired: number; recorded: number }> {
  const { purgeExpiredBroadcasts } = proxyActivities<Activities>({ startToCloseTimeout: '5 minutes', retry: { maximumAttempts: 5 } });
  return purgeExpiredBroadcasts(input);
}
