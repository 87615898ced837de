// Frozen in time: imports nothing from the app.
import { type Kysely, sql } from 'kysely';

/**
 * Issue 12: the task change feed (`GET /api/task-changes`). Every write that a task read shows —
 * the task row, its comments (new, edited, reacted to, delivered), their attachments — announces
 * the task's id on the `taskwire_task_changes` channel. PostgreSQL delivers a notification when
 * the transaction commits, never before or for one rolled back, and sends one per distinct id
 * and transaction however many rows changed. The triggers watch the same rows the read's ETag
 * is computed from (db/queries/tasks.ts, `viewFingerprint`), so whatever changes the tag is
 * announced.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create function taskwire_task_changed() returns trigger language plpgsql as $$
    declare
      changed bigint;
    begin
      if TG_TABLE_NAME = 'tasks' then
        changed := case when TG_OP = 'DELETE' then OLD.id else NEW.id end;
      elsif TG_TABLE_NAME = 'comments' then
        changed := case when TG_OP = 'DELETE' then OLD.task_id else NEW.task_id end;
      else
        select task_id into changed from comments where id = case when TG_OP = 'DELETE' then OLD.comment_id else NEW.comment_id end;
      end if;
      if changed is not null then
        perform pg_notify('taskwire_task_changes', changed::text);
      end if;
      return null;
    end
    $$`.execute(db);
  for (const table of ['tasks', 'comments', 'attachments']) {
    await sql`create trigger ${sql.raw(`${table}_announce_task_change`)} after insert or update or delete on ${sql.table(table)} for each row execute function taskwire_task_changed()`.execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['tasks', 'comments', 'attachments']) {
    await sql`drop trigger if exists ${sql.raw(`${table}_announce_task_change`)} on ${sql.table(table)}`.execute(db);
  }
  await sql`drop function if exists taskwire_task_changed()`.execute(db);
}
