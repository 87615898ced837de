/** Production worker: DATABASE_URL and TEMPORAL_ADDRESS must be set. */
import { createAdapters } from '../channels/index.js';
import { loadConfig } from '../runtime/config.js';
import { createLogger } from '../runtime/logger.js';
import { warnIfNodeEndOfLife } from '../runtime/node-version.js';
import { connectClient, connectWorker, onShutdownSignal, startServices } from '../runtime/services.js';
import { ensureSchedules } from './schedules.js';
import { installTemporalRuntime } from './runtime.js';
import { startWorkers } from './index.js';

const config = loadConfig();
const logger = createLogger(config.LOG_LEVEL, 'taskwire-worker');
warnIfNodeEndOfLife(logger);
installTemporalRuntime(logger);
const services = await startServices(config, logger, { embedded: false });
const connection = await connectWorker(services);
const workers = await startWorkers({ config, connection, db: services.db, files: services.files, adapters: createAdapters(config), logger });
const temporal = await connectClient(services);
await ensureSchedules(temporal.client, config, logger);
onShutdownSignal(logger, async () => {
  await workers.shutdown();
  await connection.close();
  await temporal.close();
  await services.close();
});
await workers.done;
