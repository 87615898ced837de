// Frozen in time: imports nothing from the app.
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  const id = (c: any) => c.primaryKey().generatedAlwaysAsIdentity();
  const now = sql`now()`;

  await db.schema
    .createTable('employees')
    .addColumn('id', 'bigint', id)
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('email', 'text')
    .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ('owner', 'admin', 'agent')`))
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();

  await db.schema
    .createTable('task_templates')
    .addColumn('id', 'bigint', id)
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('creator', 'jsonb', (c) => c.notNull())
    .addColumn('assignee_ids', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('custom_fields', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('created_by', 'bigint', (c) => c.references('employees.id'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();

  await db.schema
    .createTable('channels')
    .addColumn('id', 'bigint', id)
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('vk', 'whatsapp')`))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('active', 'boolean', (c) => c.notNull().defaultTo(true))
    // VK: group id; WhatsApp: phone_number_id. What webhooks are routed by.
    .addColumn('external_id', 'text', (c) => c.notNull())
    // Secrets (tokens, app secret, confirmation code). Never returned by the API.
    .addColumn('credentials', 'jsonb', (c) => c.notNull())
    .addColumn('settings', 'jsonb', (c) => c.notNull())
    .addColumn('created_by', 'bigint', (c) => c.references('employees.id'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addUniqueConstraint('channels_kind_external_id_key', ['kind', 'external_id'])
    .execute();

  await db.schema
    .createTable('contacts')
    .addColumn('id', 'bigint', id)
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('phone', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  await db.schema.createIndex('contacts_phone_idx').on('contacts').column('phone').execute();

  await db.schema
    .createTable('contact_identities')
    .addColumn('id', 'bigint', id)
    .addColumn('contact_id', 'bigint', (c) => c.notNull().references('contacts.id'))
    .addColumn('channel_kind', 'text', (c) => c.notNull())
    .addColumn('external_id', 'text', (c) => c.notNull())
    .addColumn('profile', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addUniqueConstraint('contact_identities_kind_external_key', ['channel_kind', 'external_id'])
    .execute();
  await db.schema.createIndex('contact_identities_contact_idx').on('contact_identities').column('contact_id').execute();

  // One row per (channel, person): what a conversation workflow needs to (re)start.
  await db.schema
    .createTable('conversations')
    .addColumn('id', 'bigint', id)
    .addColumn('channel_id', 'bigint', (c) => c.notNull().references('channels.id'))
    .addColumn('peer_id', 'text', (c) => c.notNull())
    .addColumn('contact_id', 'bigint', (c) => c.notNull().references('contacts.id'))
    .addColumn('workflow_id', 'text', (c) => c.notNull().unique())
    .addColumn('last_inbound_at', 'timestamptz')
    .addColumn('messages_allowed', 'boolean')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addUniqueConstraint('conversations_channel_peer_key', ['channel_id', 'peer_id'])
    .execute();

  await db.schema
    .createTable('tasks')
    .addColumn('id', 'bigint', id)
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('conversation', 'publication', 'lead')`))
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('open', 'completed')`))
    .addColumn('channel_id', 'bigint', (c) => c.notNull().references('channels.id'))
    .addColumn('contact_id', 'bigint', (c) => c.references('contacts.id'))
    .addColumn('conversation_id', 'bigint', (c) => c.references('conversations.id'))
    // The workflow that owns this task's state changes (conversation/…, publication/…, lead/…).
    .addColumn('workflow_id', 'text', (c) => c.notNull())
    .addColumn('template_id', 'bigint', (c) => c.references('task_templates.id'))
    .addColumn('creator_type', 'text', (c) => c.notNull())
    .addColumn('creator_id', 'text', (c) => c.notNull())
    .addColumn('assignee_ids', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('custom_fields', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('publication', 'jsonb')
    // Idempotency of task creation by an external key (publication, lead id) when there is one.
    .addColumn('external_key', 'text', (c) => c.unique())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('completed_at', 'timestamptz')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  await db.schema.createIndex('tasks_contact_idx').on('tasks').columns(['contact_id', 'channel_id', 'kind', 'created_at']).execute();
  await db.schema.createIndex('tasks_workflow_idx').on('tasks').columns(['workflow_id', 'created_at']).execute();
  await db.schema.createIndex('tasks_created_idx').on('tasks').column('created_at').execute();

  await db.schema
    .createTable('comments')
    .addColumn('id', 'bigint', id)
    .addColumn('task_id', 'bigint', (c) => c.notNull().references('tasks.id'))
    .addColumn('direction', 'text', (c) => c.notNull().check(sql`direction in ('inbound', 'outbound', 'internal')`))
    .addColumn('author_type', 'text', (c) => c.notNull().check(sql`author_type in ('contact', 'employee', 'channel')`))
    .addColumn('author_id', 'text', (c) => c.notNull())
    .addColumn('text', 'text', (c) => c.notNull())
    .addColumn('notify_contact', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('delivery_status', 'text')
    .addColumn('delivery_error', 'jsonb')
    // The channel's id of the message (VK message id, wamid, VK comment id).
    .addColumn('external_id', 'text')
    .addColumn('external_url', 'text')
    .addColumn('history', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('broadcast', 'boolean', (c) => c.notNull().defaultTo(false))
    // Idempotency key: inbound 'vk-msg:<channel>:<id>', agent request id, history copy key.
    .addColumn('source_key', 'text', (c) => c.notNull().unique())
    .addColumn('reply_to_comment_id', 'bigint')
    .addColumn('extra', 'jsonb')
    .addColumn('deleted_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('edited_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('comments_task_idx').on('comments').columns(['task_id', 'id']).execute();

  await db.schema
    .createTable('attachments')
    .addColumn('id', 'bigint', id)
    .addColumn('comment_id', 'bigint', (c) => c.notNull().references('comments.id'))
    .addColumn('filename', 'text', (c) => c.notNull())
    .addColumn('mime_type', 'text', (c) => c.notNull())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  await db.schema.createIndex('attachments_comment_idx').on('attachments').column('comment_id').execute();

  // Every message exchanged with a contact, independent of tasks: rule 8 history is drawn from it.
  await db.schema
    .createTable('message_log')
    .addColumn('id', 'bigint', id)
    .addColumn('contact_id', 'bigint', (c) => c.notNull().references('contacts.id'))
    .addColumn('channel_id', 'bigint', (c) => c.notNull().references('channels.id'))
    .addColumn('direction', 'text', (c) => c.notNull().check(sql`direction in ('inbound', 'outbound')`))
    .addColumn('comment_id', 'bigint', (c) => c.references('comments.id'))
    .addColumn('text', 'text', (c) => c.notNull())
    .addColumn('files', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('source_key', 'text', (c) => c.notNull().unique())
    .addColumn('occurred_at', 'timestamptz', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  await db.schema.createIndex('message_log_contact_idx').on('message_log').columns(['contact_id', 'id']).execute();

  // One row per message sent to a channel for a comment (a long text may need several).
  // The row id is the channel idempotency value (VK random_id); external_id maps statuses/echoes back.
  await db.schema
    .createTable('deliveries')
    .addColumn('id', 'bigint', id)
    .addColumn('comment_id', 'bigint', (c) => c.notNull().references('comments.id'))
    .addColumn('part', 'integer', (c) => c.notNull())
    .addColumn('channel_id', 'bigint', (c) => c.notNull().references('channels.id'))
    .addColumn('external_id', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('error', 'jsonb')
    .addColumn('extra', 'jsonb')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addUniqueConstraint('deliveries_comment_part_key', ['comment_id', 'part'])
    .execute();
  await db.schema.createIndex('deliveries_external_idx').on('deliveries').columns(['channel_id', 'external_id']).execute();

  await db.schema
    .createTable('quick_replies')
    .addColumn('id', 'bigint', id)
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('text', 'text', (c) => c.notNull())
    .addColumn('created_by', 'bigint', (c) => c.references('employees.id'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['quick_replies', 'deliveries', 'message_log', 'attachments', 'comments', 'tasks', 'conversations', 'contact_identities', 'contacts', 'channels', 'task_templates', 'employees']) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
