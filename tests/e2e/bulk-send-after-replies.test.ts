/**
 * A mailing in a channel where agents have replied before. A recipient's id is its message's VK
 * random_id and the send key its conversation matches echoes by; a delivery's id is the same for an
 * agent's reply. VK drops a repeated random_id of the same community silently, and a conversation
 * takes a send key that is a delivery's id for an agent's own send. So the two must never share a
 * number (recipients take their ids from the deliveries sequence, migration 0003): every recipient's
 * message is held as a broadcast (rules 22–23) and reaches their task before their reply.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFixture, startHarness, vkMessage, type Harness } from '../support/harness.js';

let h: Harness;
let channelId: string;
let base: Record<string, any>;

beforeAll(async () => {
  h = await startHarness();
  await h.startWorkers();
  channelId = await h.createVkChannel();
  base = await readFixture('vk/message_new.text.json');
});

afterAll(async () => {
  await h?.close();
});

async function taskOf(peer: number) {
  return h.eventually(async () => {
    const identity = await h.db.selectFrom('contact_identities').select('contact_id').where('external_id', '=', String(peer)).executeTakeFirst();
    if (!identity) return undefined;
    const tasks = (await h.api('GET', `/api/tasks?contactId=${identity.contact_id}`)).body.items as any[];
    return tasks[0] ? (await h.api('GET', `/api/tasks/${tasks[0].id}`)).body : undefined;
  }, 20_000, `the task of ${peer}`);
}

describe('a mailing after agents replied in the same channel', () => {
  it('every recipient’s message is held and comes into their task before their reply, whatever the delivery ids', async () => {
    // Agents answer one person three times: deliveries 1–3 in this channel.
    const asker = 512380001;
    await h.postVk(vkMessage(base, { peer: asker, id: 1, text: 'Когда доставка?' }));
    const task = await taskOf(asker);
    for (const text of ['Завтра', 'С 10 до 14', 'Курьер позвонит']) {
      const reply = await h.api('POST', `/api/tasks/${task.id}/comments`, { text, notifyContact: true });
      expect(reply.status, JSON.stringify(reply.body)).toBe(201);
    }
    const deliveries = await h.db.selectFrom('deliveries').select('id').where('channel_id', '=', channelId).execute();
    expect(deliveries.map((d) => Number(d.id)).sort()).toEqual([1, 2, 3]);

    // The mailing: recipients 1–3 of the job, numbered after those deliveries.
    const recipients = [512380002, 512380003, 512380004];
    const text = 'Распродажа: −20% на все диваны до воскресенья';
    const res = await h.api('POST', `/api/channels/${channelId}/bulk-sends`, { recipients: recipients.map((vkUserId) => ({ vkUserId })), text });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const jobId: string = res.body.id;
    const held = await h.eventually(async () => {
      const rows = await h.db.selectFrom('broadcasts').select(['status', 'contact_id']).where('bulk_send_id', '=', jobId).execute();
      return rows.length === 3 ? rows : undefined;
    }, 30_000, 'three held broadcasts');
    expect(held.map((r) => r.status)).toEqual(['held', 'held', 'held']);
    const ids = await h.db.selectFrom('bulk_send_recipients').select('id').where('bulk_send_id', '=', jobId).execute();
    expect(ids.filter((r) => deliveries.some((d) => d.id === r.id))).toEqual([]); // one numbering for everything sent

    // Each recipient answers: the mailing comes into their task, before the answer.
    for (const [i, peer] of recipients.entries()) {
      await h.postVk(vkMessage(base, { peer, id: 100 + i, text: `Интересно, ${i}` }));
      const answered = await h.eventually(async () => {
        const t = await taskOf(peer);
        return t.comments.length >= 2 ? t : undefined;
      }, 20_000, `the answer of ${peer}`);
      expect(answered.comments.map((c: any) => c.text)).toEqual([text, `Интересно, ${i}`]);
    }
  });
});
