/** Channel errors → Temporal failures: permanent ones are non-retryable with the channel's code. */
import { ApplicationFailure } from '@temporalio/activity';
import { ChannelPermanentError, ChannelTransientError } from '../channels/types.js';
import { ActivityFailureType, FailureType } from '../workflows/shared/errors.js';

export function toActivityFailure(err: unknown): unknown {
  if (err instanceof ChannelPermanentError) {
    const type =
      err.meaning === 'reply_window_closed' ? FailureType.ReplyWindowClosed
      : err.meaning === 'messages_denied' ? FailureType.ChannelRefused
      : FailureType.ChannelRefused;
    const details =
      type === FailureType.ReplyWindowClosed
        ? { window: 'channel', windowSeconds: 0, closedAt: null, channelCode: err.channelCode, channelMessage: err.channelMessage }
        : { channelCode: err.channelCode, channelMessage: err.channelMessage };
    return ApplicationFailure.create({ message: err.message, type, nonRetryable: true, details: [details] });
  }
  if (err instanceof ChannelTransientError) {
    return ApplicationFailure.create({
      message: err.message,
      type: 'ChannelTransient',
      nonRetryable: false,
      details: [{ channelCode: err.channelCode ?? null }],
      nextRetryDelay: err.retryAfterMs,
    });
  }
  return err;
}

export function notFound(what: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`${what} not found`, FailureType.NotFound, { what });
}

export function notSupported(reason: string, message: string, extra: Record<string, unknown> = {}): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, FailureType.NotSupported, { reason, ...extra });
}

/** Node socket errors that mean PostgreSQL is not there (yet). */
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH']);
const CONNECTION_MESSAGES = /Connection terminated|Client was closed|the database system is (starting up|shutting down|in recovery)|timeout exceeded when trying to connect|Client has encountered a connection error|connection is insufficiently secure|Cannot use a pool after calling end/i;

/**
 * PostgreSQL errors by SQLSTATE class: connection trouble and server shutdown are the database
 * being unavailable (retried, then waited out by the workflow); data exceptions and the
 * constraints a retry cannot change are the values being refused (not retried).
 * https://www.postgresql.org/docs/current/errcodes-appendix.html
 */
export function classifyDatabaseError(err: unknown): 'unavailable' | 'invalid' | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (CONNECTION_CODES.has(code)) return 'unavailable';
    // 08 connection exception, 57P01–57P03 shutdown / cannot connect now, 53 insufficient resources.
    if (/^08|^57P0[1-3]$|^53/.test(code)) return 'unavailable';
    // 22 data exception (bad encoding, numeric overflow, invalid text), 23 integrity constraint
    // violations except unique (a unique conflict can be a race that a retry resolves).
    if (/^22/.test(code) || (/^23/.test(code) && code !== '23505')) return 'invalid';
  }
  if (CONNECTION_MESSAGES.test(err.message)) return 'unavailable';
  return undefined;
}

/**
 * Wraps an activity so its failures reach the workflow classified: ApplicationFailures as they
 * are; PostgreSQL refusing the values → non-retryable InvalidData; PostgreSQL unavailable →
 * retryable DatabaseUnavailable (see workflows/shared/retry.ts); anything else unchanged
 * (retried, a bounded number of times).
 */
export function classified<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    try {
      return await fn(...args);
    } catch (err) {
      if (err instanceof ApplicationFailure) throw err;
      const kind = classifyDatabaseError(err);
      const message = err instanceof Error ? err.message : String(err);
      const code = (err as { code?: unknown } | null)?.code;
      if (kind === 'invalid') {
        throw ApplicationFailure.create({ message, type: ActivityFailureType.InvalidData, nonRetryable: true, details: [{ code }], cause: err as Error });
      }
      if (kind === 'unavailable') {
        throw ApplicationFailure.create({ message, type: ActivityFailureType.DatabaseUnavailable, nonRetryable: false, details: [{ code }] });
      }
      throw err;
    }
  };
}

/** Every activity of a group, classified. */
export function classifyAll<T extends Record<string, (...args: never[]) => Promise<unknown>>>(activities: T): T {
  return Object.fromEntries(Object.entries(activities).map(([name, fn]) => [name, classified(fn as (...a: unknown[]) => Promise<unknown>)])) as unknown as T;
}
