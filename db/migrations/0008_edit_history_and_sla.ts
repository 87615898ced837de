// Frozen in time: imports nothing from the app.
import { type Kysely, sql } from 'kysely';

/**
 * Issue 13:
 * - `comments.edits`: the comment's earlier versions, oldest first (`[{text, editedAt, by: {type, id}}]`:
 *   the text as it was before the edit made at `editedAt` by `by`). Agent edits kept their previous
 *   texts in `extra.previousTexts` (no time): they move here, timed at the comment's last edit.
 * - `tasks.sla`: the task's response-time clock, the last one started (kind, start, due time, target,
 *   escalation; `breachedAt` once it ran out, `answeredAt` once an agent's reply stopped it).
 * - `sla_breaches`: one row per clock that ran out (the counter taskwire_sla_breaches_total).
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

  await db.schema.alterTable('tasks').addColumn('sla', 'jsonb').execute();
  // GET /api/tasks?slaBreached=true, newest first.
  await sql`create index tasks_sla_breached on tasks (id desc) where (sla->>'breachedAt') is not null`.execute(db);
  await db.schema
    .createTable('sla_breaches')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('task_id', 'bigint', (c) => c.notNull().references('tasks.id'))
    // The clock that ran out, by its start: a retried breach is one row.
    .addColumn('clock_started_at', 'timestamptz', (c) => c.notNull())
    .addColumn('due_at', 'timestamptz', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('sla_breaches_clock', ['task_id', 'clock_started_at'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('sla_breaches').execute();
  await sql`drop index if exists tasks_sla_breached`.execute(db);
  await db.schema.alterTable('tasks').dropColumn('sla').execute();
  await db.schema.alterTable('comments').dropColumn('edits').execute();
}
