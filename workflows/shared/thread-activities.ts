/**
 * The activity proxies of a workflow that owns tasks (conversation, publication, lead), each with
 * a bounded retry policy (workflows/shared/retry.ts). Call at the start of the workflow function,
 * before its first await (the database proxy decides its patch there).
 */
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../../activities/index.js';
import { proxySerialLocalActivities } from './local-activities.js';
import { CHANNEL_IN_RETRY, CHANNEL_OUT_RETRY, DB_RETRY } from './retry.js';
import { channelTaskQueue } from './temporal.js';
import type { ChannelKind } from './types.js';

/** `serialLocalActivities: true`: the caller's run is known to be new enough (no `patched` call for it). */
export function threadActivities(channelKind: ChannelKind, opts: { serialLocalActivities?: true } = {}) {
  // Database work runs as local activities: one short transaction each, executed inside the
  // workflow task (a marker event instead of scheduled/started/completed + another task).
  const db = proxySerialLocalActivities<Activities>({ startToCloseTimeout: '30 seconds', localRetryThreshold: '10 seconds', retry: DB_RETRY }, opts.serialLocalActivities);
  const queue = channelTaskQueue(workflowInfo().taskQueue, channelKind);
  // Inbound-side channel calls (profile, media, publication).
  const channelIn = proxyActivities<Activities>({ taskQueue: queue, startToCloseTimeout: '2 minutes', retry: CHANNEL_IN_RETRY });
  // The profile look-up is one short API call: a worker that dies during it is retried within
  // seconds, not minutes (a bulk send starts thousands of conversations at once).
  const profiles = proxyActivities<Activities>({ taskQueue: queue, startToCloseTimeout: '15 seconds', retry: CHANNEL_IN_RETRY });
  // Record first, enrich later (issue 12): a new person's profile, on the main queue, so the
  // worker batches the look-ups of many conversations into one channel call (activities/profile-batcher.ts).
  const enrichment = proxyActivities<Activities>({ startToCloseTimeout: '30 seconds', retry: CHANNEL_IN_RETRY });
  // Agent-side sends: bounded, so the agent gets a clear failure instead of a hanging request.
  const channelOut = proxyActivities<Activities>({
    taskQueue: queue,
    startToCloseTimeout: '1 minute',
    // A worker that dies mid-send is noticed in seconds; the retry reuses the delivery's key.
    heartbeatTimeout: '5 seconds',
    scheduleToCloseTimeout: '5 minutes',
    retry: CHANNEL_OUT_RETRY,
  });
  return { db, channelIn, profiles, enrichment, channelOut };
}

export type ThreadActivities = ReturnType<typeof threadActivities>;
