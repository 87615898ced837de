/**
 * A taskwire worker in its own process, for tests that kill a worker mid-flight. Configured by
 * the same environment variables as production; prints "READY" once polling.
 */
import { NativeConnection } from '@temporalio/worker';
import { createAdapters } from '../../channels/index.js';
import { createDb } from '../../db/index.js';
import { loadConfig } from '../../runtime/config.js';
import { FileStore } from '../../runtime/file-store.js';
import { createLogger } from '../../runtime/logger.js';
import { startWorkers } from '../../worker/index.js';
import { installTemporalRuntime } from '../../worker/runtime.js';

const config = loadConfig();
const logger = createLogger(config.LOG_LEVEL);
installTemporalRuntime(logger);
const db = createDb(config.DATABASE_URL!);
const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS! });
const bundle = process.env.WORKFLOW_BUNDLE_PATH;
const workers = await startWorkers({
  config,
  connection,
  db,
  files: new FileStore(config.filesDir),
  adapters: createAdapters(config),
  logger,
  workflowBundle: bundle ? { codePath: bundle } : undefined,
});
process.stdout.write('READY\n');
await workers.done;
