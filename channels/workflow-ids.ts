/**
 * Workflow ids of channel events, built from the registry (the channel's `workflowKey`). Not for
 * workflow code (the registry imports channel code): the API and activities start the runs.
 */
import { CONVERSATION_VERSION, SA } from '../workflows/shared/temporal.js';
import type { ChannelKind, ConversationInput } from '../workflows/shared/types.js';
import { channelDefinition } from './index.js';

/** `vk-218000001`, `wa-106540352242922`: the channel's readable key in workflow ids. */
export function channelKey(kind: ChannelKind, externalId: string): string {
  return `${channelDefinition(kind).workflowKey}-${externalId}`;
}

export function conversationWorkflowId(kind: ChannelKind, channelExternalId: string, peerId: string): string {
  return `conversation/${channelKey(kind, channelExternalId)}/${peerId}`;
}

export function publicationWorkflowId(kind: ChannelKind, channelExternalId: string, ref: { kind: string; ownerId: number; itemId: number }): string {
  return `publication/${channelKey(kind, channelExternalId)}/${ref.kind}/${ref.ownerId}_${ref.itemId}`;
}

export function leadWorkflowId(kind: ChannelKind, channelExternalId: string, leadId: string): string {
  return `lead/${channelKey(kind, channelExternalId)}/${leadId}`;
}

/**
 * How a conversation run is started (signal-with-start, update-with-start): by the API for channel
 * events and agent actions, and by the bulk-send activity for the messages it sends. The run gets
 * the channel's capabilities and the conversation code version (workflows/shared/temporal.ts) in its input.
 */
export function conversationStartOptions(taskQueue: string, channelExternalId: string, input: ConversationInput, opts: { displayName?: string } = {}) {
  return {
    workflowId: conversationWorkflowId(input.channelKind, channelExternalId, input.peerId),
    taskQueue,
    args: [{ ...input, capabilities: input.capabilities ?? channelDefinition(input.channelKind).capabilities, version: CONVERSATION_VERSION }] as [ConversationInput],
    // The person's name, when the event that starts the run carries it (WhatsApp, Telegram, a bulk
    // send's prefetched profile): shown from the start, without a memo change in the history.
    ...(opts.displayName ? { memo: { displayName: opts.displayName } } : {}),
    typedSearchAttributes: [
      { key: SA.channel, value: input.channelKind },
      { key: SA.channelId, value: input.channelId },
    ],
    staticSummary: `${input.channelKind} conversation with ${input.peerId}`,
  };
}
