/** Channel errors → Temporal failures: permanent ones are non-retryable with the channel's code. */
import { ApplicationFailure } from '@temporalio/activity';
import { ChannelPermanentError, ChannelTransientError } from '../channels/types.js';
import { FailureType } from '../workflows/shared/errors.js';

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
