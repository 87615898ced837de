/** Setting an event aside as a dead letter, the same way in every workflow that records events. */
import { log } from '@temporalio/workflow';
import type { RecordDeadLetterInput } from '../../activities/dead-letters.js';
import { failureSummary, untilDatabaseAnswers } from './retry.js';

type RecordDeadLetter = (input: RecordDeadLetterInput) => Promise<{ id: string }>;

/**
 * Returns `setAside(event, reason, failure)`: the event is kept in `dead_letters` (listed by
 * `GET /api/dead-letters`, retried by an admin) and the caller goes on with the next event. If
 * even that cannot be written, the event stays in the workflow's history and the error is logged.
 */
export function deadLetters(
  recordDeadLetter: RecordDeadLetter,
  where: Pick<RecordDeadLetterInput, 'channelId' | 'workflowId' | 'workflowType' | 'target'>,
  onSetAside: () => void = () => {},
) {
  return async function setAside(event: RecordDeadLetterInput['event'], reason: string, failure: unknown): Promise<void> {
    const error = failureSummary(failure);
    onSetAside();
    const r = await untilDatabaseAnswers(() => recordDeadLetter({ ...where, event, reason, error }));
    if (!r.ok) log.error('an event could not be recorded nor set aside', { reason, ...error, deadLetterError: failureSummary(r.failure) });
  };
}
