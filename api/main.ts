/** Production API: DATABASE_URL and TEMPORAL_ADDRESS must be set. */
import { bootstrapOwner } from './auth.js';
import { loadConfig } from '../runtime/config.js';
import { createLogger } from '../runtime/logger.js';
import { warnIfNodeEndOfLife } from '../runtime/node-version.js';
import { connectClient, onShutdownSignal, startServices } from '../runtime/services.js';
import { startApiServer } from './server.js';

const config = loadConfig();
const logger = createLogger(config.LOG_LEVEL, 'taskwire-api');
warnIfNodeEndOfLife(logger);
const services = await startServices(config, logger, { embedded: false });
await bootstrapOwner(services.db, config.BOOTSTRAP_ADMIN_TOKEN);
const temporal = await connectClient(services);
const api = await startApiServer({ config, db: services.db, databaseUrl: services.databaseUrl, temporal: temporal.client, files: services.files, logger });
logger.info({ url: api.url }, 'taskwire API listening');
onShutdownSignal(logger, async () => {
  await api.close();
  await temporal.close();
  await services.close();
});
