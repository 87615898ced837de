/**
 * What the webhook side, the workflows and the activities agree on. Pure TypeScript: imported by
 * workflow code (bundled for the sandbox), so nothing here may do I/O or import Node modules.
 * Carried in Temporal payloads: keep everything plain JSON (strings, numbers, arrays, objects).
 */
import type { SlaClockRef } from './sla-clock.js';

/**
 * A messenger: the `kind` of a channel folder registered in channels/index.ts ('vk', 'whatsapp', …).
 * A plain string: the registry validates it where it comes in (API bodies, configuration).
 */
export type ChannelKind = string;

/**
 * What a channel can do, as pure data (channels/<kind>/capabilities.ts). Workflows cannot import
 * channel code: conversations get it in their input (`ConversationInput.capabilities`).
 */
export interface ChannelCapabilities {
  /** Rule 14: the person's last message opens a reply window (its length is configuration); absent: never closes. */
  replyWindow?: { name: string };
  /** Approved template messages exist and may be sent outside the reply window (WhatsApp). */
  templates: boolean;
  /** The company may write first, with a template, to someone who never wrote (rule 15). */
  companyWritesFirst: boolean;
  /** Can a sent message be edited through the API? (rule 13) */
  canEdit: boolean;
  /** Does a new contact's name cost a channel API call (VK users.get)? Else the webhook carries it. */
  profileNeedsApi: boolean;
  /** Longest text one message may carry; longer texts are split into several deliveries. */
  maxTextLength: number;
  /** How many files one message may carry. */
  filesPerMessage: number;
  /** Longest text that can travel with files in one message. */
  maxCaptionLength: number;
  /**
   * What a send retried after an attempt of unknown outcome (a timeout, a dead worker) does:
   * `deduplicated` — the channel drops a repeated idempotency value (VK random_id);
   * `adopt_delivery_report` — the first attempt's delivery report, if one arrives, is adopted
   * instead of sending again (WhatsApp callback data); `sent_again` — nothing can tell, so the
   * message is sent again and may arrive twice (Telegram: no key, no echo of the bot's messages).
   */
  retriedSends: 'deduplicated' | 'adopt_delivery_report' | 'sent_again';
  /** Publications with comment threads (VK): which kinds are answered from the task, and whether replies carry files. */
  publications?: { answerable: PublicationKind[]; repliesCarryFiles: boolean };
  /** A person's id in the channel is their phone number (WhatsApp wa_id): contacts are found by it. */
  peerIsPhone: boolean;
}

/** A file a channel offers for download (inbound media). Resolved by the channel adapter. */
export interface MediaRef {
  /** taskwire's own media kind; the adapter maps channel kinds onto it. */
  kind: 'image' | 'document' | 'voice' | 'audio' | 'video' | 'sticker' | 'other';
  /** Direct URL (VK CDN links; WhatsApp webhook `url` when present). */
  url?: string;
  /** Channel media id (WhatsApp two-step download). */
  mediaId?: string;
  filename?: string;
  mimeType?: string;
  /** When a file can't be downloaded (e.g. VK video has no file URL): a link shown instead. */
  linkOnly?: boolean;
  /** Size in bytes when the channel says (Telegram `file_size`): a file over a limit is refused without a download. */
  size?: number;
}

/** A file in taskwire's content-addressed store (`runtime/file-store.ts`). Small: ids, not bytes. */
export interface StoredFile {
  sha256: string;
  filename: string;
  mimeType: string;
  size: number;
}

interface EventBase {
  /**
   * De-duplication keys of this event. The workflow drops an event if any key was seen before
   * (VK retries deliver the same `event_id`; the same message may come in two events).
   * Example: ['vk-event:7c0c…', 'vk-msg:2231'].
   */
  keys: string[];
  /** When the channel says it happened (ISO). */
  occurredAt: string;
  /** A dead letter handed back by an admin (its id): recorded, the dead letter is resolved. */
  retryOf?: string;
}

/** A customer's message (VK message_new, WhatsApp inbound message). */
export interface InboundMessageEvent extends EventBase {
  type: 'inbound';
  /** Channel message id (VK message id, WhatsApp wamid). */
  externalId: string;
  text: string;
  media: MediaRef[];
  /** Profile data the payload itself carries (WhatsApp profile name / phone). */
  profile?: { name?: string; phone?: string };
  /** Channel id of the message this one quotes / replies to. */
  replyToExternalId?: string;
  /** Link to the message in the channel's own UI, when one exists. */
  externalUrl?: string;
}

/** The customer edited a message they sent earlier (VK message_edit). */
export interface InboundEditEvent extends EventBase {
  type: 'inbound_edit';
  externalId: string;
  text: string;
  media: MediaRef[];
  editedAt: string;
}

/**
 * An outgoing message taskwire observed but did not send on an agent's behalf: VK message_reply,
 * WhatsApp smb_message_echoes. One path for all of them (the broadcast issue classifies here).
 */
export interface ObservedOutgoingEvent extends EventBase {
  type: 'observed_outgoing';
  externalId: string;
  /** Channel-level idempotency value the sender used (VK random_id), to recognise our own sends. */
  sendKey?: string;
  text: string;
  media: MediaRef[];
  /** Who sent it in the channel UI (VK admin_author_id), for display. */
  senderRef?: string;
  /** A template message (WhatsApp): the kind of a mailing is its template. */
  template?: { name: string; language: string };
  /** Sent by taskwire's bulk send (rule 22: a broadcast by origin). */
  bulkSendId?: string;
  /** The recipient's profile, fetched in batches by the bulk send (saves one call per new contact). */
  profile?: { name: string; extra?: Record<string, unknown> };
}

/** The person allowed or forbade messages from the company (VK message_allow / message_deny). */
export interface PermissionEvent extends EventBase {
  type: 'permission';
  allowed: boolean;
}

/** The person reacted to a message (WhatsApp reaction); an empty emoji removes the reaction. */
export interface ReactionEvent extends EventBase {
  type: 'reaction';
  /** The reaction's own message id. */
  externalId: string;
  /** The message reacted to (a comment's external id). */
  targetExternalId: string;
  emoji: string;
}

export type ConversationEvent =
  | InboundMessageEvent
  | InboundEditEvent
  | ObservedOutgoingEvent
  | PermissionEvent
  | ReactionEvent;

/** A community publication whose comments become one task (rules 17–19). */
export type PublicationKind = 'wall' | 'photo' | 'video' | 'topic';

export interface PublicationRef {
  kind: PublicationKind;
  /** Owner id as VK uses it in links: negative for a community (`-218000001`). */
  ownerId: number;
  /** Post, photo, video or topic id. */
  itemId: number;
}

/** A comment under a publication: new, edited, deleted or restored. */
export interface PublicationCommentEvent extends EventBase {
  type: 'publication_comment';
  action: 'new' | 'edit' | 'delete' | 'restore';
  /** VK comment id (board: post id in the topic). */
  commentId: string;
  /** Author: a VK user id, or a negative community id (the community's own comments). */
  fromId: string;
  text: string;
  media: MediaRef[];
  /** The comment this one answers (wall threads). */
  replyToCommentId?: string;
  /** Direct link to the comment in VK (rule 19). */
  externalUrl: string;
}

/** What a publication's task shows when the publication itself cannot be fetched. */
export function placeholderPublication(ref: PublicationRef): { title: string; text: string; url: string; files: [] } {
  return { title: `${ref.kind} ${ref.ownerId}_${ref.itemId}`, text: '', url: '', files: [] };
}

/** A lead form submission (VK lead_forms_new, rule 21). */
export interface LeadEvent {
  leadId: string;
  formId: string;
  formName: string;
  /** The submitting VK user. */
  userId: string;
  answers: Array<{ key: string; question: string; answer: string }>;
  occurredAt: string;
  /** A dead letter handed back by an admin (its id). */
  retryOf?: string;
}

/** Durations and limits a conversation runs with; read from config once and passed as input. */
export interface ConversationTiming {
  /** Reply window after the person's last message (rule 14), seconds. */
  replyWindowSeconds: number;
  /** How long a conversation with nothing to do stays open before its run completes, seconds. */
  idleSeconds: number;
  /** Continue-as-new after this many history events even if the server does not suggest it. */
  continueAsNewAfterEvents: number;
  /** Rules 22–24. Absent in runs started before broadcasts existed: the defaults apply. */
  broadcast?: BroadcastPolicy;
  /** HELD_REPLY_RETENTION_SECONDS: a reply held for a closed window expires unsent after this. Absent in older runs: the default. */
  heldReplyRetentionSeconds?: number;
}

/** BROADCAST_WINDOW_SECONDS, BROADCAST_THRESHOLD, BROADCAST_RETENTION_SECONDS. */
export interface BroadcastPolicy {
  windowSeconds: number;
  threshold: number;
  retentionSeconds: number;
}

export const DEFAULT_BROADCAST_POLICY: BroadcastPolicy = { windowSeconds: 300, threshold: 3, retentionSeconds: 2_592_000 };

/**
 * An observed outgoing message the conversation is waiting on (ids and deadlines only; the
 * message is in the database): `held` until the reply or expiry, else waiting for classification.
 */
export interface HoldRef {
  id: string;
  held: boolean;
  /** When the conversation must look at it again: classification deadline, or expiry. */
  checkAt: string;
}

/** What the API knows from the database when it (maybe) starts a run; ignored if a run is open. */
export interface ConversationSeed {
  contactId?: string;
  lastInboundAt?: string;
  messagesAllowed?: boolean;
}

export interface ConversationInput {
  channelId: string;
  channelKind: ChannelKind;
  /** The person's id in the channel (VK user id, WhatsApp wa_id). */
  peerId: string;
  timing: ConversationTiming;
  /** The channel's capabilities; absent in runs started before they travelled here (channels/legacy-capabilities.ts). */
  capabilities?: ChannelCapabilities;
  seed?: ConversationSeed;
  /** State carried over continue-as-new. */
  carried?: CarriedConversationState;
  /**
   * The conversation code version the run was started for (`CONVERSATION_VERSION`), set by whoever
   * starts it and kept over continue-as-new. From 6 on it replaces `patched()` markers: the input is
   * in the history, so the choice replays without a marker event or a TemporalChangeVersion upsert.
   * Absent in runs started before: they ask `patched()` as before.
   */
  version?: number;
}

export interface CarriedConversationState {
  contactId?: string;
  displayName?: string;
  taskId?: string;
  lastInboundAt?: string;
  messagesAllowed?: boolean;
  pending: ConversationEvent[];
  /** Observed outgoing messages held or waiting for classification (rules 22–24). */
  holds?: HoldRef[];
  /** The run continued as new only to hold: no idle timer, nothing else to do. */
  holdingOnly?: boolean;
  /** Recently seen event keys, oldest first, bounded. */
  seenKeys: string[];
  /** Events set aside as dead letters so far (TwDeadLetters). */
  deadLetters?: number;
  /** Recently completed request ids (update ids) with their results, bounded. */
  recentRequests: Array<{ requestId: string; result: CommentResult | TaskResult | StartConversationResult }>;
  /** Replies that wait (scheduled, or held for a closed window), in the order they were posted. */
  waitingReplies?: WaitingReplyRef[];
  /** The response-time clock that runs (or ran out unanswered), issue 13. */
  sla?: SlaClockRef;
}

/** The delivery statuses of a reply that has not gone out yet and may still be cancelled. */
export const WAITING_STATUSES = ['scheduled', 'held'] as const;
export function isWaitingStatus(status: string | null | undefined): status is (typeof WAITING_STATUSES)[number] {
  return (WAITING_STATUSES as readonly string[]).includes(status ?? '');
}

/**
 * A reply the conversation keeps until it is due (ids and times only; the text is the comment's):
 * `scheduled` goes out at `dueAt`; `held` goes out after the person's next message, or expires at `dueAt`.
 */
export interface WaitingReplyRef {
  commentId: string;
  status: 'scheduled' | 'held';
  /** ISO: when a scheduled reply is sent, or when a held one expires. */
  dueAt: string;
  /** Hold it if the window is closed when it comes due (`whenWindowClosed: "hold"`). */
  hold?: boolean;
  /** It is a template message (may go out with the window closed where the channel has templates). */
  template?: boolean;
}

/** Agent posts a comment on a task (internal, or notifying the contact). */
export interface PostCommentRequest {
  requestId: string;
  taskId: string;
  authorEmployeeId: string;
  text: string;
  notifyContact: boolean;
  files: StoredFile[];
  /** WhatsApp template message (outside the 24-hour window). */
  template?: { name: string; language: string; parameters?: string[] };
  replyToCommentId?: string;
  /** Issue 13 (conversations): send at this time (ISO) instead of now — `sendAt`, or the channel's undoSendSeconds. */
  sendAt?: string;
  /** Issue 13: outside the reply window, 'hold' keeps the reply until the person writes; default 'refuse' (422). */
  whenWindowClosed?: 'refuse' | 'hold';
}

/** Issue 13: cancel a reply that waits (scheduled or held). */
export interface CancelCommentRequest {
  requestId: string;
  commentId: string;
  employeeId: string;
}

export interface EditCommentRequest {
  requestId: string;
  commentId: string;
  editorEmployeeId: string;
  text: string;
}

export interface SetTaskStatusRequest {
  requestId: string;
  taskId: string;
  status: 'open' | 'completed';
  employeeId: string;
}

/** Rule 15: an agent writes first, by phone number, with an approved template (WhatsApp). */
export interface StartConversationRequest {
  requestId: string;
  authorEmployeeId: string;
  template: { name: string; language: string; parameters?: string[] };
}

export interface StartConversationResult {
  taskId: string;
  contactId: string;
  commentId: string;
}

export interface CommentResult {
  commentId: string;
}
export interface TaskResult {
  taskId: string;
}

/** What the `state` query returns (for ops and tests). */
export interface ConversationView {
  channelId: string;
  channelKind: ChannelKind;
  peerId: string;
  contactId?: string;
  displayName?: string;
  taskId?: string;
  lastInboundAt?: string;
  replyWindowClosesAt?: string;
  messagesAllowed?: boolean;
  pendingEvents: number;
  processedEvents: number;
  sendsInFlight: number;
  /** Messages held until the person replies (broadcasts, rule 24), and ones still being classified. */
  heldMessages: number;
  classifyingMessages: number;
  nextHoldCheckAt?: string;
  /** Replies that wait: scheduled ones and ones held for a closed window (issue 13). */
  waitingReplies?: number;
}
