/**
 * Node.js 20 reached its end of life on 2026-04-30 (no security fixes since). The npm scripts run
 * Node 24 (the devDependency `node`); someone who runs `node dist/...` on an older Node is told so at start.
 */
import type { Logger } from './logger.js';

export function warnIfNodeEndOfLife(logger: Logger, version = process.versions.node): void {
  if (Number(version.split('.')[0]) >= 22) return;
  logger.warn({ node: `v${version}` }, 'this Node.js is past its end of life (Node 20: April 2026) and gets no security fixes; run taskwire on Node.js 24 LTS');
}
