import type { Client } from '@temporalio/client';
import type { Db } from '../db/index.js';
import type { Config } from '../runtime/config.js';
import type { FileStore } from '../runtime/file-store.js';
import type { Logger } from '../runtime/logger.js';
import type { TaskChanges } from './task-changes.js';

/** Everything the HTTP app needs; built by api/main.ts or scripts/start.ts, or by a test. */
export interface AppDeps {
  config: Config;
  db: Db;
  temporal: Client;
  files: FileStore;
  logger: Logger;
  /** `GET /api/task-changes` (503 without it); ended by ApiServer.close(). */
  taskChanges?: TaskChanges;
}
