/**
 * The contract every messenger implements (one folder per channel: channels/vk, channels/whatsapp).
 * The pipeline (dedupe, contact, task, comment) is written once in workflows/ and activities/;
 * a channel only verifies and parses webhooks, calls its API, and classifies its errors.
 */
import type { ChannelKind, MediaRef, PublicationKind, PublicationRef, StoredFile } from '../workflows/shared/types.js';
import type { Channel } from '../db/schema.js';
import type { MediaFetchPolicy } from './media-fetch.js';

/** A channel's permanent refusal; activities turn it into a non-retryable ApplicationFailure. */
export class ChannelPermanentError extends Error {
  constructor(
    readonly channelCode: number | string,
    readonly channelMessage: string,
    /** What it means for taskwire: window closed, person denied messages, or anything else. */
    readonly meaning: 'reply_window_closed' | 'messages_denied' | 'refused' = 'refused',
  ) {
    super(`channel refused (${channelCode}): ${channelMessage}`);
    this.name = 'ChannelPermanentError';
  }
}

/** A transient failure (rate limit, 5xx, network): retried with backoff by Temporal. */
export class ChannelTransientError extends Error {
  constructor(
    readonly channelCode: number | string | undefined,
    message: string,
    /** Suggested wait before the next attempt, when the channel says (rate limits). */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'ChannelTransientError';
  }
}

export interface Profile {
  name: string;
  phone?: string;
  /** Extra profile data kept on the identity (screen name, photo url...). */
  extra?: Record<string, unknown>;
}

export interface DownloadedFile {
  bytes: Uint8Array;
  filename: string;
  mimeType: string;
}

/** One outbound message as the channel should send it. */
export interface OutboundMessage {
  peerId: string;
  text: string;
  /** Files with their bytes loaded by the caller from the file store. */
  files: Array<StoredFile & { bytes: Uint8Array }>;
  /** Stable idempotency value of this delivery (deliveries.id): VK random_id, WhatsApp biz_opaque_callback_data. */
  idempotencyKey: string;
  /** Channel message id to quote. */
  replyToExternalId?: string;
  template?: { name: string; language: string; parameters?: string[] };
}

export interface SendResult {
  /** The channel's id of the sent message (VK message id, wamid). */
  externalId: string;
  /** Anything the channel needs later to edit it (VK: the attachment string, kept on edit). */
  extra?: Record<string, unknown>;
}

export interface EditRequest {
  peerId: string;
  externalId: string;
  extra?: Record<string, unknown> | null;
  text: string;
}

/**
 * A delivery state reported by the channel for a message we sent (WhatsApp `statuses`). States
 * only move forward: sent < delivered < read; failed is final but may follow sent.
 */
export interface DeliveryStatusReport {
  /** The channel's id of the sent message (wamid). */
  externalId: string;
  status: 'sent' | 'delivered' | 'read' | 'failed';
  occurredAt: string;
  error?: { code: number | string; message: string };
  /** The recipient's id in the channel (wa_id). */
  recipientId?: string;
  /** The idempotency value we sent with the message (WhatsApp biz_opaque_callback_data). */
  sendKey?: string;
}

/** What a publication looks like, fetched once when its first comment arrives (rule 17). */
export interface PublicationInfo {
  /** Short title for the task: topic title, or the first line of the post / caption. */
  title: string;
  /** Post text, photo or video description. */
  text: string;
  /** Link to the publication in the channel. */
  url: string;
  /** The publication's own files (rule 20 can switch copying them off). */
  media: MediaRef[];
}

/** Channels whose publications (posts, photos, videos, topics) carry comment threads (VK). */
export interface PublicationSupport {
  fetch(channel: Channel, ref: PublicationRef): Promise<PublicationInfo>;
  /** Kinds whose comments can be answered through the API (VK: wall posts only). */
  replyKinds: PublicationKind[];
  /** Posts a reply under a comment as the community; `idempotencyKey` makes a retry safe (VK guid). */
  reply(channel: Channel, ref: PublicationRef, reply: { replyToCommentId: string; text: string; files: OutboundMessage['files']; idempotencyKey: string }): Promise<SendResult>;
  /** Direct link to a comment (rule 19). */
  commentUrl(ref: PublicationRef, commentId: string, threadRootId?: string): string;
}

/** Everything the worker-side pipeline needs from a channel. */
export interface ChannelAdapter {
  kind: ChannelKind;
  /** Longest text one message may carry; longer texts are split into several deliveries. */
  maxTextLength: number;
  /** How many files one message may carry (VK: 10 attachments; WhatsApp: one media per message). */
  filesPerMessage: number;
  /** Longest text that can travel with files in one message (VK: the text limit; WhatsApp: a 1,024-char caption). */
  maxCaptionLength: number;
  /**
   * Does the channel itself refuse to send the same message twice (VK random_id)? If not, a
   * retried send first looks for a delivery report of the first attempt (WhatsApp).
   */
  idempotentSends: boolean;
  /** Can a sent message be edited through the API? (rule 13) */
  canEdit: boolean;
  fetchProfile(channel: Channel, peerId: string): Promise<Profile>;
  /** Many profiles in one call (VK users.get takes 1,000 ids), for bulk sends; absent when profiles cost no call. */
  fetchProfiles?(channel: Channel, peerIds: string[]): Promise<Record<string, Profile>>;
  /**
   * Fetches an inbound file under `mediaPolicy`: a refused URL or file is a `MediaRefusedError`,
   * trouble that may pass a `ChannelTransientError`.
   */
  download(channel: Channel, media: MediaRef): Promise<DownloadedFile>;
  /** Where inbound media may come from, how large it may be, how often a failing file is tried. */
  mediaPolicy: MediaFetchPolicy;
  send(channel: Channel, message: OutboundMessage): Promise<SendResult>;
  edit(channel: Channel, request: EditRequest): Promise<void>;
  /** Present when the channel has publication comment threads (VK). */
  publications?: PublicationSupport;
}
