/**
 * Recording a channel's comment, the same way for conversations and publications: one comment
 * per source key (the channel's id for it; a redelivery finds it), with its files as attachments
 * and the ones that could not be files as notes in its text. Runs inside the caller's transaction.
 */
import { sql } from 'kysely';
import { insertAttachments, type Tx } from '../db/queries/conversations.js';
import type { CommentEdit } from '../db/schema.js';
import type { StoredFile } from '../workflows/shared/types.js';
import { fileNoteLines, type DownloadedMedia } from './media.js';

/** The comment recorded under this source key, if any (de-duplication of redeliveries). */
export async function commentBySourceKey(tx: Tx, sourceKey: string) {
  return tx.selectFrom('comments').select(['id', 'edited_at', 'author_type', 'author_id']).where('source_key', '=', sourceKey).executeTakeFirst();
}

/**
 * Edit history (issue 13): replaces the comment's text and appends the text it replaces to
 * `edits` (oldest first), with when and by whom it was replaced, in one statement.
 */
export async function editCommentText(tx: Tx, commentId: string, edit: { text: string; editedAt: string; by: CommentEdit['by']; set?: { deleted_at?: null; extra?: string } }): Promise<void> {
  const entry = sql<CommentEdit[]>`jsonb_build_array(jsonb_build_object('text', text, 'editedAt', ${edit.editedAt}::text, 'by', jsonb_build_object('type', ${edit.by.type}::text, 'id', ${edit.by.id}::text)))`;
  await tx
    .updateTable('comments')
    .set((eb) => ({ ...edit.set, edits: sql<string>`${eb.ref('edits')} || ${entry}`, text: edit.text, edited_at: edit.editedAt }))
    .where('id', '=', commentId)
    .execute();
}

export interface NewComment {
  taskId: string;
  /** Inbound: written by the contact `authorId`; outbound: by the channel `authorId`. */
  direction: 'inbound' | 'outbound';
  authorId: string;
  text: string;
  sourceKey: string;
  files: StoredFile[];
  externalId?: string | null;
  externalUrl?: string | null;
  createdAt?: string | Date;
  editedAt?: string | null;
  replyToCommentId?: string | null;
  extra?: Record<string, unknown>;
  broadcast?: boolean;
}

/** Writes the comment and its attachments; returns its id. */
export async function addComment(tx: Tx, c: NewComment): Promise<string> {
  const comment = await tx.insertInto('comments').values(commentRow(c)).returning('id').executeTakeFirstOrThrow();
  await insertAttachments(tx, comment.id, c.files);
  return comment.id;
}

/** A line of the contact's message log (rule 8's history), written with the comment it records. */
export interface MessageLogLine {
  contactId: string;
  channelId: string;
  occurredAt: string | Date;
  /**
   * The person's message opens the reply window: the conversation row's `last_inbound_at` moves to
   * `occurredAt` (unless later already) in the same statement, saving recordEvents a round trip.
   */
  opensWindowOf?: string;
}

/**
 * Writes a message's comment and its line of the message log in one statement (one round trip:
 * this runs for every message), then its attachments; returns the comment's id. The log line is
 * written once per source key, like the comment.
 */
export async function addLoggedComment(tx: Tx, c: NewComment, log: MessageLogLine): Promise<string> {
  const logged = tx
    .with('c', (db) => db.insertInto('comments').values(commentRow(c)).returning('id'))
    .with('l', (db) =>
      db
        .insertInto('message_log')
        .columns(['contact_id', 'channel_id', 'direction', 'comment_id', 'text', 'files', 'source_key', 'occurred_at'])
        .expression((eb) =>
          eb
            .selectFrom('c')
            .select([
              eb.val(log.contactId).as('contact_id'),
              eb.val(log.channelId).as('channel_id'),
              eb.val(c.direction).as('direction'),
              'c.id',
              eb.val(c.text).as('text'),
              sql<string>`${JSON.stringify(c.files)}::jsonb`.as('files'),
              eb.val(c.sourceKey).as('source_key'),
              sql<Date>`${occurredAtOf(log)}::timestamptz`.as('occurred_at'),
            ]),
        )
        .onConflict((oc) => oc.column('source_key').doNothing()),
    );
  const { opensWindowOf } = log;
  const statement = opensWindowOf
    ? logged.with('w', (db) =>
        db
          .updateTable('conversations')
          .set({ last_inbound_at: sql<Date>`greatest(last_inbound_at, ${occurredAtOf(log)}::timestamptz)`, updated_at: new Date() })
          .where('id', '=', opensWindowOf),
      )
    : logged;
  const comment = await statement.selectFrom('c').select('id').executeTakeFirstOrThrow();
  await insertAttachments(tx, comment.id, c.files);
  return comment.id;
}

const occurredAtOf = (log: MessageLogLine) => (log.occurredAt instanceof Date ? log.occurredAt.toISOString() : log.occurredAt);

function commentRow(c: NewComment) {
  return {
    task_id: c.taskId,
    direction: c.direction,
    author_type: c.direction === 'inbound' ? 'contact' : 'channel',
    author_id: c.authorId,
    text: c.text,
    external_id: c.externalId ?? null,
    external_url: c.externalUrl ?? null,
    source_key: c.sourceKey,
    created_at: c.createdAt,
    edited_at: c.editedAt ?? null,
    reply_to_comment_id: c.replyToCommentId ?? null,
    extra: c.extra ? JSON.stringify(c.extra) : null,
    broadcast: c.broadcast ?? false,
  } as const;
}

/** The downloaded files that are files (the others are notes in the text). */
export function storedFiles(files: DownloadedMedia[]): StoredFile[] {
  return files.flatMap((f) => (f.file ? [f.file] : []));
}

/**
 * The text with a line per file that is not an attachment: media that can't be a file (VK video)
 * as its link, a file that could not be fetched naming it and saying why it is missing.
 */
export function withFileNotes(text: string, files: DownloadedMedia[]): string {
  return [text, ...fileNoteLines(files)].filter((s) => s).join('\n');
}
