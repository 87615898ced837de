/**
 * The WhatsApp delivery-status phase of inbound-latency: what `sent` / `delivered` / `read` status
 * webhooks cost. Runs on the benchmark's stack after the inbound phase:
 *
 * 1. N agent replies (`POST /api/tasks/:id/comments {notifyContact: true}` as the owner), one per
 *    person of the inbound phase in turn; the fake Graph API records each send with its wamid.
 * 2. Settle, then snapshot: history events of all workflows (every history read), Temporal's
 *    `action` counters, and `pg_stat_user_tables` (n_tup_ins + n_tup_upd + n_tup_del).
 * 3. 3 × N signed status webhooks, open loop at `rate`/s in rounds: every message's `sent`, then
 *    every `delivered`, then every `read` (as Meta sends them: seconds apart, per message in order).
 * 4. Every reply is read back through the API until it shows deliveryStatus `read`.
 * 5. Settle, snapshot again; the differences are what the statuses added.
 *
 * PostgreSQL's cumulative statistics are flushed by each backend at most once a second and, when a
 * backend goes idle, within 10 s: every snapshot is taken after an 11 s quiet period.
 */
import type { Client } from '@temporalio/client';
import { sql } from 'kysely';
import { signedWebhook, statusWebhook } from '../../tests/fakes/graph-api.js';
import type { Stack } from './stack.js';
import { fmt, rounded, summarize, table, type Summary } from './stats.js';
import { diffCounts, fetchMetrics, parseActionCounters, total, type ActionCounts } from './temporal-metrics.js';

export interface StatusPhaseOptions {
  channelId: string;
  /** wa_ids of the inbound phase's people (each has a task). */
  waIds: string[];
  replies: number;
  /** Status webhooks per second. */
  rate: number;
  appSecret: string;
  phoneNumberId: string;
  say: (line: string) => void;
  aborted: () => Error | undefined;
}

type TableWrites = Record<string, { ins: number; upd: number; del: number }>;

export interface StatusPhaseResult {
  replies: number;
  statusWebhooks: number;
  complete: boolean;
  /** Replies still not `read` when the check gave up. */
  notRead: number;
  historyEvents: { before: number; after: number; added: number; workflowsBefore: number; workflowsAfter: number };
  actions: ActionCounts | null;
  dbWrites: {
    total: number;
    perMessage: number;
    perTable: Record<string, { ins: number; upd: number; del: number; total: number; perMessage: number }>;
  };
  webhookAnswerMs: Summary;
  webhookAnswerMsByStatus: Record<string, Summary>;
  postingSeconds: number;
  replyMs: Summary;
  report: string;
}

const SETTLE_MS = 11_000;
const STATUSES = ['sent', 'delivered', 'read'] as const;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.timeOrigin + performance.now();

/** History events of every workflow run in the namespace (conversations, publications, leads …). */
async function allHistoryEvents(client: Client): Promise<{ events: number; runs: number }> {
  const listed: Array<{ workflowId: string; runId: string }> = [];
  for await (const wf of client.workflow.list()) listed.push({ workflowId: wf.workflowId, runId: wf.runId });
  let events = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < listed.length) {
        const wf = listed[next++]!;
        const h = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
        events += h.events?.length ?? 0;
      }
    }),
  );
  return { events, runs: listed.length };
}

async function tableWrites(s: Stack): Promise<TableWrites> {
  const r = await sql<{ relname: string; ins: string; upd: string; del: string }>`
    select relname, n_tup_ins::text as ins, n_tup_upd::text as upd, n_tup_del::text as del from pg_stat_user_tables`.execute(s.db);
  const out: TableWrites = {};
  for (const row of r.rows) out[row.relname] = { ins: Number(row.ins), upd: Number(row.upd), del: Number(row.del) };
  return out;
}

async function snapshot(s: Stack) {
  const history = await allHistoryEvents(s.client);
  const writes = await tableWrites(s);
  let actions: ActionCounts | undefined;
  try {
    actions = parseActionCounters(await fetchMetrics(s.metricsUrl), s.config.TEMPORAL_NAMESPACE);
  } catch {
    actions = undefined;
  }
  return { history, writes, actions };
}

async function pool<T>(items: T[], concurrency: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

export async function runStatusPhase(s: Stack, o: StatusPhaseOptions): Promise<StatusPhaseResult> {
  const { say } = o;
  const check = () => {
    const err = o.aborted();
    if (err) throw err;
  };
  say(`delivery statuses: ${o.replies} agent replies, then sent/delivered/read for each at ${o.rate}/s`);

  // ---- 1. replies ----
  const taskOf = new Map<string, string>();
  for (const waId of o.waIds.slice(0, o.replies)) {
    const row = await s.db
      .selectFrom('contact_identities')
      .select('contact_id')
      .where('channel_kind', '=', 'whatsapp')
      .where('external_id', '=', waId)
      .executeTakeFirst();
    if (!row) throw new Error(`no contact for wa_id ${waId}`);
    const list = await s.api<{ items: Array<{ id: string }> }>('GET', `/api/tasks?contactId=${row.contact_id}`);
    const task = list.body.items?.[0];
    if (list.status !== 200 || !task) throw new Error(`no task for wa_id ${waId}: HTTP ${list.status}`);
    taskOf.set(waId, task.id);
  }
  interface Reply {
    k: number;
    waId: string;
    taskId: string;
    text: string;
    commentId?: string;
    wamid?: string;
  }
  const replies: Reply[] = Array.from({ length: o.replies }, (_, k) => {
    const waId = o.waIds[k % o.waIds.length]!;
    return { k, waId, taskId: taskOf.get(waId)!, text: `bench status reply r${k} to ${waId}: ваш заказ отправлен.` };
  });
  const replyMs: number[] = [];
  const sentBefore = s.graph.sent.length;
  await pool(replies, 5, async (r) => {
    check();
    const t0 = now();
    const res = await s.api<{ comment: { id: string; deliveryStatus?: string } }>('POST', `/api/tasks/${r.taskId}/comments`, { text: r.text, notifyContact: true });
    replyMs.push(now() - t0);
    if (res.status !== 201) throw new Error(`reply ${r.k} to ${r.waId}: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
    r.commentId = res.body.comment.id;
  });
  const byText = new Map(s.graph.sent.slice(sentBefore).map((m) => [m.text, m]));
  for (const r of replies) {
    const m = byText.get(r.text);
    if (!m) throw new Error(`the fake Graph API did not record reply ${r.k} to ${r.waId}`);
    r.wamid = m.wamid;
  }
  say(`${replies.length} replies sent (POST p50 ${fmt(summarize(replyMs).p50)} ms); the fake Graph API recorded ${replies.length} wamids`);

  // ---- 2. before ----
  say(`settling ${SETTLE_MS / 1000} s (PostgreSQL statistics flush) …`);
  await sleep(SETTLE_MS);
  check();
  const before = await snapshot(s);

  // ---- 3. status webhooks, open loop ----
  const jobs = STATUSES.flatMap((status) => replies.map((r) => ({ r, status })));
  const answers: Record<string, number[]> = { sent: [], delivered: [], read: [] };
  const url = `${s.apiUrl}/webhooks/whatsapp`;
  const startedAt = now() + 50;
  let failure: Error | undefined;
  let lastAnswer = startedAt;
  const inFlight: Array<Promise<void>> = [];
  for (const [j, job] of jobs.entries()) {
    const due = startedAt + (j * 1000) / o.rate;
    const wait = due - now();
    if (wait > 0) await sleep(wait);
    if (failure) break;
    check();
    const signed = signedWebhook(statusWebhook({ pnid: o.phoneNumberId, wamid: job.r.wamid!, status: job.status, recipientId: job.r.waId }), o.appSecret);
    const t0 = now();
    inFlight.push(
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': signed.signature }, body: signed.raw })
        .then(async (res) => {
          const text = await res.text();
          const t1 = now();
          lastAnswer = Math.max(lastAnswer, t1);
          if (res.status !== 200) throw new Error(`status webhook ${job.status} of reply ${job.r.k} answered HTTP ${res.status}: ${text.slice(0, 300)}`);
          answers[job.status]!.push(t1 - t0);
        })
        .catch((err: Error) => {
          failure ??= err;
        }),
    );
  }
  await Promise.all(inFlight);
  if (failure) throw failure;
  const postingSeconds = (lastAnswer - startedAt) / 1000;

  // ---- 4. every reply shows `read` through the API ----
  const pending = new Set(replies);
  const deadline = Date.now() + 60_000;
  while (pending.size && Date.now() < deadline) {
    check();
    const tasks = [...new Set([...pending].map((r) => r.taskId))];
    await pool(tasks, 10, async (taskId) => {
      const t = await s.api<{ comments: Array<{ id: string; deliveryStatus?: string }> }>('GET', `/api/tasks/${taskId}`);
      for (const r of [...pending]) {
        if (r.taskId !== taskId) continue;
        if (t.body.comments?.find((c) => c.id === r.commentId)?.deliveryStatus === 'read') pending.delete(r);
      }
    });
    if (pending.size) await sleep(200);
  }
  say(pending.size ? `${pending.size} replies not 'read' after 60 s` : `all ${replies.length} replies show deliveryStatus 'read'`);

  // ---- 5. after ----
  say(`settling ${SETTLE_MS / 1000} s …`);
  await sleep(SETTLE_MS);
  check();
  const after = await snapshot(s);

  const n = replies.length;
  const perTable: StatusPhaseResult['dbWrites']['perTable'] = {};
  let totalWrites = 0;
  for (const [name, a] of Object.entries(after.writes)) {
    const b = before.writes[name] ?? { ins: 0, upd: 0, del: 0 };
    const d = { ins: a.ins - b.ins, upd: a.upd - b.upd, del: a.del - b.del };
    const t = d.ins + d.upd + d.del;
    totalWrites += t;
    if (t !== 0 || ['delivery_reports', 'deliveries', 'comments'].includes(name)) {
      perTable[name] = { ...d, total: t, perMessage: Math.round((t / n) * 100) / 100 };
    }
  }
  const actions = before.actions && after.actions ? diffCounts(before.actions, after.actions) : null;
  const all = summarize(Object.values(answers).flat());
  const byStatus = Object.fromEntries(STATUSES.map((st) => [st, rounded(summarize(answers[st]!))]));
  const historyEvents = {
    before: before.history.events,
    after: after.history.events,
    added: after.history.events - before.history.events,
    workflowsBefore: before.history.runs,
    workflowsAfter: after.history.runs,
  };

  const lines: string[] = [];
  lines.push(`delivery statuses — ${n} agent replies × 3 status webhooks (sent, delivered, read) = ${jobs.length}, ${o.rate}/s offered`);
  lines.push('');
  lines.push(
    table([
      ['ms', 'n', 'p50', 'p95', 'p99', 'max'],
      ...[['status webhook answer (POST → 200)', all] as const, ...STATUSES.map((st) => [`  ${st}`, summarize(answers[st]!)] as const)].map(([name, x]) => [
        name,
        String(x.n),
        fmt(x.p50, 1),
        fmt(x.p95, 1),
        fmt(x.p99, 1),
        fmt(x.max, 1),
      ]),
      ['agent reply (POST comment → 201, before the phase)', String(replyMs.length), ...(['p50', 'p95', 'p99', 'max'] as const).map((q) => fmt(summarize(replyMs)[q], 1))],
    ]),
  );
  lines.push('');
  lines.push(
    `all ${jobs.length} status webhooks answered 200 in ${postingSeconds.toFixed(2)} s; ${n - pending.size}/${n} replies show deliveryStatus 'read' through the API`,
  );
  lines.push(
    `Temporal history events of all ${historyEvents.workflowsAfter} workflow runs: ${historyEvents.before} before, ${historyEvents.after} after → ` +
      `${historyEvents.added} added by the statuses (${(historyEvents.added / n).toFixed(2)}/message)` +
      (historyEvents.workflowsAfter !== historyEvents.workflowsBefore ? ` (runs ${historyEvents.workflowsBefore} → ${historyEvents.workflowsAfter})` : ''),
  );
  lines.push(`Temporal actions over the phase (server metric): ${actions ? `${total(actions)}${total(actions) ? `: ${Object.entries(actions).map(([k, v]) => `${k} ${v}`).join(', ')}` : ''}` : 'unavailable'}`);
  lines.push(`database writes (pg_stat_user_tables n_tup_ins + n_tup_upd + n_tup_del, all tables): ${totalWrites} = ${(totalWrites / n).toFixed(2)} per outbound message`);
  lines.push(
    table([
      ['table', 'inserted', 'updated', 'deleted', 'total', 'per message'],
      ...Object.entries(perTable)
        .sort((a, b) => b[1].total - a[1].total)
        .map(([name, d]) => [name, String(d.ins), String(d.upd), String(d.del), String(d.total), d.perMessage.toFixed(2)]),
    ]),
  );

  return {
    replies: n,
    statusWebhooks: jobs.length,
    complete: pending.size === 0,
    notRead: pending.size,
    historyEvents,
    actions,
    dbWrites: { total: totalWrites, perMessage: Math.round((totalWrites / n) * 100) / 100, perTable },
    webhookAnswerMs: rounded(all),
    webhookAnswerMsByStatus: byStatus,
    postingSeconds: Math.round(postingSeconds * 100) / 100,
    replyMs: rounded(summarize(replyMs)),
    report: lines.join('\n'),
  };
}
