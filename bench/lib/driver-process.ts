/** Forks the load generator (bench/lib/driver.ts) as a child process: see lib/phase-process.ts. */
import type { PhaseOptions, PhaseResult } from './driver.js';
import { startPhaseProcess, type PhaseProcess } from './phase-process.js';

export type DriverProcess = PhaseProcess<PhaseOptions, PhaseResult>;

export function startDriverProcess(): Promise<DriverProcess> {
  return startPhaseProcess<PhaseOptions, PhaseResult>(new URL('./driver.ts', import.meta.url), 'driver');
}
