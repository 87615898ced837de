import type { Kysely, Transaction } from 'kysely';
import type { Database, QuickReply } from '../schema.js';

type Q = Kysely<Database> | Transaction<Database>;

const isId = (id: string) => /^[1-9]\d{0,17}$/.test(id);

export async function listQuickReplies(db: Q): Promise<QuickReply[]> {
  return db.selectFrom('quick_replies').selectAll().orderBy('title').orderBy('id').execute();
}

export async function getQuickReply(db: Q, id: string): Promise<QuickReply | undefined> {
  if (!isId(id)) return undefined;
  return db.selectFrom('quick_replies').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function insertQuickReply(db: Q, q: { title: string; text: string; createdBy: string | null }): Promise<QuickReply> {
  return db
    .insertInto('quick_replies')
    .values({ title: q.title, text: q.text, created_by: q.createdBy })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function updateQuickReply(db: Q, id: string, patch: { title?: string; text?: string }): Promise<QuickReply | undefined> {
  if (!isId(id)) return undefined;
  const values: Record<string, unknown> = { updated_at: new Date() };
  if (patch.title !== undefined) values.title = patch.title;
  if (patch.text !== undefined) values.text = patch.text;
  return db.updateTable('quick_replies').set(values).where('id', '=', id).returningAll().executeTakeFirst();
}

/** True when a row was deleted. */
export async function deleteQuickReply(db: Q, id: string): Promise<boolean> {
  if (!isId(id)) return false;
  const res = await db.deleteFrom('quick_replies').where('id', '=', id).executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}
