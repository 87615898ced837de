import { DefaultLogger, makeTelemetryFilterString, Runtime, type LogLevel } from '@temporalio/worker';
import type { Logger } from '../runtime/logger.js';

/** The SDK's logs go through our logger (warnings and above from the Rust core). Call once. */
export function installTemporalRuntime(logger: Logger): void {
  const level = (['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'].includes(logger.level.toUpperCase()) ? logger.level.toUpperCase() : 'INFO') as LogLevel;
  Runtime.install({
    logger: new DefaultLogger(level, (entry) => {
      const { message, meta } = entry;
      // The bundler's build report is noise at start-up: keep it for debug logs.
      const bundlerReport = message.startsWith('asset workflow-bundle');
      const fn = entry.level === 'ERROR' ? 'error' : entry.level === 'WARN' ? 'warn' : entry.level === 'INFO' && !bundlerReport ? 'info' : 'debug';
      logger[fn]({ ...(meta ?? {}), sdk: true }, message);
    }),
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} } },
    // Shutdown is ours (onShutdownSignal): close the HTTP server first, then the workers.
    shutdownSignals: [],
  });
}
