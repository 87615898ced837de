/**
 * Every activity retry in taskwire's workflows is bounded and its failures classified (issue 10).
 *
 * - Failures an activity marks non-retryable (the FailureType values, and InvalidData: a value
 *   PostgreSQL refuses) fail at once.
 * - Anything else is retried with backoff, a bounded number of times.
 * - When the attempts run out, the workflow decides: the database being unavailable is waited out
 *   (`untilDatabaseAnswers`, nothing is dropped because PostgreSQL was down); any other failure is
 *   contained by the caller (a dead letter, a missing file, a placeholder name) and the
 *   conversation goes on with the next event.
 *
 * Workflow code: deterministic, no I/O.
 */
import { ActivityFailure, ApplicationFailure, TimeoutFailure, patched, sleep, type ActivityOptions } from '@temporalio/workflow';
import type { EnsureContactInput, EnsureContactResult } from '../../activities/contacts.js';
import type { DownloadedMedia } from '../../activities/media.js';
import { ActivityFailureType, FailureType } from './errors.js';
import type { MediaRef } from './types.js';

export { ActivityFailureType };

export const NON_RETRYABLE_TYPES: string[] = [...Object.values(FailureType), ActivityFailureType.InvalidData];

/** Database work (local activities): about 2.5 minutes of attempts. */
export const DB_RETRY: NonNullable<ActivityOptions['retry']> = {
  initialInterval: '1 second',
  maximumInterval: '30 seconds',
  maximumAttempts: 10,
  nonRetryableErrorTypes: NON_RETRYABLE_TYPES,
};

/** Channel calls on the inbound side (profiles, media): about 2.5 minutes of attempts. */
export const CHANNEL_IN_RETRY = DB_RETRY;

/** Agent-side sends: bounded by their schedule-to-close timeout as well. */
export const CHANNEL_OUT_RETRY: NonNullable<ActivityOptions['retry']> = {
  initialInterval: '1 second',
  maximumInterval: '30 seconds',
  maximumAttempts: 20,
  nonRetryableErrorTypes: NON_RETRYABLE_TYPES,
};

/** Events are contained (dead letters, missing files) instead of failing the workflow. */
export const CONTAIN_FAILURES_PATCH = 'contain-failures';

/**
 * Whether the failure means the database was not there. A timeout counts for database work (a
 * hung database, a worker gone) but not for channel calls (a slow download is the file's fault).
 */
export function isUnavailable(err: unknown, timeoutsToo = true): boolean {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof TimeoutFailure) return timeoutsToo;
  return cause instanceof ApplicationFailure && cause.type === ActivityFailureType.DatabaseUnavailable;
}

/** The innermost failure's type and message, for a dead letter or a comment. */
export function failureSummary(err: unknown): { type: string | null; message: string } {
  let cause: unknown = err;
  while (cause instanceof ActivityFailure && cause.cause) cause = cause.cause;
  if (cause instanceof ApplicationFailure) return { type: cause.type ?? null, message: cause.message };
  if (cause instanceof TimeoutFailure) return { type: 'Timeout', message: cause.message || 'timed out' };
  return { type: null, message: cause instanceof Error ? cause.message : String(cause) };
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; failure: unknown };

const UNAVAILABLE_WAIT_MS = [10_000, 30_000, 60_000, 120_000, 300_000];

/**
 * Runs `fn` (an activity call with a bounded retry policy). When its attempts ran out because the
 * database was unavailable, waits (a durable timer, up to 5 minutes between tries) and runs it
 * again: an outage delays events, never drops them. Any other failure is returned for the caller
 * to contain. Histories from before this change rethrow, as they did (`patched`).
 */
export async function untilDatabaseAnswers<T>(fn: () => Promise<T>, opts: { timeoutsToo?: boolean } = {}): Promise<Outcome<T>> {
  for (let round = 0; ; round++) {
    try {
      return { ok: true, value: await fn() };
    } catch (err) {
      if (!patched(CONTAIN_FAILURES_PATCH)) throw err;
      if (!isUnavailable(err, opts.timeoutsToo ?? true)) return { ok: false, failure: err };
      const wait = UNAVAILABLE_WAIT_MS[Math.min(round, UNAVAILABLE_WAIT_MS.length - 1)]!;
      await sleep(wait, { summary: 'database unavailable: try again' });
    }
  }
}

/** Files whose download kept failing: recorded as missing, each named, with the last error. */
export function missingFiles(refs: MediaRef[], failure: unknown): DownloadedMedia[] {
  const reason = failureSummary(failure).message;
  return refs.map((ref) => ({ kind: ref.kind, link: ref.url, filename: ref.filename, error: `still failing after the last try (last error: ${reason})` }));
}

type EnsureContact = (input: EnsureContactInput) => Promise<EnsureContactResult>;

/**
 * The person's contact, named from the channel profile (`fromChannel`, a channel-queue activity);
 * when the profile cannot be fetched, with a placeholder name (`locally`, no channel call).
 */
export async function contactOrPlaceholder(fromChannel: EnsureContact, locally: EnsureContact, input: EnsureContactInput): Promise<Outcome<EnsureContactResult>> {
  const r = await untilDatabaseAnswers(() => fromChannel(input), { timeoutsToo: false });
  return r.ok ? r : untilDatabaseAnswers(() => locally({ ...input, skipProfile: true }));
}
