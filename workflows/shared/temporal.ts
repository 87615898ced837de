/** Task queues, workflow ids and search attributes: the names both sides of Temporal use. */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { ChannelKind } from './types.js';

/** Workflows and database activities. Overridden by TEMPORAL_TASK_QUEUE. */
export const DEFAULT_TASK_QUEUE = 'taskwire';
/** Outbound calls of one channel kind run on their own queue, rate-limited by the server. */
export function channelTaskQueue(base: string, kind: ChannelKind): string {
  return `${base}-${kind}`;
}

/**
 * The conversation code version a new run is started for (ConversationInput.version). Raise it for
 * the next change of what a conversation run does, and branch on `input.version` in the workflow:
 * runs started before keep the input they were started with, so they replay unchanged. Deploy
 * workers before (or with) the API that starts runs for a new version (docs/design.md).
 *  - 6 (issue 12): a new person's profile is fetched outside the run; no patch markers.
 */
export const CONVERSATION_VERSION = 6;

// Workflow ids of channel events need the registry (the channel's `workflowKey`): channels/workflow-ids.ts.

export const SA = {
  /** The channel's kind ('vk', 'whatsapp', …) */
  channel: defineSearchAttributeKey('TwChannel', SearchAttributeType.KEYWORD),
  /** taskwire channel id */
  channelId: defineSearchAttributeKey('TwChannelId', SearchAttributeType.KEYWORD),
  contactId: defineSearchAttributeKey('TwContactId', SearchAttributeType.KEYWORD),
  taskId: defineSearchAttributeKey('TwTaskId', SearchAttributeType.KEYWORD),
  /** 'awaiting_agent' (after a customer message) | 'answered' (after an agent reply) */
  state: defineSearchAttributeKey('TwState', SearchAttributeType.KEYWORD),
  /** Messages the conversation holds until the person replies (broadcasts, rule 24). */
  heldBroadcasts: defineSearchAttributeKey('TwHeldBroadcasts', SearchAttributeType.INT),
  lastMessageAt: defineSearchAttributeKey('TwLastMessageAt', SearchAttributeType.DATETIME),
  /** Events the workflow set aside as dead letters (issue 10): `TwDeadLetters > 0`. */
  deadLetters: defineSearchAttributeKey('TwDeadLetters', SearchAttributeType.INT),
  /** Issue 13: the last response-time clock ran out (`TwSlaBreached = true`); false once the next one starts. */
  slaBreached: defineSearchAttributeKey('TwSlaBreached', SearchAttributeType.BOOL),
  /** Issue 13: the due time of the response-time clock while it runs (`TwSlaDueAt < "…"`: at risk); absent otherwise. */
  slaDueAt: defineSearchAttributeKey('TwSlaDueAt', SearchAttributeType.DATETIME),
} as const;

/** For registration at worker start and `--search-attribute` flags of the dev server. */
export const SEARCH_ATTRIBUTES: Array<{ name: string; type: 'Keyword' | 'Int' | 'Datetime' | 'Bool' }> = [
  { name: 'TwChannel', type: 'Keyword' },
  { name: 'TwChannelId', type: 'Keyword' },
  { name: 'TwContactId', type: 'Keyword' },
  { name: 'TwTaskId', type: 'Keyword' },
  { name: 'TwState', type: 'Keyword' },
  { name: 'TwHeldBroadcasts', type: 'Int' },
  { name: 'TwLastMessageAt', type: 'Datetime' },
  { name: 'TwDeadLetters', type: 'Int' },
  { name: 'TwSlaBreached', type: 'Bool' },
  { name: 'TwSlaDueAt', type: 'Datetime' },
];

/**
 * `bulk-send/taskwire/12`: job ids are a database sequence, so the deployment's task queue makes the
 * id unique in a namespace that several deployments (or test files) share. Jobs started before
 * ran as `bulk-send/<id>` and finish under that id.
 */
export function bulkSendWorkflowId(taskQueue: string, bulkSendId: string): string {
  return `bulk-send/${taskQueue}/${bulkSendId}`;
}
/** `taskwire-purge-broadcasts` on the default queue: one Schedule per deployment (task queue). */
export function purgeBroadcastsScheduleId(taskQueue: string): string {
  return `${taskQueue}-purge-broadcasts`;
}
