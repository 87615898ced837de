/**
 * Temporal Schedules taskwire relies on, created (or brought up to date) when a worker starts:
 * `<task queue>-purge-broadcasts` (`taskwire-purge-broadcasts`) deletes expired broadcast messages (rule 23).
 */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleOptions } from '@temporalio/client';
import type { Config } from '../runtime/config.js';
import type { Logger } from '../runtime/logger.js';
import { purgeBroadcasts } from '../workflows/bulk-send.js';
import { purgeBroadcastsScheduleId } from '../workflows/shared/temporal.js';

type ScheduleConfig = Pick<Config, 'TEMPORAL_TASK_QUEUE' | 'BROADCAST_PURGE_INTERVAL_SECONDS' | 'BROADCAST_WINDOW_SECONDS'>;

export function purgeScheduleOptions(config: ScheduleConfig): ScheduleOptions {
  return {
    scheduleId: purgeBroadcastsScheduleId(config.TEMPORAL_TASK_QUEUE),
    spec: { intervals: [{ every: `${config.BROADCAST_PURGE_INTERVAL_SECONDS}s` }] },
    action: {
      type: 'startWorkflow',
      workflowType: purgeBroadcasts,
      args: [{ windowSeconds: config.BROADCAST_WINDOW_SECONDS }],
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      workflowId: `${config.TEMPORAL_TASK_QUEUE}/purge-broadcasts`,
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' },
    memo: { purpose: 'rule 23: delete broadcast messages that expired unanswered' },
  };
}

export async function ensureSchedules(client: Client, config: ScheduleConfig, logger: Logger): Promise<void> {
  const options = purgeScheduleOptions(config);
  try {
    await client.schedule.create(options);
    logger.info({ scheduleId: options.scheduleId }, 'schedule created');
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(options.scheduleId).update((previous) => ({ ...previous, spec: options.spec, action: options.action }));
  }
}
