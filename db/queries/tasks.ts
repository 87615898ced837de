/** Read side of tasks and comments for the agent API. */
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Attachment, Comment, Database, Task, TaskKind, TaskStatus } from '../schema.js';

type Q = Kysely<Database> | Transaction<Database>;

export interface TaskFilter {
  status?: TaskStatus;
  channelId?: string;
  contactId?: string;
  kind?: TaskKind;
  limit?: number;
  /** Only tasks with an id below this one (paging, newest first). */
  beforeId?: string;
  /** Only tasks whose last response-time clock ran out (or did not). */
  slaBreached?: boolean;
}

export async function listTasks(db: Q, f: TaskFilter): Promise<Task[]> {
  let q = db.selectFrom('tasks').selectAll().orderBy('id', 'desc').limit(f.limit ?? 50);
  if (f.status) q = q.where('status', '=', f.status);
  if (f.channelId) q = q.where('channel_id', '=', f.channelId);
  if (f.contactId) q = q.where('contact_id', '=', f.contactId);
  if (f.kind) q = q.where('kind', '=', f.kind);
  if (f.beforeId) q = q.where('id', '<', f.beforeId);
  if (f.slaBreached !== undefined) q = q.where(sql<string>`sla->>'breachedAt'`, f.slaBreached ? 'is not' : 'is', null);
  return q.execute();
}

/**
 * What a task read shows changes exactly when a row it is made of changes: the task, its comments
 * (edits, reactions, delivery statuses are updates of theirs) and their attachments. Every insert or
 * update gives a row a new `xmin` (the transaction that wrote it), so the task's `xmin` with its
 * comments' ids and `xmin`s and the number of their attachments identify one state of the read.
 * Hashed in the database: the API learns whether a client's copy is current without reading the
 * comments.
 */
const viewFingerprint = sql<string>`md5(tasks.xmin::text || '|' || coalesce((select string_agg(c.id::text || ':' || c.xmin::text, ',' order by c.id) from comments c where c.task_id = tasks.id), '') || '|' || (select count(*) from attachments a join comments ac on ac.id = a.comment_id where ac.task_id = tasks.id)::text)`;

/** A task read: the task, the fingerprint of the read (`viewFingerprint`), and its comments unless the client's copy is current. */
export interface TaskView {
  task: Task;
  fingerprint: string;
  /** Absent when the fingerprint is one the caller already has (`current`). */
  comments?: CommentWithAttachments[];
}

/**
 * A task read in one statement and one snapshot: the task, its fingerprint and — unless the
 * fingerprint is among `current` (the copies the client has; `'any'`: whatever it is) — its
 * comments with their attachments, in order. Task reads are the API's most frequent request.
 */
export async function getTaskView(db: Q, id: string, current: string[] | 'any' = []): Promise<TaskView | undefined> {
  const skip = current === 'any' ? sql`true` : current.length ? sql`v.view_fingerprint = any(${current}::text[])` : sql`false`;
  const { rows } = await sql<Task & { view_fingerprint: string; comments_json: CommentJson[] | null | 'skipped' }>`
    select v.*, case when ${skip} then '"skipped"'::json else (${commentsJson}) end as comments_json
    from (select tasks.*, ${viewFingerprint} as view_fingerprint from tasks where tasks.id = ${id}) v`.execute(db);
  const row = rows[0];
  if (!row) return undefined;
  const { view_fingerprint, comments_json, ...task } = row;
  return { task, fingerprint: view_fingerprint, ...(comments_json === 'skipped' ? {} : { comments: (comments_json ?? []).map(commentFromJson) }) };
}

/** The task's comments as rows of `comments` (ids and sizes as text, like the driver's), attachments inside, in order. */
const commentsJson = sql`select json_agg(to_jsonb(c) || jsonb_build_object('id', c.id::text, 'task_id', c.task_id::text, 'reply_to_comment_id', c.reply_to_comment_id::text, 'attachments', coalesce((select jsonb_agg(jsonb_build_object('id', a.id::text, 'comment_id', a.comment_id::text, 'filename', a.filename, 'mime_type', a.mime_type, 'size', a.size::text, 'sha256', a.sha256, 'created_at', a.created_at) order by a.id) from attachments a where a.comment_id = c.id), '[]'::jsonb)) order by c.created_at, c.id) from comments c where c.task_id = v.id`;

type Timestamps<T, K extends keyof T> = Omit<T, K> & { [P in K]: T[P] extends Date ? string : T[P] extends Date | null ? string | null : T[P] };
type CommentJson = Timestamps<Comment, 'created_at' | 'edited_at' | 'deleted_at' | 'scheduled_for' | 'held_until'> & { attachments: AttachmentJson[] };

const dateOrNull = (v: string | null) => (v === null ? null : new Date(v));

function commentFromJson(c: CommentJson): CommentWithAttachments {
  return {
    ...c,
    created_at: new Date(c.created_at),
    edited_at: dateOrNull(c.edited_at),
    deleted_at: dateOrNull(c.deleted_at),
    scheduled_for: dateOrNull(c.scheduled_for),
    held_until: dateOrNull(c.held_until),
    attachments: c.attachments.map((a) => ({ ...a, created_at: new Date(a.created_at) })),
  };
}

export type CommentWithAttachments = Comment & { attachments: Attachment[] };

type AttachmentJson = Omit<Attachment, 'created_at'> & { created_at: string };

export async function getComment(db: Q, id: string): Promise<CommentWithAttachments | undefined> {
  const c = await db.selectFrom('comments').selectAll().where('id', '=', id).executeTakeFirst();
  return c ? (await withAttachments(db, [c]))[0] : undefined;
}

export async function getCommentBySourceKey(db: Q, sourceKey: string): Promise<CommentWithAttachments | undefined> {
  const c = await db.selectFrom('comments').selectAll().where('source_key', '=', sourceKey).executeTakeFirst();
  return c ? (await withAttachments(db, [c]))[0] : undefined;
}

async function withAttachments(db: Q, comments: Comment[]): Promise<CommentWithAttachments[]> {
  if (!comments.length) return [];
  const atts = await db.selectFrom('attachments').selectAll().where('comment_id', 'in', comments.map((c) => c.id)).orderBy('id').execute();
  return comments.map((c) => ({ ...c, attachments: atts.filter((a) => a.comment_id === c.id) }));
}

export async function getAttachment(db: Q, id: string): Promise<Attachment | undefined> {
  return db.selectFrom('attachments').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Where a task's state changes go: its owner workflow, and for conversations the peer. */
export async function taskTarget(db: Q, taskId: string) {
  return db
    .selectFrom('tasks as t')
    .innerJoin('channels as ch', 'ch.id', 't.channel_id')
    .leftJoin('conversations as v', 'v.id', 't.conversation_id')
    .select([
      't.id as taskId', 't.kind', 't.workflow_id as workflowId', 't.channel_id as channelId', 't.publication', 't.contact_id as taskContactId',
      'ch.kind as channelKind', 'ch.external_id as channelExternalId', 'ch.active as channelActive', 'ch.settings as channelSettings',
      'v.peer_id as peerId', 'v.contact_id as contactId', 'v.last_inbound_at as lastInboundAt', 'v.messages_allowed as messagesAllowed',
    ])
    .where('t.id', '=', taskId)
    .executeTakeFirst();
}

/** Response-time clocks that ran out (taskwire_sla_breaches_total). */
export async function countSlaBreaches(db: Q): Promise<number> {
  const r = await db.selectFrom('sla_breaches').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
  return Number(r.n);
}
