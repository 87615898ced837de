/**
 * `npm start`: taskwire on the embedded defaults, in one process — PostgreSQL (embedded, unless
 * DATABASE_URL), a Temporal dev server with its UI (unless TEMPORAL_ADDRESS), migrations, the
 * workers and the HTTP API.
 */
import { bootstrapOwner } from '../api/auth.js';
import { startApiServer } from '../api/server.js';
import { createAdapters } from '../channels/index.js';
import { loadConfig, ConfigError } from '../runtime/config.js';
import { createLogger } from '../runtime/logger.js';
import { connectClient, connectWorker, onShutdownSignal, startServices } from '../runtime/services.js';
import { startWorkers } from '../worker/index.js';
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
installTemporalRuntime(logger);
const services = await startServices(config, logger, { embedded: true });
const owner = await bootstrapOwner(services.db, config.BOOTSTRAP_ADMIN_TOKEN);
if (owner) logger.info({ employeeId: owner.id }, 'account owner created from BOOTSTRAP_ADMIN_TOKEN');

const workerConnection = await connectWorker(services);
const workers = await startWorkers({ config, connection: workerConnection, db: services.db, files: services.files, adapters: createAdapters(config), logger });
const temporal = await connectClient(services);
await ensureSchedules(temporal.client, config, logger);
const api = await startApiServer({ config, db: services.db, temporal: temporal.client, files: services.files, logger });
logger.info({ api: api.url, temporal: services.temporalAddress, ui: config.TEMPORAL_ADDRESS ? undefined : `http://127.0.0.1:${config.TEMPORAL_UI_PORT}` }, 'taskwire is running');

onShutdownSignal(logger, async () => {
  await api.close();
  await workers.shutdown();
  await workerConnection.close();
  await temporal.close();
  await services.close();
});
workers.done.catch((err) => {
  logger.fatal({ err: String(err) }, 'a worker failed');
  process.exit(1);
});
