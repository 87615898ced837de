// Frozen in time: imports nothing from the app.
import { type Kysely, sql } from 'kysely';

/**
 * Delivery states reported by a channel (WhatsApp `statuses`), kept as received: idempotent by
 * (channel, message, state), so retried webhooks change nothing, and kept even when the message
 * is not known yet (the status can arrive before our send recorded the message id).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('delivery_reports')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('channel_id', 'bigint', (c) => c.notNull().references('channels.id'))
    .addColumn('external_id', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('sent', 'delivered', 'read', 'failed')`))
    // What we gave the channel as the message's callback data (WhatsApp biz_opaque_callback_data
    // = our delivery id): lets a retried send find out that the first attempt got through.
    .addColumn('send_key', 'text')
    .addColumn('error', 'jsonb')
    .addColumn('occurred_at', 'timestamptz', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('delivery_reports_key', ['channel_id', 'external_id', 'status'])
    .execute();
  await db.schema.createIndex('delivery_reports_send_key_idx').on('delivery_reports').columns(['channel_id', 'send_key']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('delivery_reports').ifExists().execute();
}
