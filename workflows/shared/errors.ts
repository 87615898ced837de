/**
 * ApplicationFailure types thrown by workflows and activities, and the HTTP answers they become.
 * The API maps `failure.type` → contract error (api/errors.ts); details carry what a person needs.
 */
export const FailureType = {
  /** Outside the channel's reply window (rule 14). details: {window, closedAt} */
  ReplyWindowClosed: 'ReplyWindowClosed',
  /** The person forbade messages from the company (VK message_deny). */
  MessagesDenied: 'MessagesDenied',
  /** The channel refused permanently. details: {channelCode, channelMessage} */
  ChannelRefused: 'ChannelRefused',
  /** The channel does not allow this (edit a WhatsApp message, reply under a photo...). details: {reason, url?} */
  NotSupported: 'NotSupported',
  /** Bad request that only the workflow can judge. details: {field} */
  InvalidRequest: 'InvalidRequest',
  NotFound: 'NotFound',
  /** Channel is deactivated or misconfigured. */
  ChannelInactive: 'ChannelInactive',
} as const;
export type FailureType = (typeof FailureType)[keyof typeof FailureType];

/** Activity failure types (set by activities/failures.ts) that workflows act on; never shown to agents as such. */
export const ActivityFailureType = {
  /** PostgreSQL could not be reached or refused connections: retried, then waited out. */
  DatabaseUnavailable: 'DatabaseUnavailable',
  /** PostgreSQL refused the values (data exception, constraint): retrying cannot help. */
  InvalidData: 'InvalidData',
} as const;

export interface ReplyWindowClosedDetails {
  window: string; // e.g. 'vk-10-days'
  windowSeconds: number;
  closedAt: string | null; // null: the person never wrote
}

export interface ChannelRefusedDetails {
  channelCode: number | string;
  channelMessage: string;
}
