/** Queries behind the conversation pipeline: identities, conversations, tasks, comments, the message log. */
import { sql, type Transaction } from 'kysely';
import type { Db, Database } from '../index.js';
import type { Channel, ChannelSettings, Task } from '../schema.js';
import type { StoredFile } from '../../workflows/shared/types.js';
import { mergeChannelSettings } from './channels.js';

export type Tx = Transaction<Database>;
export type DbOrTx = Db | Tx;

export function settingsOf(channel: Pick<Channel, 'settings'>): ChannelSettings {
  return mergeChannelSettings(channel.settings);
}

export async function getChannelOrThrow(db: DbOrTx, id: string): Promise<Channel> {
  return db.selectFrom('channels').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

export async function findConversation(db: DbOrTx, channelId: string, peerId: string) {
  return db.selectFrom('conversations').selectAll().where('channel_id', '=', channelId).where('peer_id', '=', peerId).executeTakeFirst();
}

/** Rule 5: template assignees + channel extras; else the configuring employee; else the owner. */
export async function resolveAssignees(tx: DbOrTx, channel: Channel, templateAssignees: string[]): Promise<string[]> {
  const settings = settingsOf(channel);
  const ids = [...new Set([...templateAssignees, ...settings.extraAssigneeIds].map(String))];
  if (ids.length) return ids;
  if (channel.created_by) return [String(channel.created_by)];
  const owner = await tx.selectFrom('employees').select('id').where('role', '=', 'owner').orderBy('id').executeTakeFirst();
  return owner ? [owner.id] : [];
}

export async function loadTemplate(tx: DbOrTx, channel: Channel) {
  const id = settingsOf(channel).taskTemplateId;
  if (!id) return undefined;
  return tx.selectFrom('task_templates').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function latestConversationTask(tx: DbOrTx, conversationId: string): Promise<Task | undefined> {
  return tx
    .selectFrom('tasks')
    .selectAll()
    .where('conversation_id', '=', conversationId)
    .where('kind', '=', 'conversation')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
}

export async function insertAttachments(tx: DbOrTx, commentId: string, files: StoredFile[]): Promise<void> {
  if (!files.length) return;
  await tx
    .insertInto('attachments')
    .values(files.map((f) => ({ comment_id: commentId, filename: f.filename, mime_type: f.mimeType, size: f.size, sha256: f.sha256 })))
    .execute();
}

/** Rule 8: the last N messages exchanged with the contact, oldest first, copied as history. */
export async function copyHistory(tx: Tx, taskId: string, contactId: string, n: number): Promise<number> {
  const rows = await tx
    .selectFrom('message_log as m')
    .leftJoin('comments as c', 'c.id', 'm.comment_id')
    .select(['m.id', 'm.direction', 'm.text', 'm.files', 'm.occurred_at', 'c.author_type', 'c.author_id', 'm.channel_id'])
    .where('m.contact_id', '=', contactId)
    .orderBy('m.id', 'desc')
    .limit(n)
    .execute();
  rows.reverse();
  for (const r of rows) {
    const inbound = r.direction === 'inbound';
    const comment = await tx
      .insertInto('comments')
      .values({
        task_id: taskId,
        direction: inbound ? 'inbound' : 'outbound',
        author_type: r.author_type ?? (inbound ? 'contact' : 'channel'),
        author_id: r.author_id ?? (inbound ? contactId : String(r.channel_id)),
        text: r.text,
        history: true,
        source_key: `hist:${taskId}:${r.id}`,
        created_at: r.occurred_at,
      })
      .onConflict((oc) => oc.column('source_key').doNothing())
      .returning('id')
      .executeTakeFirst();
    if (comment) await insertAttachments(tx, comment.id, r.files);
  }
  return rows.length;
}

export async function logMessage(
  tx: DbOrTx,
  entry: { contactId: string; channelId: string; direction: 'inbound' | 'outbound'; commentId: string; text: string; files: StoredFile[]; sourceKey: string; occurredAt: string | Date },
): Promise<void> {
  await tx
    .insertInto('message_log')
    .values({
      contact_id: entry.contactId,
      channel_id: entry.channelId,
      direction: entry.direction,
      comment_id: entry.commentId,
      text: entry.text,
      files: JSON.stringify(entry.files),
      source_key: entry.sourceKey,
      occurred_at: entry.occurredAt,
    })
    .onConflict((oc) => oc.column('source_key').doNothing())
    .execute();
}

export const nowSql = sql<Date>`now()`;
