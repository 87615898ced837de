/**
 * Rules 22–24 end to end on VK: observed outgoing messages (message_reply not sent by taskwire)
 * are classified over BROADCAST_WINDOW_SECONDS; broadcasts are held by their conversation until
 * the person replies (then attached before the reply) or the retention ends (expired).
 * Real Temporal dev server, real PostgreSQL, loopback fake VK. Windows are seconds here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../runtime/logger.js';
import { ensureSchedules } from '../../worker/schedules.js';
import { conversationStateQuery } from '../../workflows/conversation.js';
import { purgeBroadcastsScheduleId } from '../../workflows/shared/temporal.js';
import { readFixture, startHarness, vkMessage, type Harness } from '../support/harness.js';
import { replayAll } from '../support/replay.js';

const WINDOW = 3;
let h: Harness;
let channelId: string;
let replyFixture: Record<string, any>;
let messageFixture: Record<string, any>;
let nextId = 5000;
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  // The retention is NOT configured here: the real 30-day default is what runs.
  h = await startHarness({ BROADCAST_WINDOW_SECONDS: String(WINDOW) });
  await h.startWorkers();
  channelId = await h.createVkChannel();
  replyFixture = await readFixture('vk/message_reply.json');
  messageFixture = await readFixture('vk/message_new.text.json');
});

afterAll(async () => {
  await h?.close();
});

/** A message the community sent from outside taskwire (mailing tool, VK web interface). */
function observedVk(base: Record<string, any>, peer: number, text: string, date = now()): Record<string, any> {
  const id = nextId++;
  const body = structuredClone(base);
  body.event_id = `reply-${peer}-${id}-${Math.random().toString(16).slice(2, 10)}`;
  Object.assign(body.object, { peer_id: peer, id, conversation_message_id: id, text, date, random_id: 1_900_000_000 + id });
  return body;
}

async function rowsOfPeers(h: Harness, peers: number[]) {
  return h.db
    .selectFrom('broadcasts as b')
    .innerJoin('conversations as v', 'v.id', 'b.conversation_id')
    .select(['b.id', 'b.status', 'b.is_broadcast', 'b.text', 'b.comment_id', 'b.expires_at', 'b.sent_at', 'v.peer_id', 'b.contact_id'])
    .where('v.peer_id', 'in', peers.map(String))
    .orderBy('b.id')
    .execute();
}

/** Waits until every peer's messages left classification (held, recorded, …). */
async function classified(h: Harness, peers: number[], n = peers.length) {
  return h.eventually(async () => {
    const rows = await rowsOfPeers(h, peers);
    return rows.length === n && rows.every((r) => r.status !== 'pending') ? rows : undefined;
  }, 30_000, `classification of ${peers.join(', ')}`);
}

async function commentsOfPeer(h: Harness, peer: number): Promise<any[]> {
  const conv = await h.db.selectFrom('conversations').select('contact_id').where('peer_id', '=', String(peer)).executeTakeFirst();
  if (!conv) return [];
  const tasks = (await h.api('GET', `/api/tasks?contactId=${conv.contact_id}`)).body.items as any[];
  const all: any[] = [];
  for (const t of tasks) all.push(...(await h.api('GET', `/api/tasks/${t.id}`)).body.comments);
  return all;
}

async function send4(h: Harness, peers: number[], texts: string[], dates?: number[]) {
  for (const [i, peer] of peers.entries()) {
    expect(await h.postVk(observedVk(replyFixture, peer, texts[i % texts.length]!, dates?.[i]))).toEqual({ status: 200, text: 'ok' });
  }
}

describe('broadcast detection (rule 22)', () => {
  it('4 identical observed messages in the window: no task comments; the replying recipient gets exactly that broadcast, then the reply', async () => {
    const peers = [700001, 700002, 700003, 700004];
    const text = 'Распродажа! Только до воскресенья скидка 30% на всё.';
    await send4(h, peers, [text]);
    const rows = await classified(h, peers);
    expect(rows.map((r) => [r.status, r.is_broadcast])).toEqual(peers.map(() => ['held', true]));
    for (const p of peers) expect(await commentsOfPeer(h, p)).toEqual([]);

    // Ops can find the holding conversations in Temporal (TwHeldBroadcasts).
    await h.eventually(async () => {
      const state = await h.client.workflow.getHandle(h.conversationId(700002)).query(conversationStateQuery);
      return state.heldMessages === 1;
    }, 20_000, 'the workflow holds 1');
    await h.eventually(async () => {
      const desc = await h.client.workflow.getHandle(h.conversationId(700002)).describe();
      return desc.searchAttributes.TwHeldBroadcasts?.[0] === 1;
    }, 20_000, 'TwHeldBroadcasts = 1');

    expect(await h.postVk(vkMessage(messageFixture, { peer: 700002, id: nextId++, text: 'А на детские товары тоже?', date: now() + 1 }))).toEqual({ status: 200, text: 'ok' });
    const comments = await h.eventually(async () => {
      const c = await commentsOfPeer(h, 700002);
      return c.length >= 2 ? c : undefined;
    }, 20_000, 'broadcast and reply in the task');
    expect(comments.map((c) => [c.direction, c.author.type, c.text, c.broadcast ?? false])).toEqual([
      ['outbound', 'channel', text, true],
      ['inbound', 'contact', 'А на детские товары тоже?', false],
    ]);
    const after = await rowsOfPeers(h, peers);
    expect(Object.fromEntries(after.map((r) => [r.peer_id, r.status]))).toEqual({ 700001: 'held', 700002: 'attached', 700003: 'held', 700004: 'held' });
    // The others still hold; nothing reached their tasks.
    for (const p of [700001, 700003, 700004]) expect(await commentsOfPeer(h, p)).toEqual([]);
    await h.eventually(async () => {
      const desc = await h.client.workflow.getHandle(h.conversationId(700002)).describe();
      return desc.searchAttributes.TwHeldBroadcasts?.[0] === 0;
    }, 20_000, 'TwHeldBroadcasts back to 0');

    const listed = await h.api('GET', `/api/broadcasts?channelId=${channelId}&status=attached`);
    expect(listed.status).toBe(200);
    expect(listed.body.items).toHaveLength(1);
    expect(listed.body.items[0]).toMatchObject({ channelId, text, status: 'attached' });
    const held = await h.api('GET', '/api/broadcasts?status=held');
    expect(held.body.items.filter((b: any) => b.text === text)).toHaveLength(3);
  }, 60_000);

  it('3 in the window is normal handling: each becomes an observed outgoing comment in a task', async () => {
    const peers = [700011, 700012, 700013];
    const text = 'Добрый день! Напоминаем о записи на примерку.';
    await send4(h, peers, [text]);
    const rows = await classified(h, peers);
    expect(rows.map((r) => [r.status, r.is_broadcast])).toEqual(peers.map(() => ['recorded', false]));
    for (const p of peers) {
      const comments = await commentsOfPeer(h, p);
      expect(comments.map((c) => [c.direction, c.author.type, c.text, c.broadcast ?? false])).toEqual([['outbound', 'channel', text, false]]);
    }
  }, 60_000);

  it('a broadcast to a person whose task is completed: the reply reopens that task with the broadcast before the reply', async () => {
    // 700011 has a task from the previous test (one observed outgoing comment); complete it.
    const contactId = (await h.db.selectFrom('conversations').select('contact_id').where('peer_id', '=', '700011').executeTakeFirstOrThrow()).contact_id;
    const [task] = (await h.api('GET', `/api/tasks?contactId=${contactId}`)).body.items as any[];
    expect((await h.api('POST', `/api/tasks/${task.id}/complete`)).status).toBe(200);
    const text = 'Только сегодня: бесплатная доставка при заказе от 1000 ₽';
    await send4(h, [700011, 700091, 700092, 700093], [text]);
    await h.eventually(async () => ((await rowsOfPeers(h, [700011])).some((r) => r.text === text && r.status === 'held') ? true : undefined), 20_000, 'held');
    expect((await h.api('GET', `/api/tasks/${task.id}`)).body.status).toBe('completed');

    expect(await h.postVk(vkMessage(messageFixture, { peer: 700011, id: nextId++, text: 'Отлично, оформляю', date: now() + 1 }))).toEqual({ status: 200, text: 'ok' });
    const reopened = await h.eventually(async () => {
      const t = (await h.api('GET', `/api/tasks/${task.id}`)).body;
      return t.comments.length >= 3 ? t : undefined;
    }, 20_000, 'the reopened task');
    expect(reopened.status).toBe('open');
    expect(reopened.comments.map((c: any) => [c.text, c.broadcast ?? false])).toEqual([
      ['Добрый день! Напоминаем о записи на примерку.', false],
      [text, true],
      ['Отлично, оформляю', false],
    ]);
  }, 60_000);

  it('4 spread wider than the window (the 6-minute case, scaled) are normal', async () => {
    const peers = [700021, 700022, 700023, 700024];
    const t = now();
    // Window 3 s; 2 s apart: any 3-second window holds at most 2 of them.
    await send4(h, peers, ['Ваш промокод на следующую покупку: SALE'], [t - 6, t - 4, t - 2, t]);
    const rows = await classified(h, peers);
    expect(rows.every((r) => r.status === 'recorded' && !r.is_broadcast)).toBe(true);
    for (const p of peers) expect(await commentsOfPeer(h, p)).toHaveLength(1);
  }, 60_000);

  it('personalised variants (name, number, date, link) are one mailing', async () => {
    const peers = [700031, 700032, 700033, 700034, 700035];
    await send4(h, peers, [
      'Иван, ваш заказ 1234 готов к выдаче до 25.11. Подробнее: https://shop.example/o/1234',
      'Мария, ваш заказ 98 готов к выдаче до 26.11. Подробнее: https://shop.example/o/98',
      'Пётр Сидоров, ваш заказ 771 готов к выдаче до 27.11. Подробнее: https://shop.example/o/771',
      'Анна, ваш заказ 5 готов к выдаче до 30.11. Подробнее: https://shop.example/o/5',
      'Ольга, ваш заказ 120 готов к выдаче до 01.12. Подробнее: https://shop.example/o/120',
    ]);
    const rows = await classified(h, peers);
    expect(rows.every((r) => r.status === 'held' && r.is_broadcast)).toBe(true);
    for (const p of peers) expect(await commentsOfPeer(h, p)).toEqual([]);
  }, 60_000);

  it('similar but distinct manual answers by different agents are not swallowed', async () => {
    const peers = [700041, 700042, 700043, 700044];
    const texts = [
      'Добрый день! Да, доставка по Москве бесплатная.',
      'Добрый день! Нет, самовывоз только из магазина на Тверской.',
      'Добрый день! Да, размер M есть в наличии.',
      'Добрый день! К сожалению, эта модель закончилась.',
    ];
    await send4(h, peers, texts);
    const rows = await classified(h, peers);
    expect(rows.every((r) => r.status === 'recorded' && !r.is_broadcast)).toBe(true);
    for (const [i, p] of peers.entries()) expect((await commentsOfPeer(h, p)).map((c) => c.text)).toEqual([texts[i]]);
  }, 60_000);

  it('several held messages to one person are all attached, in order, before the reply', async () => {
    const peers = [700051, 700052, 700053, 700054];
    const first = 'Новая коллекция уже в магазинах!';
    const second = 'Hello! Our winter sale starts on December 1st: https://shop.example/sale';
    await send4(h, peers, [first]);
    await send4(h, peers, [second]);
    await classified(h, peers, 8);
    expect(await commentsOfPeer(h, 700051)).toEqual([]);
    // The conversation itself learns that its messages are broadcasts at its classification deadline.
    await h.eventually(async () => {
      const state = await h.client.workflow.getHandle(h.conversationId(700051)).query(conversationStateQuery);
      return state.heldMessages === 2;
    }, 20_000, 'the workflow holds 2');

    // The channel's clock may put the reply before the mailing's send time: still after it in the task.
    expect(await h.postVk(vkMessage(messageFixture, { peer: 700051, id: nextId++, text: 'Спасибо, зайду', date: now() - 30 }))).toEqual({ status: 200, text: 'ok' });
    const comments = await h.eventually(async () => {
      const c = await commentsOfPeer(h, 700051);
      return c.length >= 3 ? c : undefined;
    }, 20_000, 'two broadcasts and the reply');
    expect(comments.map((c) => [c.text, c.broadcast ?? false])).toEqual([
      [first, true],
      [second, true],
      ['Спасибо, зайду', false],
    ]);
  }, 60_000);

  it('the real 30-day retention is the default: the holding timer in the workflow history', async () => {
    const desc = await h.client.workflow.getHandle(h.conversationId(700001)).describe();
    expect(desc.status.name).toBe('RUNNING');
    const history = await h.client.workflow.getHandle(h.conversationId(700001)).fetchHistory();
    const timers = (history.events ?? []).flatMap((e) => (e.timerStartedEventAttributes ? [Number(e.timerStartedEventAttributes.startToFireTimeout?.seconds ?? 0)] : []));
    const longest = Math.max(...timers);
    // 30 days = 2,592,000 s, counted from the message's send time (a few seconds ago).
    expect(longest).toBeGreaterThan(2_592_000 - 120);
    expect(longest).toBeLessThanOrEqual(2_592_000);
    const row = (await rowsOfPeers(h, [700001]))[0]!;
    expect(row.expires_at!.getTime() - row.sent_at.getTime()).toBe(2_592_000_000);
  });
});

describe('WhatsApp Business app mailings (smb_message_echoes)', () => {
  it('4 personalised echoes in the window are held; a reply attaches its broadcast before it', async () => {
    await h.createWaChannel();
    const base = await readFixture('whatsapp/echo.text.json');
    const people: Array<[string, string]> = [['5511900000001', 'Lucas'], ['5511900000002', 'Ana'], ['5511900000003', 'Pedro'], ['5511900000004', 'Julia']];
    for (const [i, [to, name]] of people.entries()) {
      const body = structuredClone(base);
      const echo = body.entry[0].changes[0].value.message_echoes[0];
      Object.assign(echo, { to, id: `wamid.echo-broadcast-${i}`, timestamp: String(now()), text: { body: `Oi ${name}! Sua compra nº ${1000 + i} foi enviada.` } });
      expect((await h.postWa(body)).status).toBe(200);
    }
    const peers = people.map(([to]) => Number(to));
    const rows = await classified(h, peers);
    expect(rows.every((r) => r.status === 'held' && r.is_broadcast)).toBe(true);
    for (const p of peers) expect(await commentsOfPeer(h, p)).toEqual([]);

    const inbound = await readFixture('whatsapp/message.text.json');
    const msg = inbound.entry[0].changes[0].value;
    msg.contacts[0].wa_id = '5511900000003';
    Object.assign(msg.messages[0], { from: '5511900000003', id: 'wamid.reply-to-broadcast', timestamp: String(now() + 1), text: { body: 'Obrigado! Quando chega?' } });
    expect((await h.postWa(inbound)).status).toBe(200);
    const comments = await h.eventually(async () => {
      const c = await commentsOfPeer(h, 5511900000003);
      return c.length >= 2 ? c : undefined;
    }, 20_000, 'the broadcast and the reply');
    expect(comments.map((c) => [c.direction, c.text, c.broadcast ?? false])).toEqual([
      ['outbound', 'Oi Pedro! Sua compra nº 1002 foi enviada.', true],
      ['inbound', 'Obrigado! Quando chega?', false],
    ]);
  }, 60_000);
});

describe('option outgoingTasksOnlyOnReply (rule 24)', () => {
  it('an observed message to a contact with no active task is held (not a broadcast) until the reply', async () => {
    expect((await h.api('PATCH', `/api/channels/${channelId}`, { settings: { outgoingTasksOnlyOnReply: true } })).status).toBe(200);
    try {
      const text = 'Здравствуйте! Ваш мастер сегодня заболел, перенесём визит?';
      await send4(h, [700061], [text]);
      const rows = await classified(h, [700061]);
      expect(rows.map((r) => [r.status, r.is_broadcast])).toEqual([['held', false]]);
      expect(await commentsOfPeer(h, 700061)).toEqual([]);
      // Not listed as a broadcast.
      const listed = await h.api('GET', '/api/broadcasts?status=held');
      expect(listed.body.items.some((b: any) => b.text === text)).toBe(false);

      expect(await h.postVk(vkMessage(messageFixture, { peer: 700061, id: nextId++, text: 'Да, давайте на завтра', date: now() + 1 }))).toEqual({ status: 200, text: 'ok' });
      const comments = await h.eventually(async () => {
        const c = await commentsOfPeer(h, 700061);
        return c.length >= 2 ? c : undefined;
      }, 20_000, 'held message and reply');
      expect(comments.map((c) => [c.text, c.broadcast ?? false])).toEqual([
        [text, false],
        ['Да, давайте на завтра', false],
      ]);
      // With an active task now, the next observed message is recorded as usual (after the window).
      await send4(h, [700061], ['Отлично, записали вас на 12:00.']);
      await h.eventually(async () => ((await commentsOfPeer(h, 700061)).length === 3 ? true : undefined), 20_000, 'third comment');
    } finally {
      await h.api('PATCH', `/api/channels/${channelId}`, { settings: { outgoingTasksOnlyOnReply: false } });
    }
  }, 60_000);
});

describe('expiry (rule 23) and the purge Schedule', () => {
  let e: Harness;
  beforeAll(async () => {
    // Held after 2 s; idle after 3 s (still holding: continue-as-new into a holding run); expiry after 10 s.
    e = await startHarness({ BROADCAST_WINDOW_SECONDS: '2', BROADCAST_RETENTION_SECONDS: '10', CONVERSATION_IDLE_SECONDS: '3' });
    await e.startWorkers();
    await e.createVkChannel();
  });
  afterAll(async () => {
    await e?.close();
  });

  it('an unanswered broadcast expires: status expired, nothing in tasks, the idle workflow completes; the Schedule purges it', async () => {
    const peers = [710001, 710002, 710003, 710004];
    await send4(e, peers, ['Black Friday: −50% on everything until midnight!']);
    const expired = await e.eventually(async () => {
      const rows = await rowsOfPeers(e, peers);
      return rows.length === 4 && rows.every((r) => r.status === 'expired') ? rows : undefined;
    }, 40_000, 'all four expired');
    expect(expired.every((r) => r.is_broadcast && r.comment_id === null)).toBe(true);
    for (const p of peers) expect(await commentsOfPeer(e, p)).toEqual([]);
    const listed = await e.api('GET', '/api/broadcasts?status=expired');
    expect(listed.body.items).toHaveLength(4);
    for (const p of peers) {
      await e.eventually(async () => {
        const d = await e.client.workflow.getHandle(e.conversationId(p)).describe();
        return d.status.name === 'COMPLETED';
      }, 30_000, `conversation ${p} completed`);
    }

    // While only holding, the conversation waited in a fresh, short run (continue-as-new):
    // the month-long hold does not keep history growing.
    const runs = await e.eventually(async () => {
      const list = [];
      for await (const r of e.client.workflow.list({ query: `WorkflowId = '${e.conversationId(710001)}'` })) list.push(r);
      return list.length >= 2 ? list : undefined;
    }, 20_000, 'both runs listed');
    expect(runs.map((r) => r.status.name).sort()).toEqual(['COMPLETED', 'CONTINUED_AS_NEW']);
    const holdingRun = runs.find((r) => r.status.name === 'COMPLETED')!;
    expect(holdingRun.historyLength).toBeLessThanOrEqual(30);
    // The count carried into the holding run went back to 0 when the hold ended.
    for (const p of peers) {
      const d = await e.client.workflow.getHandle(e.conversationId(p)).describe();
      expect(d.searchAttributes.TwHeldBroadcasts, `TwHeldBroadcasts of ${p}`).toEqual([0]);
    }

    // A reply after expiry starts a normal task: the expired broadcast stays out of it.
    expect(await e.postVk(vkMessage(messageFixture, { peer: 710001, id: nextId++, text: 'Ещё действует?' }))).toEqual({ status: 200, text: 'ok' });
    const comments = await e.eventually(async () => {
      const c = await commentsOfPeer(e, 710001);
      return c.length ? c : undefined;
    }, 20_000, 'the reply');
    expect(comments.map((c) => c.text)).toEqual(['Ещё действует?']);

    await ensureSchedules(e.client, e.config, createLogger('silent'));
    const schedule = e.client.schedule.getHandle(purgeBroadcastsScheduleId(e.config.TEMPORAL_TASK_QUEUE));
    try {
      const described = await schedule.describe();
      expect(described.spec.intervals?.[0]?.every).toBe(3_600_000);
      await schedule.trigger();
      await e.eventually(async () => ((await rowsOfPeers(e, peers)).length === 0 ? true : undefined), 30_000, 'purged');
      expect((await e.api('GET', '/api/broadcasts?status=expired')).body.items).toEqual([]);
    } finally {
      await schedule.delete();
    }
  }, 90_000);

  it('the expiring, continued-as-new and purge histories replay without nondeterminism', async () => {
    const { replayed, failures } = await replayAll(e, 'broadcast-expiry', (id) => id.endsWith('/710001') || id.endsWith('/purge-broadcasts'));
    expect(failures).toEqual([]);
    expect(replayed).toBeGreaterThan(5);
  }, 120_000);
});

it('histories of holding, releasing and expiring conversations (live and recorded) replay without nondeterminism', async () => {
  // Recorded (RECORD_HISTORIES=1): holding and released, two held, rule 24, still holding.
  const { replayed, failures } = await replayAll(h, 'broadcast', (id) => ['700002', '700051', '700061', '700001', '5511900000003'].some((p) => id.endsWith(`/${p}`)));
  expect(failures).toEqual([]);
  expect(replayed).toBeGreaterThan(20);
}, 120_000);
