// Frozen in time: imports nothing from the app.
import type { Kysely } from 'kysely';

/**
 * Replies that wait (issue 13): a scheduled reply (`sendAt`, the channel's `undoSendSeconds`) is
 * sent at `scheduled_for`; a reply held for a closed reply window expires at `held_until`. Their
 * `delivery_status` is 'scheduled' | 'held' | 'cancelled' | 'expired' while or after they wait
 * (the column has no CHECK). Deliveries are written only when the reply goes out.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('comments')
    .addColumn('scheduled_for', 'timestamptz')
    .addColumn('held_until', 'timestamptz')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('comments').dropColumn('scheduled_for').dropColumn('held_until').execute();
}
