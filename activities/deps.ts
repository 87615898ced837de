import type { ChannelAdapters } from '../channels/types.js';
import type { Db } from '../db/index.js';
import type { FileStore } from '../runtime/file-store.js';
import type { Logger } from '../runtime/logger.js';

export interface ActivityDeps {
  db: Db;
  files: FileStore;
  adapters: ChannelAdapters;
  logger: Logger;
}
