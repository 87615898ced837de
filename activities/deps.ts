import type { ChannelAdapter } from '../channels/types.js';
import type { Db } from '../db/index.js';
import type { FileStore } from '../runtime/file-store.js';
import type { Logger } from '../runtime/logger.js';
import type { ChannelKind } from '../workflows/shared/types.js';

export interface ActivityDeps {
  db: Db;
  files: FileStore;
  adapters: Record<ChannelKind, ChannelAdapter>;
  logger: Logger;
}
