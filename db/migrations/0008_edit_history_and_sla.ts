// Frozen in time: imports nothing from the app.
import { type Kysely, sql } from 'kysely';

/**
 * Issue 13:
 * - `comments.edits`: the comment's earlier versions, oldest first (`[{text, editedAt, by: {type, id}}]`:
 *   the text as it was before the edit made at `editedAt` by `by`). Agent edits kept their previous
 *   texts in `extra.previousTexts` (no time): they move here, timed at the comment's last edit.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('comments').addColumn('edits', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`)).execute();
  await sql`
    update comments c
       set edits = coalesce((
             select jsonb_agg(jsonb_build_object(
                      'text', p.value->>'text',
                      'editedAt', to_char(coalesce(c.edited_at, c.created_at) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                      'by', jsonb_build_object('type', 'employee', 'id', p.value->>'editedBy')) order by p.ordinality)
               from jsonb_array_elements(c.extra->'previousTexts') with ordinality p
           ), '[]'::jsonb),
           extra = c.extra - 'previousTexts'
     where c.extra ? 'previousTexts' and jsonb_typeof(c.extra->'previousTexts') = 'array'`.execute(db);

}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('comments').dropColumn('edits').execute();
}
