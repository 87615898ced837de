/**
 * Migration 0008: agent edits recorded before it (`extra.previousTexts`, without times) become the
 * comment's edit history, timed at the comment's last edit; the rest of `extra` stays.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { sql } from 'kysely';
import * as m0008 from '../../db/migrations/0008_edit_history_and_sla.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let t: TestDatabase;

beforeAll(async () => {
  t = await createTestDatabase();
});

afterAll(async () => {
  await t?.drop();
});

it('moves extra.previousTexts into edits, oldest first', async () => {
  const db = t.db;
  await m0008.down(db);
  const channel = await db
    .insertInto('channels')
    .values({ kind: 'vk', name: 'VK', external_id: '218000001', credentials: JSON.stringify({ kind: 'vk' }), settings: JSON.stringify({}) })
    .returning('id')
    .executeTakeFirstOrThrow();
  const task = await db
    .insertInto('tasks')
    .values({ kind: 'conversation', title: 'Анна', status: 'open', channel_id: channel.id, workflow_id: 'conversation/vk-218000001/1', creator_type: 'contact', creator_id: '1' })
    .returning('id')
    .executeTakeFirstOrThrow();
  const comment = (text: string, sourceKey: string, extra: unknown, editedAt: string | null) =>
    db
      .insertInto('comments')
      .values({ task_id: task.id, direction: 'outbound', author_type: 'employee', author_id: '2', text, source_key: sourceKey, extra: extra === null ? null : JSON.stringify(extra), edited_at: editedAt })
      .returning('id')
      .executeTakeFirstOrThrow();
  const edited = await comment(
    'Заказ будет завтра до полудня',
    'agent:1',
    { appliedEdits: ['r1', 'r2'], previousTexts: [{ text: 'Заказ в пути', editedBy: '2' }, { text: 'Заказ будет завтра', editedBy: '3' }] },
    '2026-11-20T10:05:00.250Z',
  );
  const plain = await comment('Спасибо', 'agent:2', null, null);

  await m0008.up(db);
  const rows = await db.selectFrom('comments').select(['id', 'edits', sql<Record<string, unknown> | null>`extra`.as('extra')]).orderBy('id').execute();
  expect(rows.find((r) => r.id === edited.id)).toEqual({
    id: edited.id,
    edits: [
      { text: 'Заказ в пути', editedAt: '2026-11-20T10:05:00.250Z', by: { type: 'employee', id: '2' } },
      { text: 'Заказ будет завтра', editedAt: '2026-11-20T10:05:00.250Z', by: { type: 'employee', id: '3' } },
    ],
    extra: { appliedEdits: ['r1', 'r2'] },
  });
  expect(rows.find((r) => r.id === plain.id)).toEqual({ id: plain.id, edits: [], extra: null });
});
