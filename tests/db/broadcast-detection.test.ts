/**
 * Broadcast detection (rule 22) in the database with the real defaults: a 300-second window and a
 * threshold of 3, with messages timed by the channel. Also: many conversations classifying the
 * same mailing at the same moment must agree (the per-(channel, kind) lock). Real PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertObserved, kindKeyOf, lockKind } from '../../db/queries/broadcasts.js';
import { DEFAULT_BROADCAST_POLICY } from '../../workflows/shared/types.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let t: TestDatabase;
let channelId: string;
let peer = 1;
const T0 = Date.parse('2026-11-20T10:00:00Z');
const min = 60_000;

beforeAll(async () => {
  t = await createTestDatabase({ max: 30 });
  const ch = await t.db
    .insertInto('channels')
    .values({ kind: 'vk', name: 'Магазин', external_id: '218000001', credentials: JSON.stringify({}), settings: JSON.stringify({}) })
    .returning('id')
    .executeTakeFirstOrThrow();
  channelId = ch.id;
});

afterAll(async () => {
  await t?.drop();
});

/** One observed message to a new person, classified in its own transaction (as its conversation would). */
async function observe(text: string, sentAtMs: number): Promise<string> {
  const p = String(peer++);
  const contact = await t.db.insertInto('contacts').values({ name: `Person ${p}` }).returning('id').executeTakeFirstOrThrow();
  const conv = await t.db
    .insertInto('conversations')
    .values({ channel_id: channelId, peer_id: p, contact_id: contact.id, workflow_id: `conversation/vk-218000001/${p}` })
    .returning('id')
    .executeTakeFirstOrThrow();
  const kindKey = kindKeyOf({ text });
  await t.db.transaction().execute(async (tx) => {
    await lockKind(tx, channelId, kindKey);
    await insertObserved(
      tx,
      {
        channelId,
        conversationId: conv.id,
        contactId: contact.id,
        externalId: `m${p}`,
        sourceKey: `msg:${channelId}:${p}:m${p}`,
        kindKey,
        text,
        files: [],
        sentAt: new Date(sentAtMs),
      },
      DEFAULT_BROADCAST_POLICY,
      new Date(),
    );
  });
  return conv.id;
}

async function statusOf(conversationIds: string[]): Promise<string[]> {
  const rows = await t.db.selectFrom('broadcasts').select(['conversation_id', 'status', 'is_broadcast']).where('conversation_id', 'in', conversationIds).execute();
  return conversationIds.map((id) => {
    const r = rows.find((x) => x.conversation_id === id)!;
    return r.is_broadcast ? `broadcast:${r.status}` : r.status;
  });
}

describe('detection with the default window (300 s) and threshold (3)', () => {
  it('4 of the same kind within 5 minutes: all four are broadcasts, the first three included', async () => {
    const text = 'Иван, ваш заказ 1234 готов';
    const ids = [];
    for (const [i, name] of ['Иван', 'Мария', 'Пётр', 'Анна'].entries()) {
      ids.push(await observe(text.replace('Иван', name).replace('1234', String(100 + i)), T0 + i * min));
    }
    expect(await statusOf(ids)).toEqual(['broadcast:held', 'broadcast:held', 'broadcast:held', 'broadcast:held']);
    // A fifth in a 5-minute window with more than 3 others joins the broadcast at once…
    const fifth = await observe('Ольга, ваш заказ 77 готов', T0 + 4.5 * min);
    expect(await statusOf([fifth])).toEqual(['broadcast:held']);
    // …one more than 5 minutes after all of them does not.
    const late = await observe('Олег, ваш заказ 78 готов', T0 + 9.6 * min);
    expect(await statusOf([late])).toEqual(['pending']);
  });

  it('3 within 5 minutes stay pending (normal handling after the window)', async () => {
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push(await observe('Напоминаем о записи к врачу', T0 + i * min));
    expect(await statusOf(ids)).toEqual(['pending', 'pending', 'pending']);
  });

  it('4 spread over 6 minutes (2 minutes apart) are not a broadcast', async () => {
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push(await observe('Спасибо за покупку! Оцените нас.', T0 + i * 2 * min));
    expect(await statusOf(ids)).toEqual(['pending', 'pending', 'pending', 'pending']);
  });

  it('the window is found whatever order the messages arrive in (late-arriving first message)', async () => {
    const text = 'Maria, your order 5521 has shipped: https://track.example/5521';
    const ids = [];
    ids.push(await observe(text, T0 + 4 * min));
    ids.push(await observe(text.replaceAll('5521', '88'), T0 + 3 * min));
    ids.push(await observe(text.replace('Maria', 'John').replaceAll('5521', '9'), T0 + 5 * min));
    expect(await statusOf(ids)).toEqual(['pending', 'pending', 'pending']);
    ids.push(await observe(text.replace('Maria', 'Kate').replaceAll('5521', '1234'), T0 + 0.5 * min));
    expect(await statusOf(ids)).toEqual(['broadcast:held', 'broadcast:held', 'broadcast:held', 'broadcast:held']);
  });

  it('four different manual answers in one minute are not a broadcast', async () => {
    const ids = [];
    const texts = ['Добрый день! Да, доставка бесплатная.', 'Добрый день! Нет, только самовывоз.', 'Здравствуйте, размер M есть.', 'Здравствуйте, эта модель закончилась.'];
    for (const [i, text] of texts.entries()) ids.push(await observe(text, T0 + i * 10_000));
    expect(await statusOf(ids)).toEqual(['pending', 'pending', 'pending', 'pending']);
  });

  it('20 conversations classifying one mailing at the same moment all end up broadcasts', async () => {
    const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => observe(`Клиент ${i}, приглашаем на закрытую распродажу 30 ноября!`, T0 + i * 1000)));
    expect(new Set(await statusOf(ids))).toEqual(new Set(['broadcast:held']));
  });

  it('exactly 4 arriving concurrently: none is missed (no two transactions both count 3)', async () => {
    for (let round = 0; round < 5; round++) {
      const text = `Акция недели №${round}: кофе в подарок к каждому заказу`;
      const ids = await Promise.all([0, 1, 2, 3].map((i) => observe(text, T0 + round * 20 * min + i * 1000)));
      expect(await statusOf(ids)).toEqual(['broadcast:held', 'broadcast:held', 'broadcast:held', 'broadcast:held']);
    }
  });
});
