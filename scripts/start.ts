/**
 * `npm start`: taskwire on the embedded defaults, in one process — PostgreSQL (embedded, unless
 * DATABASE_URL) and a Temporal dev server with its UI (unless TEMPORAL_ADDRESS) as supervised
 * children (runtime/embedded-runtime.ts), migrations, the workers and the HTTP API.
 *
 * Stopping (SIGINT/SIGTERM) goes: HTTP intake, workers (draining), Temporal, PostgreSQL, within
 * 15 s. An embedded child that cannot be restarted stops everything the same way and exits 1.
 */
import { startApiServer, type ApiServer } from '../api/server.js';
import { metrics } from '../api/metrics.js';
import { createAdapters } from '../channels/index.js';
import { loadConfig, ConfigError } from '../runtime/config.js';
import { createLogger } from '../runtime/logger.js';
import { warnIfNodeEndOfLife } from '../runtime/node-version.js';
import { connectClient, connectWorker, onShutdownSignal, startServices, type Services } from '../runtime/services.js';
import { startWorkers, type RunningWorkers } from '../worker/index.js';
import { ensureSchedules } from '../worker/schedules.js';
import { installTemporalRuntime } from '../worker/runtime.js';

let config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(2);
  }
  throw err;
}
const logger = createLogger(config.LOG_LEVEL);
warnIfNodeEndOfLife(logger);
installTemporalRuntime(logger);

let services: Services | undefined;
let api: ApiServer | undefined;
let workers: RunningWorkers | undefined;
let workerConnection: Awaited<ReturnType<typeof connectWorker>> | undefined;
let temporal: Awaited<ReturnType<typeof connectClient>> | undefined;

const shutdown = onShutdownSignal(
  logger,
  async () => {
    await api?.close();
    await workers?.shutdown();
    await workerConnection?.close();
    await temporal?.close();
    await services?.close();
  },
  () => {
    for (const pid of Object.values(services?.embeddedPids() ?? {})) if (pid) process.kill(pid, 'SIGKILL');
  },
);

try {
  services = await startServices(config, logger, {
    embedded: true,
    onFatal: (err) => {
      logger.fatal({ err: err.message }, `${err.message} — exiting so that the service manager restarts taskwire`);
      shutdown('an embedded server cannot be restarted', 1);
    },
    onRestart: (child) => metrics.embeddedRestarts.inc({ child }),
  });
  temporal = await connectClient(services);
  // Intake first: a webhook only needs Temporal to accept its signal, and the workers (whose
  // workflow bundle takes seconds to build) pick it up as soon as they poll.
  api = await startApiServer({ config, db: services.db, databaseUrl: services.databaseUrl, temporal: temporal.client, files: services.files, logger });
  workerConnection = await connectWorker(services);
  workers = await startWorkers({ config, connection: workerConnection, db: services.db, files: services.files, adapters: createAdapters(config), logger });
  await ensureSchedules(temporal.client, config, logger);
  logger.info({ api: api.url, temporal: services.temporalAddress, ui: services.temporalUiUrl }, 'taskwire is running');
} catch (err) {
  logger.fatal({ err: err instanceof Error ? err.message : String(err) }, 'taskwire could not start');
  shutdown('start failed', 1);
}

workers?.done.catch((err) => {
  logger.fatal({ err: String(err) }, 'a worker failed');
  shutdown('a worker failed', 1);
});
