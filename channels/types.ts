/**
 * The contract every messenger implements (one folder per channel: channels/vk, channels/whatsapp),
 * registered by one line in channels/index.ts. The pipeline (dedupe, contact, task, comment) is
 * written once in workflows/ and activities/; a channel's `ChannelDefinition` says everything that
 * differs by messenger: its webhook routes, capabilities, configuration, credentials, recipients,
 * and its `ChannelAdapter` calls the messenger's API and classifies its errors.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { z } from 'zod';
import type { AppEnv } from '../api/env.js';
import type { Logger } from '../runtime/logger.js';
import type { ChannelCapabilities, ChannelKind, ConversationEvent, LeadEvent, MediaRef, StoredFile } from '../workflows/shared/types.js';
import type { PublicationCommentEvent, PublicationRef } from '../workflows/shared/types.js';
import type { Channel, ChannelCredentials } from '../db/schema.js';
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
  /** Posts a reply under a comment as the community; `idempotencyKey` makes a retry safe (VK guid). */
  reply(channel: Channel, ref: PublicationRef, reply: { replyToCommentId: string; text: string; files: OutboundMessage['files']; idempotencyKey: string }): Promise<SendResult>;
}

/** Everything the worker-side pipeline needs from a channel. */
export interface ChannelAdapter {
  kind: ChannelKind;
  /** Limits, edits and retried sends: the channel's capabilities (channels/<kind>/capabilities.ts). */
  capabilities: ChannelCapabilities;
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

/** The messenger refused the credentials given for a new channel (API: 422 `invalid_credentials`, nothing stored). */
export class ChannelCredentialsRefused extends Error {
  constructor(message: string, readonly field?: string) {
    super(message);
    this.name = 'ChannelCredentialsRefused';
  }
}

/** The adapters by kind, as `createAdapters` builds them from the registry. */
export type ChannelAdapters = Readonly<Record<ChannelKind, ChannelAdapter>>;

/** The adapter of a channel's kind; a kind no folder registers is a permanent misconfiguration. */
export function adapterFor(adapters: ChannelAdapters, kind: ChannelKind): ChannelAdapter {
  const adapter = adapters[kind];
  if (!adapter) throw new ChannelPermanentError('misconfigured', `no channel of kind "${kind}" is registered`, 'refused');
  return adapter;
}

/** A recipient given by the API (bulk send, first contact) as the channel's person id, or what is wrong with it. */
export type RecipientPeer = { peerId: string } | { field: string; message: string };

/** The environment variables of a channel (`VK_API_BASE_URL`, …) as zod parses them. */
export type ChannelConfigShape = z.core.$ZodShape;
/** (Any configuration for the registry's erased `ChannelDefinition`.) */
export type ChannelEnv<Shape extends ChannelConfigShape> = {} extends Shape ? object : z.output<z.ZodObject<Shape>>;

/**
 * Everything one messenger contributes (channels/<kind>/definition.ts); `Shape` is its configuration,
 * `CreateShape` its fields of POST /api/channels.
 */
export interface ChannelDefinition<Shape extends ChannelConfigShape = {}, CreateShape extends z.core.$ZodShape = z.core.$ZodShape> {
  kind: ChannelKind;
  /** The messenger's name for people: `VK`, `WhatsApp`. */
  label: string;
  /** Its name in OpenAPI schema names (`CreateVkChannel`): letters only. */
  schemaName: string;
  /** The channel's short name in workflow ids (`conversation/wa-<phone number id>/…`): never change it. */
  workflowKey: string;
  /** A contact's name when the channel gives none (`VK user 552301`). */
  placeholderName(peerId: string): string;
  capabilities: ChannelCapabilities;

  /** The environment variables the channel reads (merged into runtime/config.ts's schema; README's table). */
  config: z.ZodObject<Shape>;
  /** Requests per second the channel's task queue may make (the server rate-limits the whole queue). */
  rateLimitPerSecond(env: ChannelEnv<Shape>): number;
  /** Length of the reply window, seconds (for channels with `capabilities.replyWindow`). */
  replyWindowSeconds?(env: ChannelEnv<Shape>): number;
  createAdapter(env: ChannelEnv<Shape>, media: MediaFetchPolicy): ChannelAdapter;

  /** Connecting a channel (POST /api/channels) and rotating its secrets (PATCH). */
  credentials: ChannelCredentialsSpec<ChannelEnv<Shape>, CreateShape>;

  /** Who a bulk send (and, with `capabilities.companyWritesFirst`, a first contact) is addressed to. */
  recipient: {
    /** One recipient in a request body (strict), e.g. `{vkUserId}`; documented in the OpenAPI. */
    schema: z.ZodObject;
    /** How it reads in an error: `{vkUserId}`. */
    shape: string;
    /** The person's id in the channel from a recipient the schema accepted. */
    peerId(recipient: unknown): RecipientPeer;
  };

  /**
   * De-duplication keys, besides `bulk:<id>`, that the channel's own echo of a message taskwire sent
   * carries (VK message_reply: `vk-msg:…`), so the conversation records that message once.
   */
  echoKeys?(channel: Channel, externalId: string): string[];

  webhook: {
    /** Where the channel posts (`/webhooks/vk`; Telegram's names the channel: `/webhooks/telegram/<id>`). */
    path(channel: Pick<Channel, 'id'>): string;
    /** Registers the channel's webhook routes on the app, through what the API gives them. */
    register(ctx: WebhookContext): void;
  };
}

export interface ChannelCredentialsSpec<Env extends object, CreateShape extends z.core.$ZodShape> {
  /** The kind's own fields of POST /api/channels (besides `kind`, `name`, `active`, `settings`), with OpenAPI docs. */
  create: z.ZodObject<CreateShape>;
  /** The secrets PATCH /api/channels/:id may replace (every field optional there). */
  rotatable: Readonly<Record<string, z.ZodType>>;
  /** The public fields every answer shows (not secrets), for the OpenAPI: VK `groupId`; WhatsApp `phoneNumberId`, `wabaId`. */
  shown: Readonly<Record<string, z.ZodType>>;
  /** The answer's name for the external id (`groupId`), also in `channel_exists` details. */
  externalIdField: string;
  /**
   * The external id and the credentials to store, from a valid body. May call the messenger to check
   * them (a refusal is a `ChannelCredentialsRefused`): nothing is stored before this returns.
   */
  prepare(body: z.output<z.ZodObject<CreateShape>>, ctx: { env: Env }): Promise<{ externalId: string; credentials: ChannelCredentials }>;
  /**
   * After the row is inserted, before it is committed (Telegram: setWebhook with the channel id in its
   * URL). A failure (e.g. `ChannelCredentialsRefused`) rolls the insert back.
   */
  afterCreate?(channel: Channel, ctx: { env: Env; webhookUrl: string }): Promise<void>;
  /** The public fields of a channel, as `shown` documents them. */
  show(channel: Channel): Record<string, string | number>;
}

/** Metric results of a webhook delivery (`taskwire_webhook_events_total{channel, result}`). */
export type WebhookResult = 'accepted' | 'ignored' | 'unknown_channel' | 'throttled' | 'bad_secret' | 'bad_signature' | 'unavailable';

/** Where a channel's webhook hands what it parsed: Temporal (events) or the database (delivery reports). */
export interface WebhookHandover {
  conversation(channel: Channel, peerId: string, event: ConversationEvent): Promise<void>;
  publication(channel: Channel, ref: PublicationRef, event: PublicationCommentEvent): Promise<void>;
  lead(channel: Channel, lead: LeadEvent): Promise<void>;
  /** In one transaction. */
  deliveryReports(reports: Array<{ channel: Channel; report: DeliveryStatusReport }>): Promise<void>;
}

/**
 * What the API gives a channel's webhook routes (api/routes/webhooks.ts writes it once): lookups
 * among the channels of this kind, the authentication throttle, counting, and the hand-over that
 * answers 503 when Temporal or the database did not take everything (the messenger then retries).
 */
export interface WebhookContext {
  app: OpenAPIHono<AppEnv>;
  logger: Logger;
  /**
   * The body as the channel parses it: `read` failing (not JSON) is a 400 `malformed_json`; `parse`
   * throwing a `refusal` (VkCallbackError, …) a 400 naming its `field` (else `body`).
   */
  parseBody<T>(read: () => Promise<unknown>, parse: (body: unknown) => T, refusal: abstract new (...args: never[]) => Error & { field?: string }): Promise<T>;
  /** Channels of this kind by external id (inactive ones too). */
  channelsByExternalId(externalIds: string[]): Promise<Map<string, Channel>>;
  /** The channel of this kind with this taskwire id (inactive too). */
  channelById(id: string): Promise<Channel | undefined>;
  /** Channels of this kind whose stored credential `field` equals `value` (compare in constant time after). */
  channelsByCredential(field: string, value: string): Promise<Channel[]>;
  /** Counts `unknown_channel` and throws 404 `unknown_channel`. */
  unknownChannel(message: string): never;
  /**
   * Throttles failed authentication per client address and channel: a 429 answer while blocked
   * (counted `throttled`); then each channel must accept (`valid`), else the failure is counted
   * and `refusal` thrown (401 or 403 in the contract's shape).
   */
  authenticate(
    c: Context<AppEnv>,
    channels: Channel[],
    valid: (channel: Channel) => boolean,
    refusal: { status: 401 | 403; message: string; result: Extract<WebhookResult, 'bad_secret' | 'bad_signature'> },
  ): Response | undefined;
  /** One throttle count for `scope` (WhatsApp verification: one per address for all numbers). */
  attempt(c: Context<AppEnv>, scope: string): { blocked(): Response | undefined; failed(): void };
  count(result: WebhookResult, n?: number): void;
  /** Does the channel's `receive` setting let this kind of event in (undefined: always)? */
  receives(channel: Channel, kind: keyof Channel['settings']['receive'] | undefined): boolean;
  /**
   * Runs `work` (which hands things over and says how many) and counts them `accepted`; when
   * anything fails, counts `unavailable`, logs, and gives the 503 answer to return.
   */
  handOver(c: Context<AppEnv>, work: (to: WebhookHandover) => Promise<number>, unavailable: { message: string; details?: Record<string, unknown>; log: Record<string, unknown> }): Promise<Response | undefined>;
}

