/**
 * `npm test` runs this first: finds the Temporal CLI or builds it once (minutes, with progress
 * lines), so the build does not happen inside vitest's globalSetup with its hook timeout.
 */
import { findOrBuildTemporalCli } from '../runtime/temporal-cli.js';

const started = Date.now();
try {
  const cli = await findOrBuildTemporalCli({ log: (line) => console.error(`[temporal-cli] ${line}`) });
  console.log(cli);
  const secs = (Date.now() - started) / 1000;
  if (secs > 5) console.error(`[temporal-cli] ready after ${secs.toFixed(0)}s`);
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
}
