// Frozen in time: imports nothing from the app.
import { type Kysely, sql } from 'kysely';

/**
 * Issue 10: events that could not be recorded after bounded retries are set aside here, so the
 * conversation goes on with the next one. An admin lists and retries them through the API.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const now = sql`now()`;
  await db.schema
    .createTable('dead_letters')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('channel_id', 'bigint', (c) => c.notNull().references('channels.id'))
    // The workflow the event belongs to (`conversation/vk-1/42`) and what it needs to be handed back.
    .addColumn('workflow_id', 'text', (c) => c.notNull())
    .addColumn('workflow_type', 'text', (c) => c.notNull().check(sql`workflow_type in ('conversation', 'publication', 'lead')`))
    .addColumn('target', 'jsonb', (c) => c.notNull())
    // The event as JSON text, not jsonb: it may hold exactly what PostgreSQL refused (a NUL is
    // escaped by JSON.stringify, but jsonb rejects the escape).
    .addColumn('event', 'text', (c) => c.notNull())
    // One row per event: its first channel key (a redelivery or a failed retry updates the row).
    .addColumn('event_key', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('error', 'jsonb', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('dead', 'retrying', 'resolved')`))
    .addColumn('failures', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('retries', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('received_at', 'timestamptz', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('resolved_at', 'timestamptz')
    .addUniqueConstraint('dead_letters_event_key', ['workflow_id', 'event_key'])
    .execute();
  await db.schema.createIndex('dead_letters_status_idx').on('dead_letters').columns(['status', 'id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('dead_letters').execute();
}
