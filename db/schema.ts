/**
 * The typed `Database` of taskwire. bigint ids come back from `pg` as strings, which is also how
 * the API exposes ids. JSON columns are typed with what the code stores in them.
 */
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { SlaSettings } from '../workflows/shared/sla-calendar.js';
import type { StoredFile } from '../workflows/shared/types.js';

type Id = Generated<string>;
type Ref = string | number | bigint;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
type Json<T> = ColumnType<T, T | string, T | string>;
type JsonDefault<T> = ColumnType<T, T | string | undefined, T | string>;
type RefColumn = ColumnType<string, Ref, Ref>;
type NullableRef = ColumnType<string | null, Ref | null | undefined, Ref | null>;

export type Role = 'owner' | 'admin' | 'agent';
/** A registered channel kind (channels/index.ts); no CHECK since migration 0006: a new messenger needs no migration. */
export type ChannelKindColumn = string;
export type TaskKind = 'conversation' | 'publication' | 'lead';
export type TaskStatus = 'open' | 'completed';
export type CommentDirection = 'inbound' | 'outbound' | 'internal';
export type AuthorType = 'contact' | 'employee' | 'channel';
export type DeliveryStatus = 'pending' | 'sent' | 'delivered' | 'read' | 'failed';
/** A reply that waits (issue 13, migration 0007), and how its wait ended when it was not sent. */
export type WaitingStatus = 'scheduled' | 'held' | 'cancelled' | 'expired';

export interface TemplateCreator {
  type: 'employee' | 'channelOwner';
  employeeId?: string;
}
export interface CustomFieldDef {
  name: string;
  type: 'text' | 'number' | 'date' | 'phone' | 'email';
}
export interface ChannelSettings {
  taskTemplateId: string | null;
  extraAssigneeIds: string[];
  createNewTaskIfNoActive: boolean;
  outgoingTasksOnlyOnReply: boolean;
  attachPublicationFiles: boolean;
  historyMessages: 1 | 5 | 10 | 20 | 50;
  /** Response-time targets (issue 13); absent: none. */
  sla?: SlaSettings | null;
  /** Every notifying conversation reply waits this long (0–60 s) and can be cancelled meanwhile; absent: 0. */
  undoSendSeconds?: number;
  receive: {
    messages: boolean;
    wallComments: boolean;
    photoComments: boolean;
    videoComments: boolean;
    boardComments: boolean;
    leadForms: boolean;
  };
}
/**
 * Per-kind secrets and ids, as the channel's definition stores them (`credentials.prepare`), e.g.
 * VK `{accessToken, confirmationCode, secret}`. Never returned by the API, never logged.
 */
export interface ChannelCredentials {
  kind: string;
  [field: string]: string | undefined;
}

export interface EmployeesTable {
  id: Id;
  name: string;
  email: string | null;
  role: Role;
  token_hash: string;
  created_at: CreatedAt;
}

export interface TaskTemplatesTable {
  id: Id;
  name: string;
  creator: Json<TemplateCreator>;
  assignee_ids: JsonDefault<string[]>;
  custom_fields: JsonDefault<CustomFieldDef[]>;
  created_by: NullableRef;
  created_at: CreatedAt;
}

export interface ChannelsTable {
  id: Id;
  kind: ChannelKindColumn;
  name: string;
  active: ColumnType<boolean, boolean | undefined, boolean>;
  external_id: string;
  credentials: Json<ChannelCredentials>;
  settings: Json<ChannelSettings>;
  created_by: NullableRef;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface ContactsTable {
  id: Id;
  name: string;
  phone: string | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface ContactIdentitiesTable {
  id: Id;
  contact_id: RefColumn;
  channel_kind: ChannelKindColumn;
  external_id: string;
  profile: JsonDefault<Record<string, unknown>>;
  created_at: CreatedAt;
}

export interface ConversationsTable {
  id: Id;
  channel_id: RefColumn;
  peer_id: string;
  contact_id: RefColumn;
  workflow_id: string;
  last_inbound_at: NullableTimestamp;
  messages_allowed: boolean | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface TasksTable {
  id: Id;
  kind: TaskKind;
  title: string;
  description: string | null;
  status: TaskStatus;
  channel_id: RefColumn;
  contact_id: NullableRef;
  conversation_id: NullableRef;
  workflow_id: string;
  template_id: NullableRef;
  creator_type: 'contact' | 'employee';
  creator_id: string;
  assignee_ids: JsonDefault<string[]>;
  custom_fields: JsonDefault<Record<string, unknown>>;
  publication: Json<{ type: 'wall' | 'photo' | 'video' | 'topic'; url: string } & Record<string, unknown>> | null;
  external_key: string | null;
  created_at: CreatedAt;
  completed_at: NullableTimestamp;
  updated_at: Timestamp;
  /** The last response-time clock started for the task (issue 13, migration 0008). */
  sla: ColumnType<TaskSla | null, TaskSla | string | null | undefined, TaskSla | string | null>;
}

/** A task's response-time clock: its target is fixed when it starts. Times are ISO-8601 UTC. */
export interface TaskSla {
  kind: 'first' | 'next';
  startedAt: string;
  dueAt: string;
  targetSeconds: number;
  /** The target counts business hours only. */
  businessHours: boolean;
  escalateToIds: string[];
  breachedAt?: string;
  answeredAt?: string;
}

export interface SlaBreachesTable {
  id: Id;
  task_id: RefColumn;
  clock_started_at: ColumnType<Date, Date | string, Date | string>;
  due_at: ColumnType<Date, Date | string, Date | string>;
  created_at: CreatedAt;
}

export interface CommentsTable {
  id: Id;
  task_id: RefColumn;
  direction: CommentDirection;
  author_type: AuthorType;
  author_id: string;
  text: string;
  notify_contact: ColumnType<boolean, boolean | undefined, boolean>;
  delivery_status: DeliveryStatus | WaitingStatus | null;
  delivery_error: Json<{ code: string | number; message: string }> | null;
  external_id: string | null;
  external_url: string | null;
  history: ColumnType<boolean, boolean | undefined, boolean>;
  broadcast: ColumnType<boolean, boolean | undefined, boolean>;
  source_key: string;
  reply_to_comment_id: NullableRef;
  extra: Json<Record<string, unknown>> | null;
  deleted_at: NullableTimestamp;
  created_at: CreatedAt;
  edited_at: NullableTimestamp;
  /** A scheduled reply: when it is (was) to be sent. */
  scheduled_for: NullableTimestamp;
  /** A reply held for a closed reply window: when it expires unsent. */
  held_until: NullableTimestamp;
  /** Earlier versions, oldest first (migration 0008): each the text before the edit made at `editedAt` by `by`. */
  edits: JsonDefault<CommentEdit[]>;
}

export interface CommentEdit {
  /** The text as it was before this edit. */
  text: string;
  editedAt: string;
  by: { type: AuthorType; id: string };
}

export interface AttachmentsTable {
  id: Id;
  comment_id: RefColumn;
  filename: string;
  mime_type: string;
  size: ColumnType<string, number | string, number | string>;
  sha256: string;
  created_at: CreatedAt;
}

export interface MessageLogTable {
  id: Id;
  contact_id: RefColumn;
  channel_id: RefColumn;
  direction: 'inbound' | 'outbound';
  comment_id: NullableRef;
  text: string;
  files: JsonDefault<StoredFile[]>;
  source_key: string;
  occurred_at: ColumnType<Date, Date | string, Date | string>;
  created_at: CreatedAt;
}

export interface DeliveriesTable {
  id: Id;
  comment_id: RefColumn;
  part: number;
  channel_id: RefColumn;
  external_id: string | null;
  status: DeliveryStatus;
  error: Json<{ code: string | number; message: string }> | null;
  extra: Json<Record<string, unknown>> | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface DeliveryReportsTable {
  id: Id;
  channel_id: RefColumn;
  external_id: string;
  status: Exclude<DeliveryStatus, 'pending'>;
  send_key: string | null;
  error: Json<{ code: string | number; message: string }> | null;
  occurred_at: ColumnType<Date, Date | string, Date | string>;
  created_at: CreatedAt;
}

export interface QuickRepliesTable {
  id: Id;
  title: string;
  text: string;
  created_by: NullableRef;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export type BroadcastStatus = 'pending' | 'held' | 'attached' | 'expired' | 'recorded';

/** An observed outgoing message on its way to a task: classified, held (rules 22–24), released. */
export interface BroadcastsTable {
  id: Id;
  channel_id: RefColumn;
  conversation_id: RefColumn;
  contact_id: RefColumn;
  external_id: string;
  source_key: string;
  kind_key: string;
  is_broadcast: ColumnType<boolean, boolean | undefined, boolean>;
  status: BroadcastStatus;
  bulk_send_id: NullableRef;
  text: string;
  files: JsonDefault<StoredFile[]>;
  extra: Json<Record<string, unknown>> | null;
  sent_at: ColumnType<Date, Date | string, Date | string>;
  decide_at: ColumnType<Date, Date | string, Date | string>;
  expires_at: NullableTimestamp;
  comment_id: NullableRef;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface BulkSendsTable {
  id: Id;
  channel_id: RefColumn;
  created_by: NullableRef;
  text: string;
  template: Json<{ name: string; language: string; parameters?: string[] }> | null;
  total: number;
  status: 'running' | 'done';
  request_key: string | null;
  created_at: CreatedAt;
  finished_at: NullableTimestamp;
}

export interface BulkSendRecipientsTable {
  id: Id;
  bulk_send_id: RefColumn;
  channel_id: RefColumn;
  peer_id: string;
  status: 'pending' | 'sent' | 'failed';
  external_id: string | null;
  error: Json<{ code: string | number; message: string }> | null;
  profile: Json<{ name: string; extra?: Record<string, unknown> }> | null;
  sent_at: NullableTimestamp;
  updated_at: Timestamp;
}

/** Issue 10: an event set aside after bounded retries; listed and retried by an admin. */
export interface DeadLettersTable {
  id: Id;
  channel_id: RefColumn;
  workflow_id: string;
  workflow_type: DeadLetterWorkflowType;
  /** What the API needs to hand the event back (see db/queries/dead-letters.ts). */
  target: Json<DeadLetterTarget>;
  /** The event as JSON text (it may hold what jsonb refuses). */
  event: string;
  event_key: string;
  reason: string;
  error: Json<{ type: string | null; message: string }>;
  status: DeadLetterStatus;
  failures: ColumnType<number, number | undefined, number>;
  retries: ColumnType<number, number | undefined, number>;
  received_at: ColumnType<Date, Date | string, Date | string>;
  created_at: CreatedAt;
  updated_at: Timestamp;
  resolved_at: NullableTimestamp;
}
export type DeadLetterWorkflowType = 'conversation' | 'publication' | 'lead';
export type DeadLetterStatus = 'dead' | 'retrying' | 'resolved';
/** Conversation: the peer; publication: the publication; lead: nothing more (the event is the lead). */
export type DeadLetterTarget =
  | { type: 'conversation'; peerId: string }
  | { type: 'publication'; ref: { kind: string; ownerId: number; itemId: number } }
  | { type: 'lead' };
/** A request made with an Idempotency-Key (or a generated one), and its answer once given. */
export interface IdempotentRequestsTable {
  employee_id: RefColumn;
  key: string;
  method: string;
  path: string;
  body_hash: string;
  state: 'running' | 'done';
  attempt: string;
  locked_until: Timestamp;
  status: number | null;
  answer: Buffer | null;
  replay: Json<Record<string, unknown>> | null;
  /** Updatable: a key forgotten after the retention starts over. */
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface Database {
  employees: EmployeesTable;
  task_templates: TaskTemplatesTable;
  channels: ChannelsTable;
  contacts: ContactsTable;
  contact_identities: ContactIdentitiesTable;
  conversations: ConversationsTable;
  tasks: TasksTable;
  comments: CommentsTable;
  attachments: AttachmentsTable;
  message_log: MessageLogTable;
  deliveries: DeliveriesTable;
  quick_replies: QuickRepliesTable;
  delivery_reports: DeliveryReportsTable;
  broadcasts: BroadcastsTable;
  bulk_sends: BulkSendsTable;
  bulk_send_recipients: BulkSendRecipientsTable;
  dead_letters: DeadLettersTable;
  idempotent_requests: IdempotentRequestsTable;
  sla_breaches: SlaBreachesTable;
}

export type Employee = Selectable<EmployeesTable>;
export type NewEmployee = Insertable<EmployeesTable>;
export type TaskTemplate = Selectable<TaskTemplatesTable>;
export type Channel = Selectable<ChannelsTable>;
export type ChannelUpdate = Updateable<ChannelsTable>;
export type Contact = Selectable<ContactsTable>;
export type Conversation = Selectable<ConversationsTable>;
export type Task = Selectable<TasksTable>;
export type NewTask = Insertable<TasksTable>;
export type Comment = Selectable<CommentsTable>;
export type NewComment = Insertable<CommentsTable>;
export type Attachment = Selectable<AttachmentsTable>;
export type DeadLetter = Selectable<DeadLettersTable>;
export type Delivery = Selectable<DeliveriesTable>;
export type QuickReply = Selectable<QuickRepliesTable>;
export type IdempotentRequest = Selectable<IdempotentRequestsTable>;
