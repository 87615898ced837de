/**
 * The conversation workflow's life: idle runs complete and the next event starts a new run
 * under the same id without losing or doubling anything; long conversations continue-as-new
 * carrying their state; recorded histories replay deterministically.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { updateConversation } from '../../api/conversations.js';
import { editCommentUpdate } from '../../workflows/conversation.js';
import { replayAll } from '../support/replay.js';
import { readFixture, startHarness, vkMessage, type Harness } from '../support/harness.js';


let h: Harness;
let base: Record<string, any>;
let channelId: string;

beforeAll(async () => {
  h = await startHarness({ CONVERSATION_IDLE_SECONDS: '1', CONVERSATION_CONTINUE_AS_NEW_EVENTS: '100' });
  await h.startWorkers();
  channelId = await h.createVkChannel();
  base = await readFixture('vk/message_new.text.json');
});

afterAll(async () => {
  await h?.close();
});

async function comments(peer: number): Promise<string[]> {
  const contact = await h.db.selectFrom('contact_identities').select('contact_id').where('external_id', '=', String(peer)).executeTakeFirst();
  if (!contact) return [];
  const rows = await h.db
    .selectFrom('comments as c')
    .innerJoin('tasks as t', 't.id', 'c.task_id')
    .select('c.text')
    .where('t.contact_id', '=', contact.contact_id)
    .orderBy('c.created_at')
    .orderBy('c.id')
    .execute();
  return rows.map((r) => r.text);
}

async function runsOf(workflowId: string) {
  const runs = [];
  for await (const r of h.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runs.push(r);
  return runs;
}

describe('idle completion', () => {
  it('an idle conversation completes; the next message starts a new run and lands in the same task once', async () => {
    const peer = 512340101;
    const first = vkMessage(base, { peer, id: 1, text: 'Первое' });
    await h.postVk(first);
    const id = h.conversationId(peer);
    const firstRun = await h.eventually(async () => {
      const d = await h.client.workflow.getHandle(id).describe();
      return d.status.name === 'COMPLETED' ? d.runId : undefined;
    }, 30_000, 'the idle run to complete');

    // VK redelivers the first event after the run is gone: the database still knows it.
    await h.postVk(first);
    await h.postVk(vkMessage(base, { peer, id: 2, text: 'Второе' }));
    await h.eventually(async () => ((await comments(peer)).includes('Второе') ? true : undefined), 30_000, 'second message');
    expect(await comments(peer)).toEqual(['Первое', 'Второе']);
    const d = await h.client.workflow.getHandle(id).describe();
    expect(d.runId).not.toBe(firstRun);
    const tasks = await h.db.selectFrom('tasks').select('id').where('workflow_id', '=', id).execute();
    expect(tasks).toHaveLength(1);
  });

  it('messages that arrive while a run is completing are never lost', async () => {
    const peer = 512340102;
    const sent: string[] = [];
    // Messages spaced around the idle timeout (1 s), so some land while the run is finishing; every
    // third gap is well past it, so that a run surely completes mid-stream (on a busy machine the
    // near-boundary gaps alone sometimes never let one finish).
    for (let i = 1; i <= 8; i++) {
      const text = `Сообщение ${i}`;
      sent.push(text);
      expect((await h.postVk(vkMessage(base, { peer, id: i, text }))).status).toBe(200);
      await new Promise((r) => setTimeout(r, i % 3 === 2 ? 1_800 : 850 + (i % 3) * 120));
    }
    await h.eventually(async () => ((await comments(peer)).length === sent.length ? true : undefined), 30_000, 'all messages');
    expect(await comments(peer)).toEqual(sent);
    expect((await runsOf(h.conversationId(peer))).length).toBeGreaterThan(1);
  });

  it('an agent reply to a conversation without an open run starts one (update-with-start)', async () => {
    const peer = 512340103;
    await h.postVk(vkMessage(base, { peer, id: 1, text: 'Вопрос' }));
    const id = h.conversationId(peer);
    await h.eventually(async () => ((await h.client.workflow.getHandle(id).describe()).status.name === 'COMPLETED' ? true : undefined), 30_000, 'idle completion');
    const task = await h.db.selectFrom('tasks').select('id').where('workflow_id', '=', id).executeTakeFirstOrThrow();
    const res = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Ответ после паузы', notifyContact: true });
    expect(res.status).toBe(201);
    expect(h.vk.sent.filter((m) => m.text === 'Ответ после паузы' && m.peerId === peer)).toHaveLength(1);
  });

  it('an edit retried after its run ended (the run forgot the request) is not applied twice', async () => {
    const peer = 512340104;
    await h.postVk(vkMessage(base, { peer, id: 1, text: 'Когда доставка?' }));
    const id = h.conversationId(peer);
    const task = await h.eventually(() => h.db.selectFrom('tasks').select('id').where('workflow_id', '=', id).executeTakeFirst(), 30_000, 'the task');
    const reply = await h.api('POST', `/api/tasks/${task.id}/comments`, { text: 'Завтра', notifyContact: true });
    expect(reply.status).toBe(201);
    const completed = async () => ((await h.client.workflow.getHandle(id).describe()).status.name === 'COMPLETED' ? true : undefined);
    const edit = { requestId: 'edit:test:retried-after-idle', commentId: reply.body.comment.id, editorEmployeeId: '1', text: 'Завтра до полудня' };
    const ref = { channelId, channelKind: 'vk' as const, channelExternalId: String(base.group_id), peerId: String(peer) };
    // The same request twice, each in its own run (a client retrying after a 5xx, a day later).
    for (let i = 0; i < 2; i++) {
      await h.eventually(completed, 30_000, `idle completion ${i + 1}`);
      const progress = await updateConversation(h.client, h.config, ref, {}, editCommentUpdate, [edit], `${edit.requestId}:${i}`, Date.now() + 20_000);
      expect(progress.state).toBe('completed');
    }
    expect(h.vk.edits.filter((e) => e.text === 'Завтра до полудня')).toHaveLength(1);
    const comment = await h.db.selectFrom('comments').select(['text', 'edits']).where('id', '=', reply.body.comment.id).executeTakeFirstOrThrow();
    expect(comment.text).toBe('Завтра до полудня');
    expect(comment.edits).toHaveLength(1);
  });
});

describe('continue-as-new', () => {
  it('a long conversation continues as new, carrying its state; nothing is lost or doubled', async () => {
    const peer = 512340201;
    const id = h.conversationId(peer);
    const bodies = Array.from({ length: 30 }, (_, i) => vkMessage(base, { peer, id: i + 1, text: `Длинный разговор ${i + 1}` }));
    // Posted one after another, each waited for, so every message is its own batch (many events).
    for (const b of bodies) {
      await h.postVk(b);
      await h.eventually(async () => ((await comments(peer)).includes(b.object.message.text) ? true : undefined), 20_000, b.object.message.text);
    }
    // Redeliveries of early events after continue-as-new are still recognised.
    for (const b of bodies.slice(0, 3)) await h.postVk(b);
    await h.postVk(vkMessage(base, { peer, id: 99, text: 'Последнее' }));
    await h.eventually(async () => ((await comments(peer)).includes('Последнее') ? true : undefined), 20_000, 'last');
    expect(await comments(peer)).toEqual([...bodies.map((b) => b.object.message.text), 'Последнее']);
    const runs = await runsOf(id);
    expect(runs.some((r) => r.status.name === 'CONTINUED_AS_NEW')).toBe(true);
    for (const r of runs) expect(r.historyLength).toBeLessThan(200);
  });
});

describe('determinism', () => {
  it('histories of this run and the recorded ones replay without nondeterminism', async () => {
    const { replayed, failures } = await replayAll(h, 'conversation');
    expect(replayed).toBeGreaterThan(3);
    expect(failures).toEqual([]);
  });
});
