/**
 * Issue 13, edit history: a comment carries its earlier versions (`edits`, oldest first) — the
 * customer's edits in VK and the agent's edits through the API alike, each once however often
 * VK redelivers it or the agent retries. Real Temporal dev server, real PostgreSQL, fake VK.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFixture, startHarness, vkMessage, withEventId, type Harness } from '../support/harness.js';

let h: Harness;
let agentToken: string;
let agentId: string;
let messageNew: Record<string, any>;
let editFixture: Record<string, any>;

beforeAll(async () => {
  h = await startHarness();
  await h.startWorkers();
  const agent = await h.api('POST', '/api/employees', { name: 'Агент Ольга', role: 'agent' });
  agentToken = agent.body.token;
  agentId = agent.body.id;
  await h.createVkChannel();
  messageNew = await readFixture('vk/message_new.text.json');
  editFixture = await readFixture('vk/message_edit.json');
});

afterAll(async () => {
  await h?.close();
});

async function taskOfPeer(peer: number, n: number) {
  return h.eventually(async () => {
    const row = await h.db.selectFrom('contact_identities').select('contact_id').where('external_id', '=', String(peer)).executeTakeFirst();
    if (!row) return undefined;
    const [task] = (await h.api('GET', `/api/tasks?contactId=${row.contact_id}`)).body.items as any[];
    const full = task && (await h.api('GET', `/api/tasks/${task.id}`)).body;
    return full?.comments?.length >= n ? full : undefined;
  }, 20_000, `${n} comments of ${peer}`);
}

/** The customer's edit of their message `id`, made at `at` (unix seconds). */
function customerEdit(peer: number, id: number, text: string, sentAt: number, at: number) {
  const edit = withEventId(editFixture, `${peer}${id}${at}`);
  Object.assign(edit.object, { from_id: peer, peer_id: peer, id, conversation_message_id: id, text, date: sentAt, update_time: at });
  return edit;
}

describe('edit history', () => {
  it("the customer's edits: each earlier version, oldest first, with when and by whom", async () => {
    const peer = 512370001;
    const sentAt = Math.floor(Date.now() / 1000) - 120;
    await h.postVk(vkMessage(messageNew, { peer, id: 1, text: 'Здравствуйте, заказ 4581', date: sentAt }));
    const task = await taskOfPeer(peer, 1);
    expect(task.comments[0].edits).toEqual([]);

    const first = customerEdit(peer, 1, 'Здравствуйте, заказ 45812', sentAt, sentAt + 30);
    expect((await h.postVk(first)).text).toBe('ok');
    expect((await h.postVk(first)).text).toBe('ok'); // VK delivers it again
    await h.postVk(customerEdit(peer, 1, 'Здравствуйте, заказ 45812 — где он?', sentAt, sentAt + 60));

    const comment = await h.eventually(async () => {
      const c = (await taskOfPeer(peer, 1)).comments[0];
      return c.edits.length === 2 ? c : undefined;
    }, 20_000, 'two edits');
    expect(comment.text).toBe('Здравствуйте, заказ 45812 — где он?');
    expect(comment.editedAt).toBe(new Date((sentAt + 60) * 1000).toISOString());
    expect(comment.edits).toEqual([
      { text: 'Здравствуйте, заказ 4581', editedAt: new Date((sentAt + 30) * 1000).toISOString(), by: { type: 'contact', id: task.contactId } },
      { text: 'Здравствуйте, заказ 45812', editedAt: new Date((sentAt + 60) * 1000).toISOString(), by: { type: 'contact', id: task.contactId } },
    ]);
  });

  it("the agent's edits (in VK too), once per request however often it is retried", async () => {
    const peer = 512370002;
    await h.postVk(vkMessage(messageNew, { peer, id: 1, text: 'Можно поменять адрес доставки?' }));
    const task = await taskOfPeer(peer, 1);
    const reply = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Да, напишите новый адрес', notifyContact: true }, agentToken);
    expect(reply.status).toBe(201);
    const id = reply.body.comment.id as string;
    expect(reply.body.comment.edits).toEqual([]);

    const before = Date.now();
    const key = { 'idempotency-key': `edit-history-${id}-1` };
    const one = await h.api('PATCH', `/api/comments/${id}`, { text: 'Да, пришлите новый адрес' }, agentToken, key);
    expect(one.status).toBe(200);
    const again = await h.api('PATCH', `/api/comments/${id}`, { text: 'Да, пришлите новый адрес' }, agentToken, key);
    expect(again.status).toBe(200);
    const two = await h.api('PATCH', `/api/comments/${id}`, { text: 'Да, пришлите новый адрес и удобное время' }, agentToken);
    expect(two.status).toBe(200);

    const edited = two.body.comment;
    expect(edited.text).toBe('Да, пришлите новый адрес и удобное время');
    expect(edited.edits.map((e: any) => e.text)).toEqual(['Да, напишите новый адрес', 'Да, пришлите новый адрес']);
    for (const e of edited.edits) {
      expect(e.by).toEqual({ type: 'employee', id: agentId });
      expect(Date.parse(e.editedAt)).toBeGreaterThanOrEqual(before - 1000);
    }
    expect(Date.parse(edited.edits[1].editedAt)).toBeGreaterThanOrEqual(Date.parse(edited.edits[0].editedAt));
    expect(edited.editedAt).toBeDefined();
    // The reply in VK was edited twice (the retried request did nothing more).
    expect(h.vk.edits.filter((e) => e.peerId === peer).map((e) => e.text)).toEqual(['Да, пришлите новый адрес', 'Да, пришлите новый адрес и удобное время']);
    // The task shows the same history.
    const shown = (await h.api('GET', `/api/tasks/${task.id}`, undefined, agentToken)).body.comments.find((c: any) => c.id === id);
    expect(shown.edits).toEqual(edited.edits);
  });

  it('the OpenAPI document describes the history', async () => {
    const doc = (await h.api('GET', '/openapi.json')).body;
    const comment = doc.components.schemas.Comment;
    expect(comment.required).toContain('edits');
    expect(comment.properties.edits.description).toMatch(/oldest first/);
    expect(Object.keys(doc.components.schemas.CommentEdit.properties).sort()).toEqual(['by', 'editedAt', 'text']);
  });
});
