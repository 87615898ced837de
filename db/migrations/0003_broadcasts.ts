// Frozen in time: imports nothing from the app.
import { type Kysely, sql } from 'kysely';

/**
 * Rules 22–24: observed outgoing messages waiting for classification or held until the recipient
 * replies (`broadcasts`), and bulk-send jobs with one row per recipient.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const now = sql`now()`;
  await db.schema
    .createTable('bulk_sends')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('channel_id', 'bigint', (c) => c.notNull().references('channels.id'))
    .addColumn('created_by', 'bigint', (c) => c.references('employees.id'))
    .addColumn('text', 'text', (c) => c.notNull())
    .addColumn('template', 'jsonb')
    .addColumn('total', 'integer', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('running', 'done')`))
    .addColumn('request_key', 'text', (c) => c.unique())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('finished_at', 'timestamptz')
    .execute();

  // Recipient ids share the deliveries sequence: a recipient's id is its message's idempotency
  // value (VK random_id, WhatsApp callback data), unique among everything taskwire sends.
  await db.schema
    .createTable('bulk_send_recipients')
    .addColumn('id', 'bigint', (c) => c.primaryKey().defaultTo(sql`nextval(pg_get_serial_sequence('deliveries', 'id')::regclass)`))
    .addColumn('bulk_send_id', 'bigint', (c) => c.notNull().references('bulk_sends.id'))
    .addColumn('channel_id', 'bigint', (c) => c.notNull().references('channels.id'))
    .addColumn('peer_id', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('pending', 'sent', 'failed')`))
    .addColumn('external_id', 'text')
    .addColumn('error', 'jsonb')
    // The recipient's channel profile, fetched for a page of recipients in one call (VK users.get).
    .addColumn('profile', 'jsonb')
    .addColumn('sent_at', 'timestamptz')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addUniqueConstraint('bulk_send_recipients_peer_key', ['bulk_send_id', 'peer_id'])
    .execute();
  await db.schema.createIndex('bulk_send_recipients_job_idx').on('bulk_send_recipients').columns(['bulk_send_id', 'status', 'id']).execute();

  await db.schema
    .createTable('broadcasts')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('channel_id', 'bigint', (c) => c.notNull().references('channels.id'))
    .addColumn('conversation_id', 'bigint', (c) => c.notNull().references('conversations.id'))
    .addColumn('contact_id', 'bigint', (c) => c.notNull().references('contacts.id'))
    .addColumn('external_id', 'text', (c) => c.notNull())
    // The comment source key the message gets when it reaches a task: the same message, once.
    .addColumn('source_key', 'text', (c) => c.notNull().unique())
    // md5 of the "same kind" key (workflows/shared/message-kind.ts).
    .addColumn('kind_key', 'text', (c) => c.notNull())
    .addColumn('is_broadcast', 'boolean', (c) => c.notNull().defaultTo(false))
    // pending: waiting for classification; held: not in any task until the reply;
    // attached: added to a task; expired: never answered; recorded: not held, went to a task as usual.
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('pending', 'held', 'attached', 'expired', 'recorded')`))
    .addColumn('bulk_send_id', 'bigint', (c) => c.references('bulk_sends.id'))
    .addColumn('text', 'text', (c) => c.notNull())
    .addColumn('files', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('extra', 'jsonb')
    .addColumn('sent_at', 'timestamptz', (c) => c.notNull())
    .addColumn('decide_at', 'timestamptz', (c) => c.notNull())
    .addColumn('expires_at', 'timestamptz')
    .addColumn('comment_id', 'bigint', (c) => c.references('comments.id'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  // Detection counts one kind on one channel over a time range.
  await db.schema.createIndex('broadcasts_kind_idx').on('broadcasts').columns(['channel_id', 'kind_key', 'sent_at']).execute();
  // Marking a detected broadcast touches only the messages not yet known to be one.
  await sql`create index broadcasts_unclassified_idx on broadcasts (channel_id, kind_key, sent_at) where not is_broadcast and status in ('pending', 'held')`.execute(db);
  await sql`create index broadcasts_open_idx on broadcasts (conversation_id, sent_at, id) where status in ('pending', 'held')`.execute(db);
  await db.schema.createIndex('broadcasts_status_idx').on('broadcasts').columns(['status', 'channel_id', 'id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['broadcasts', 'bulk_send_recipients', 'bulk_sends']) await db.schema.dropTable(t).ifExists().execute();
}
