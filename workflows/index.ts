// Everything the worker registers as workflows (bundled for the workflow sandbox).
export { conversation } from './conversation.js';
export { publication } from './publication.js';
export { lead } from './lead.js';
export { bulkSend, purgeBroadcasts } from './bulk-send.js';
