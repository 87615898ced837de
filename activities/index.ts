/**
 * All activities, built from their dependencies (`createActivities({db, files, adapters, logger})`)
 * so tests pass real or fake ones without module mocking. Grouped by concern; each does one
 * transaction and is idempotent by an external id.
 */
import { bulkSendActivities } from './bulk-sends.js';
import { classifyAll } from './failures.js';
import { contactActivities } from './contacts.js';
import { deadLetterActivities } from './dead-letters.js';
import type { ActivityDeps } from './deps.js';
import { inboundActivities } from './inbound.js';
import { mediaActivities } from './media.js';
import { outboundActivities } from './outbound.js';
import { publicationActivities } from './publications.js';
import { slaActivities } from './sla.js';
import { taskActivities } from './tasks.js';
import { waitingReplyActivities } from './waiting-replies.js';

export type { ActivityDeps } from './deps.js';

export function createActivities(deps: ActivityDeps) {
  // Every failure reaches the workflow classified (activities/failures.ts, workflows/shared/retry.ts).
  return classifyAll({
    ...contactActivities(deps),
    ...deadLetterActivities(deps),
    ...mediaActivities(deps),
    ...inboundActivities(deps),
    ...outboundActivities(deps),
    ...taskActivities(deps),
    ...publicationActivities(deps),
    ...bulkSendActivities(deps),
    ...slaActivities(deps),
    ...waitingReplyActivities(deps),
  });
}

export type Activities = ReturnType<typeof createActivities>;
