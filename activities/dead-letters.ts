import { createHash } from 'node:crypto';
import { upsertDeadLetter } from '../db/queries/dead-letters.js';
import type { DeadLetterTarget, DeadLetterWorkflowType } from '../db/schema.js';
import { storableText } from '../runtime/storable-text.js';
import type { ActivityDeps } from './deps.js';

export interface RecordDeadLetterInput {
  channelId: string;
  workflowId: string;
  workflowType: DeadLetterWorkflowType;
  target: DeadLetterTarget;
  /** The event as the workflow received it (a conversation or publication event, a lead). */
  event: { keys?: string[]; leadId?: string; occurredAt?: string; retryOf?: string };
  reason: string;
  error: { type: string | null; message: string };
}

export function deadLetterActivities({ db, logger }: ActivityDeps) {
  /**
   * Sets an event aside that could not be recorded after bounded retries, so its workflow goes on
   * with the next one. Idempotent by (workflow, the event's first key); a failed retry of a dead
   * letter updates its row.
   */
  async function recordDeadLetter(input: RecordDeadLetterInput): Promise<{ id: string }> {
    const { retryOf, ...event } = input.event;
    // JSON text escapes NUL and lone surrogates: whatever PostgreSQL refused in the event, its JSON stores.
    const json = JSON.stringify(event);
    const eventKey = event.keys?.[0] ?? (event.leadId ? `lead:${event.leadId}` : `sha256:${createHash('sha256').update(json).digest('hex')}`);
    const at = event.occurredAt && !Number.isNaN(Date.parse(event.occurredAt)) ? new Date(event.occurredAt) : new Date();
    const receivedAt = at.getUTCFullYear() > 9999 || at.getUTCFullYear() < 1970 ? new Date() : at;
    const row = await upsertDeadLetter(db, {
      channelId: input.channelId,
      workflowId: input.workflowId,
      workflowType: input.workflowType,
      target: input.target,
      event: json,
      eventKey: storableText(eventKey).text,
      reason: storableText(input.reason).text,
      error: { type: input.error.type, message: storableText(input.error.message).text },
      receivedAt: receivedAt.toISOString(),
      retryOf,
    });
    // No event content in the log: it may be personal data.
    logger.warn({ deadLetterId: row.id, workflowId: input.workflowId, reason: input.reason, errorType: input.error.type, failures: row.failures }, 'event set aside as a dead letter');
    return { id: row.id };
  }
  return { recordDeadLetter };
}
