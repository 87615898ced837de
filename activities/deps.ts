import type { ChannelAdapters } from '../channels/types.js';
import type { Db } from '../db/index.js';
import type { FileStore } from '../runtime/file-store.js';
import type { Logger } from '../runtime/logger.js';
import type { SlaClock } from './sla.js';

export interface ActivityDeps {
  db: Db;
  files: FileStore;
  adapters: ChannelAdapters;
  logger: Logger;
  /** The response-time clock (activities/sla.ts); the real one unless a test injects a scaled one. */
  slaClock?: SlaClock;
  /** A contact named with a placeholder whose profile the worker fetches outside the workflow (worker/profile-enricher.ts). */
  profilesPending?: (contact: { channelId: string; peerId: string }) => void;
}
