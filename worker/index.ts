/**
 * Worker bootstrap: one worker for workflows + database activities on the main task queue, and
 * one per channel kind for outbound channel calls, rate-limited by the server for the whole queue.
 */
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import type { SlaClock } from '../activities/sla.js';
import { channelDefinitions } from '../channels/index.js';
import type { ChannelAdapters } from '../channels/types.js';
import type { Db } from '../db/index.js';
import type { Config } from '../runtime/config.js';
import type { FileStore } from '../runtime/file-store.js';
import type { Logger } from '../runtime/logger.js';
import { channelTaskQueue } from '../workflows/shared/temporal.js';
import { startProfileEnricher, type ProfileEnricher } from './profile-enricher.js';
import { prebuiltWorkflowBundle, WORKFLOWS_PATH } from './workflow-code.js';

export { WORKFLOWS_PATH } from './workflow-code.js';

export interface WorkerDeps {
  /** The channels' own variables too: their rate limits (`VK_RATE_LIMIT_PER_SECOND`, …). */
  config: Config;
  connection: NativeConnection;
  db: Db;
  files: FileStore;
  adapters: ChannelAdapters;
  logger: Logger;
  /**
   * A prebuilt bundle (tests). Otherwise the one `npm run build` wrote next to the compiled code,
   * else the workflows are bundled at start (from sources).
   */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** Tests only: a scaled response-time clock (activities/sla.ts); production uses the real one. */
  slaClock?: SlaClock;
}

export interface RunningWorkers {
  workers: Worker[];
  /** Resolves when every worker has stopped; rejects if one fails. */
  done: Promise<void>;
  shutdown(): Promise<void>;
}

export async function startWorkers(deps: WorkerDeps): Promise<RunningWorkers> {
  // New people's profiles, fetched outside their workflows (worker/profile-enricher.ts).
  let enricher: ProfileEnricher | undefined;
  const activities = createActivities({
    db: deps.db,
    files: deps.files,
    adapters: deps.adapters,
    logger: deps.logger,
    slaClock: deps.slaClock,
    profilesPending: (contact) => enricher?.pending(contact),
  });
  const base = deps.config.TEMPORAL_TASK_QUEUE;
  const common = {
    connection: deps.connection,
    namespace: deps.config.TEMPORAL_NAMESPACE,
    activities,
    // Let in-flight activities finish (a send half-done is retried safely, but finishing is
    // better), within the 15 s a whole stop may take (runtime/services.ts).
    shutdownGraceTime: '5 seconds',
  } satisfies Partial<WorkerOptions>;

  const bundlePath = deps.workflowBundle ? undefined : prebuiltWorkflowBundle();
  const workflowBundle = deps.workflowBundle ?? (bundlePath ? { codePath: bundlePath } : undefined);
  if (bundlePath) deps.logger.info({ workflowBundle: bundlePath }, 'workflows from the prebuilt bundle');
  else if (!workflowBundle) deps.logger.info({ workflowsPath: WORKFLOWS_PATH }, 'bundling workflows at start');
  const main = await Worker.create({
    ...common,
    taskQueue: base,
    // Open conversations mostly wait (holds last up to 30 days): the cache bounds their memory;
    // an evicted workflow is rebuilt from its (short) history when its timer or a message comes.
    maxCachedWorkflows: deps.config.WORKER_MAX_CACHED_WORKFLOWS,
    ...(workflowBundle ? { workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
  });
  const channelWorkers = await Promise.all(
    channelDefinitions().map((d) =>
      Worker.create({ ...common, taskQueue: channelTaskQueue(base, d.kind), maxTaskQueueActivitiesPerSecond: d.rateLimitPerSecond(deps.config) }),
    ),
  );
  const workers = [main, ...channelWorkers];
  enricher = startProfileEnricher({
    db: deps.db,
    logger: deps.logger,
    enrich: (contact) => activities.enrichContact(contact),
    sweepIntervalMs: deps.config.PROFILE_SWEEP_SECONDS * 1000,
  });
  const done = Promise.all(workers.map((w) => w.run()))
    .then(() => undefined)
    .finally(() => enricher?.stop());
  deps.logger.info({ taskQueues: workers.map((w) => w.options.taskQueue) }, 'workers running');
  return {
    workers,
    done,
    async shutdown() {
      enricher?.stop();
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await done.catch(() => undefined);
    },
  };
}
