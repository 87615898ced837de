/**
 * Issue 10, "every bad value → 400 with the field named": a fuzz test over every route of the app
 * and the webhooks of every channel (VK, WhatsApp, Telegram). Each request is a valid one with one
 * thing broken — a field mutated (NUL, lone surrogates, numbers beyond bigint or Date, very long or
 * deep values, wrong types, extra keys), a body that is not JSON or has the wrong content type, a
 * bad path parameter or query value, a wrong secret header — sent with the owner's and with an
 * agent's token. For every answer:
 *   - never 5xx;
 *   - a 4xx has the contract's error body, and a 400 `invalid_request` names a field of the request;
 *   - a 4xx stored nothing: no table and no file changed, no workflow was started.
 *
 * Telegram's webhook answers an authenticated update it cannot read 200 and drops it (a non-2xx
 * makes Telegram hold the bot's later updates for a day), so there a 200 may carry nothing: each of
 * its 200s must store nothing, and reach a conversation workflow exactly when the update is one
 * taskwire reads (a private chat's message, edit or block); a wrong secret header is always 401, a
 * path that names no Telegram channel 404.
 *
 * The routes come from the app itself (its router and /openapi.json): a route without a fuzz spec
 * fails the test. Fixed seed by default (printed); `FUZZ_SEED` and `FUZZ_RUNS` (about how many
 * requests in all) override it:
 *
 *   FUZZ_SEED=42 FUZZ_RUNS=10000 npx vitest run tests/e2e/fuzz.test.ts
 *
 * (`FUZZ_VERBOSE=1` adds the answers per route, `FUZZ_TRACE=<file>` logs every request.) The first
 * request of each route and webhook fixture is the unbroken one, and must be accepted.
 *
 * API routes run with workers (a valid change goes through its workflow and answers); webhooks run
 * with the workers stopped, so nothing but the request itself writes while it is checked.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createHmac } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { WorkflowNotFoundError } from '@temporalio/client';
import { parseVkCallback } from '../../channels/vk/callback.js';
import { parseUpdate } from '../../channels/telegram/updates.js';
import { parseWebhook } from '../../channels/whatsapp/webhook.js';
import { conversationWorkflowId, leadWorkflowId, publicationWorkflowId } from '../../channels/workflow-ids.js';
import { FAKE_PHONE_NUMBER_ID, textWebhook } from '../fakes/graph-api.js';
import {
  fixturePath,
  readFixture,
  startHarness,
  TG_BOT_ID,
  TG_SECRET_TOKEN,
  VK_SECRET,
  vkMessage,
  VK_GROUP_ID,
  WA_APP_SECRET,
  WA_VERIFY_TOKEN,
  type Harness,
} from '../support/harness.js';
import {
  brokenBodies,
  describeMutation,
  hostilePathParam,
  hostileQueryValue,
  idempotencyKeyArb,
  mutate,
  mutationArb,
  pathsOf,
  toJsonText,
  type Json,
  type Mutation,
} from '../support/hostile.js';
import { applicationTables, snapshotDiff, takeSnapshot, type StateSnapshot } from '../support/state-snapshot.js';

const SEED = Number(process.env.FUZZ_SEED ?? 1010);
const RUNS = Number(process.env.FUZZ_RUNS ?? 3000);
/** Shares of RUNS: API routes (by how much each has to break), VK webhook, WhatsApp webhook POST and GET, Telegram webhook. */
const SHARE = { api: 0.6, vk: 0.15, waPost: 0.12, waGet: 0.03, tg: 0.1 };
/** `FUZZ_VERBOSE=1`: the answers of each route by status, after the summary. */
const VERBOSE = !!process.env.FUZZ_VERBOSE;
/** `FUZZ_TRACE=<file>`: every request and answer, as they happen. */
const trace = (line: string) => process.env.FUZZ_TRACE && appendFileSync(process.env.FUZZ_TRACE, `${new Date().toISOString()} ${line}\n`);

let h: Harness;
let openapi: { paths: Record<string, Record<string, { parameters?: Array<{ name: string; in: string }> }>> };
let tables: string[];

/** Ids of what the setup made, for valid requests. */
const ids = {
  ownerId: '',
  agentId: '',
  agentToken: '',
  templateId: '',
  vkChannelId: '',
  waChannelId: '',
  tgChannelId: '',
  patchChannelId: '',
  vkTaskId: '',
  waTaskId: '',
  contactIds: [] as string[],
  ownerCommentId: '',
  agentCommentId: '',
  attachmentId: '',
  ownerQuickReplyId: '',
  agentQuickReplyId: '',
  bulkSendId: '',
};

/** Increasing numbers for values that must be new (channel ids, phone numbers, event ids). */
let freshCounter = 0;
const fresh = () => ++freshCounter;

// ---------------------------------------------------------------------------------------------
// Results

interface Problem {
  route: string;
  request: string;
  status: number;
  problem: string;
  body: string;
}

const stats = { requests: 0, byClass: { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 } as Record<string, number>, byRoute: new Map<string, Map<number, number>>() };
const problems: Problem[] = [];
let started = 0;

function count(route: string, status: number): void {
  stats.requests++;
  const cls = `${Math.floor(status / 100)}xx`;
  stats.byClass[cls] = (stats.byClass[cls] ?? 0) + 1;
  const m = stats.byRoute.get(route) ?? new Map<number, number>();
  m.set(status, (m.get(status) ?? 0) + 1);
  stats.byRoute.set(route, m);
}

/** Problems grouped by route, status and kind (digits and quoted values blurred), one example each. */
function report(list: Problem[]): string {
  const groups = new Map<string, Problem[]>();
  for (const p of list) {
    const key = `${p.route} ${p.status} ${p.problem.replace(/\d+/g, 'N').replace(/"[^"]*"/g, '"…"')}`;
    groups.set(key, [...(groups.get(key) ?? []), p]);
  }
  return [...groups.values()]
    .map((g) => {
      const p = g[0]!;
      return `${p.route} ← ${p.request}${g.length > 1 ? ` (and ${g.length - 1} like it)` : ''}\n    → ${p.status}: ${p.problem}\n    ${p.body.slice(0, 300)}`;
    })
    .join('\n');
}

// ---------------------------------------------------------------------------------------------
// Requests and their checks

interface FuzzRequest {
  route: string;
  method: string;
  /** Path and query, as sent. */
  url: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
  /** What is broken in it, for the report. */
  label: string;
  /** The JSON body sent (when it was JSON), to tell whether an error names one of its fields. */
  json?: unknown;
  query: Record<string, string>;
  params: Record<string, string>;
}

interface Answer {
  status: number;
  text: string;
  json: any;
}

async function send(req: FuzzRequest): Promise<Answer> {
  const res = await h.app.request(req.url, { method: req.method, headers: req.headers, ...(req.body !== undefined ? { body: req.body } : {}) });
  if (res.ok && res.headers.get('content-type')?.startsWith('text/event-stream')) {
    // An event stream stays open: its answer is what a client reads first (`ready`); then it hangs up.
    const reader = res.body!.getReader();
    const first = await reader.read();
    await reader.cancel();
    const text = new TextDecoder().decode(first.value);
    return { status: res.status, text, json: undefined };
  }
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}

/** The contract's error body: `{error: {code, message, details?}}` and nothing else. */
function errorShapeProblem(a: Answer): string | undefined {
  const e = a.json?.error;
  if (!a.json || typeof a.json !== 'object' || Object.keys(a.json).length !== 1 || !e || typeof e !== 'object') return 'error body is not {error: {...}}';
  if (typeof e.code !== 'string' || !e.code || typeof e.message !== 'string' || !e.message) return 'error without code or message';
  const extra = Object.keys(e).filter((k) => !['code', 'message', 'details'].includes(k));
  if (extra.length) return `error has extra keys ${extra.join(', ')}`;
  if (e.details !== undefined && (typeof e.details !== 'object' || e.details === null || Array.isArray(e.details))) return 'error.details is not an object';
  return undefined;
}

/** True when `field` (dotted) names something the request carried: a body field (or a missing key of a body object), a query parameter, a header, a path parameter, or the body itself. */
function namesRequestField(field: unknown, req: FuzzRequest): boolean {
  if (typeof field !== 'string') return false;
  if (field === 'body' || field in req.query || field in req.params || field.toLowerCase() in lowerKeys(req.headers)) return true;
  return req.json !== null && typeof req.json === 'object' && inBody(req.json, field);
}

/**
 * Every segment of `field` but the last is a key in `value` (the last may be missing, or under a
 * value of the wrong type). Keys may themselves contain dots.
 */
function inBody(value: unknown, field: string): boolean {
  if (value === null || typeof value !== 'object') return !field.includes('.');
  for (const key of Object.keys(value)) {
    if (field === key) return true;
    if (field.startsWith(`${key}.`) && inBody((value as Record<string, unknown>)[key], field.slice(key.length + 1))) return true;
  }
  return !field.includes('.');
}

function lowerKeys(o: Record<string, string>): Record<string, true> {
  return Object.fromEntries(Object.keys(o).map((k) => [k.toLowerCase(), true]));
}

function answerProblems(req: FuzzRequest, a: Answer): string[] {
  const out: string[] = [];
  if (a.status >= 500) out.push(`${a.status} answer`);
  if (a.status >= 400) {
    const shape = errorShapeProblem(a);
    if (shape) out.push(shape);
    else if (a.status === 400 && a.json.error.code === 'invalid_request' && !namesRequestField(a.json.error.details?.field, req)) {
      out.push(`400 invalid_request names no field of the request (details.field = ${JSON.stringify(a.json.error.details?.field)})`);
    }
  }
  return out;
}

/** Polls until what is stored stops changing (a workflow may still be writing after a 2xx). */
async function settle(quiet: { polls: number; everyMs: number } = { polls: 2, everyMs: 15 }): Promise<StateSnapshot> {
  let last = await snapshot();
  let stable = 0;
  const deadline = Date.now() + 20_000;
  while (stable < quiet.polls && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, quiet.everyMs));
    const next = await snapshot();
    const diff = snapshotDiff(last, next);
    if (diff === '') stable++;
    else {
      stable = 0;
      trace(`settle: still changing: ${diff}`);
    }
    last = next;
  }
  return last;
}

const snapshot = () => takeSnapshot(h.db, tables, h.config.filesDir);

/**
 * The state of workflows a webhook could start or signal: run id and history length, or 'none'.
 * (The webhook part runs with the workers stopped: only a request can lengthen a history.)
 */
async function workflowStates(workflowIds: string[]): Promise<string[]> {
  return Promise.all(
    workflowIds.map(async (id) => {
      try {
        const d = await h.client.workflow.getHandle(id).describe();
        return `${id}@${d.runId}#${d.historyLength}`;
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return `${id}@none`;
        // An id Temporal refuses (e.g. not UTF-8): no request could start it either.
        return `${id}@unusable`;
      }
    }),
  );
}

interface RunOptions {
  /** Workflow ids the request could start or signal (webhooks). */
  targets?: (req: FuzzRequest) => string[];
  /** After a 2xx: wait for what it started (e.g. a bulk send) to finish. */
  after2xx?: (req: FuzzRequest, a: Answer) => Promise<void>;
  onAccepted?: (req: FuzzRequest) => void;
  /**
   * After a 2xx: the workflows (among `targets`) the request should have reached. Given, the 2xx
   * must have reached those and changed no other target, and stored nothing (Telegram: a 200 may
   * be an update dropped unread).
   */
  reaches?: (req: FuzzRequest) => string[];
  /** Checks of the answer beyond the invariants (e.g. a wrong secret must be refused). */
  expectAnswer?: (req: FuzzRequest, a: Answer) => string[];
  /** Nothing runs in the background (webhooks with the workers stopped): no need to wait after a 2xx. */
  quiet?: boolean;
  /** The unbroken request: it must be accepted (proves the spec's base is valid). */
  mustAccept?: boolean;
}

let current: StateSnapshot | undefined;
/** An answer this slow means something is stuck (no fake here takes long); after 3 the route's run stops. */
const SLOW_MS = 15_000;
const slowByRoute = new Map<string, number>();

/** Sends one request and checks the answer and what was stored. */
async function runOne(req: FuzzRequest, opts: RunOptions = {}): Promise<void> {
  const before = current ?? (await snapshot());
  const targets = opts.targets?.(req) ?? [];
  const wfBefore = targets.length ? await workflowStates(targets) : [];
  const t0 = Date.now();
  trace(`→ ${req.method} ${shortUrl(req.url)} [${req.label}]`);
  const a = await send(req);
  const ms = Date.now() - t0;
  trace(`← ${a.status} in ${ms} ms`);
  count(req.route, a.status);
  const found = [...answerProblems(req, a), ...(opts.expectAnswer?.(req, a) ?? [])];
  if (opts.mustAccept && a.status >= 300) found.push(`the valid request was refused`);
  if (ms > SLOW_MS) {
    found.push(`answered after ${(ms / 1000).toFixed(1)} s`);
    slowByRoute.set(req.route, (slowByRoute.get(req.route) ?? 0) + 1);
  }
  if (a.status >= 400) {
    const after = await snapshot();
    const diff = snapshotDiff(before, after);
    if (diff) found.push(`a ${a.status} stored something: ${diff}`);
    const wfAfter = targets.length ? await workflowStates(targets) : [];
    const started = wfAfter.filter((s, i) => s !== wfBefore[i]);
    if (started.length) found.push(`a ${a.status} started a workflow: ${started.join(', ')}`);
    current = after;
  } else {
    const after = opts.reaches ? await snapshot() : undefined;
    if (after) found.push(...(await reachedProblems(a.status, snapshotDiff(before, after), targets, wfBefore, opts.reaches!(req))));
    opts.onAccepted?.(req);
    await opts.after2xx?.(req, a);
    if (opts.quiet) current = after ?? (await snapshot());
    // What a route's hook waited for (a bulk send) may still write for a moment: a longer quiet spell.
    else if (opts.after2xx) current = await settle({ polls: 4, everyMs: 50 });
    else current = a.status >= 300 || req.method !== 'GET' ? await settle() : before;
  }
  for (const problem of found) problems.push({ route: req.route, request: `${req.method} ${shortUrl(req.url)} [${req.label}]`, status: a.status, problem, body: a.text });
}

/** After a 2xx that should have stored nothing (`diff`: what it stored) and reached exactly `expected` of the `targets`. */
async function reachedProblems(status: number, diff: string, targets: string[], wfBefore: string[], expected: string[]): Promise<string[]> {
  const out: string[] = [];
  if (diff) out.push(`a ${status} stored something: ${diff}`);
  const wfAfter = await workflowStates(targets);
  const changed = targets.filter((_, i) => wfAfter[i] !== wfBefore[i]);
  const unexpected = changed.filter((id) => !expected.includes(id));
  if (unexpected.length) out.push(`a ${status} for an update that is not to be read reached a workflow: ${unexpected.join(', ')}`);
  const missed = expected.filter((id) => !changed.includes(id));
  if (missed.length) out.push(`a ${status} for a readable update reached no workflow: ${missed.join(', ')}`);
  return out;
}

const shortUrl = (u: string) => (u.length > 120 ? `${u.slice(0, 120)}…` : u);

// ---------------------------------------------------------------------------------------------
// API routes: a valid request per route, then one thing broken

interface ApiSpec {
  /** Valid values of each path parameter (ids made by the setup). */
  params?: Record<string, () => string[]>;
  /** A valid JSON body. */
  body?: () => Json;
  /** A valid query. */
  query?: () => Record<string, string>;
  /** Takes an Idempotency-Key header (sent with valid and broken keys). */
  idempotent?: boolean;
  /** Made before the request (not checked): e.g. a fresh quick reply to delete. */
  prepare?: (token: 'owner' | 'agent') => Promise<Record<string, string>>;
  after2xx?: RunOptions['after2xx'];
}

const tokenOf = (who: 'owner' | 'agent') => (who === 'owner' ? h.ownerToken : ids.agentToken);
const phone = (n: number) => `+7 916 ${String(5_000_000 + n).slice(0, 3)}-${String(n % 100).padStart(2, '0')}-${String((n * 7) % 100).padStart(2, '0')}`;

const settingsBody = (): Json => ({
  taskTemplateId: ids.templateId,
  extraAssigneeIds: [ids.agentId],
  createNewTaskIfNoActive: true,
  historyMessages: 10,
  receive: { messages: true, wallComments: false },
});

async function waitBulkSend(_req: FuzzRequest, a: Answer): Promise<void> {
  if (a.status !== 202) return;
  await h.eventually(async () => (await h.api('GET', `/api/bulk-sends/${a.json.id}`)).body.status === 'done', 30_000, `bulk send ${a.json.id} done`);
}

/** After a retry is accepted: its workflow records the letter later, so wait until it is no longer `retrying`. */
async function waitDeadLetterRetried(_req: FuzzRequest, a: Answer): Promise<void> {
  if (a.status !== 202) return;
  const id = String(a.json.deadLetter.id);
  await h.eventually(
    async () => (await h.db.selectFrom('dead_letters').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status !== 'retrying',
    30_000,
    `dead letter ${id} recorded or dead again`,
  );
}

const API_SPECS: Record<string, ApiSpec> = {
  'GET /healthz': {},
  'GET /readyz': {},
  'GET /metrics': {},
  'GET /openapi.json': {},
  'GET /docs': {},
  'GET /docs/assets/:file': { params: { file: () => ['swagger-ui.css'] } },
  'POST /api/employees': { body: () => ({ name: `Fuzz ${fresh()}`, email: `fuzz${fresh()}@example.com`, role: 'agent' }) },
  'GET /api/employees': {},
  'POST /api/task-templates': {
    body: () => ({
      name: 'Fuzz template',
      creator: { type: 'employee', employeeId: ids.ownerId },
      assigneeIds: [ids.agentId],
      customFields: [{ name: 'Order', type: 'text' }, { name: 'When', type: 'date' }],
    }),
  },
  'GET /api/task-templates': {},
  'GET /api/task-templates/:id': { params: { id: () => [ids.templateId] } },
  'POST /api/channels': {
    body: (): Json => {
      const n = fresh();
      const vk: Json = { kind: 'vk', name: `VK ${n}`, groupId: 310_000_000 + n, accessToken: 'vk-token', confirmationCode: 'abc123', secret: 'fuzz-secret', settings: settingsBody() };
      const wa: Json = {
        kind: 'whatsapp',
        name: `WA ${n}`,
        phoneNumberId: String(200_000_000_000 + n),
        wabaId: '102290129340398',
        accessToken: 'wa-token',
        appSecret: 'fuzz-app-secret',
        verifyToken: 'fuzz-verify',
        active: true,
        settings: settingsBody(),
      };
      return n % 2 ? vk : wa;
    },
  },
  'GET /api/channels': { query: () => ({ kind: 'vk', active: 'true' }) },
  'GET /api/channels/:id': { params: { id: () => [ids.vkChannelId, ids.waChannelId, ids.patchChannelId, ids.tgChannelId] } },
  'PATCH /api/channels/:id': {
    params: { id: () => [ids.patchChannelId] },
    body: () => ({
      name: 'Patched',
      active: true,
      settings: settingsBody(),
      accessToken: 'rotated',
      secret: 'rotated-secret',
      confirmationCode: 'c0de',
    }),
  },
  'GET /api/quick-replies': {},
  'POST /api/quick-replies': { body: () => ({ title: 'Greeting', text: 'Hello, {{name}}!' }) },
  'GET /api/quick-replies/:id': { params: { id: () => [ids.ownerQuickReplyId, ids.agentQuickReplyId] } },
  'PATCH /api/quick-replies/:id': { params: { id: () => [ids.ownerQuickReplyId, ids.agentQuickReplyId] }, body: () => ({ title: 'Greeting', text: 'Hi, {{name}}' }) },
  'DELETE /api/quick-replies/:id': {
    prepare: async (who) => {
      const res = await h.api('POST', '/api/quick-replies', { title: 'To delete', text: 'bye' }, tokenOf(who));
      return { id: res.body.id };
    },
  },
  'GET /api/contacts/:id': { params: { id: () => ids.contactIds } },
  'GET /api/contacts': { query: () => ({ phone: '+7 916 999-03-51' }) },
  'GET /api/tasks': { query: () => ({ status: 'open', channelId: ids.vkChannelId, kind: 'conversation', limit: '20', before: '999999' }) },
  'GET /api/tasks/:id': { params: { id: () => [ids.vkTaskId, ids.waTaskId] } },
  'GET /api/task-changes': {},
  'POST /api/tasks/:id/comments': {
    params: { id: () => [ids.vkTaskId, ids.waTaskId] },
    idempotent: true,
    body: () => {
      const n = fresh();
      return {
        text: `Reply ${n} for {{name}}`,
        notifyContact: n % 3 === 0,
        attachments: n % 2 ? [{ filename: `note-${n}.txt`, mimeType: 'text/plain', contentBase64: Buffer.from(`file ${n}`).toString('base64') }] : [],
        variables: { name: 'Anna', n },
        quickReplyId: ids.ownerQuickReplyId,
        replyToCommentId: ids.ownerCommentId,
        ...(n % 4 === 0 ? { template: { name: 'ticket_update', language: 'ru', parameters: ['Anna'] } } : {}),
        ...(n % 15 === 0 ? { sendAt: new Date(Date.now() + 3_600_000).toISOString(), whenWindowClosed: 'hold' } : {}),
      };
    },
  },
  'PATCH /api/comments/:id': { params: { id: () => [ids.ownerCommentId, ids.agentCommentId] }, idempotent: true, body: () => ({ text: `Edited ${fresh()}` }) },
  'POST /api/comments/:id/cancel': {
    idempotent: true,
    // A fresh reply scheduled an hour ahead, by the caller: the valid cancel takes it back.
    prepare: async (who) => {
      const res = await h.api('POST', `/api/tasks/${ids.vkTaskId}/comments`, { text: `Later ${fresh()}`, notifyContact: true, sendAt: new Date(Date.now() + 3_600_000).toISOString() }, tokenOf(who));
      return { id: res.body.comment.id };
    },
  },
  'POST /api/tasks/:id/complete': { params: { id: () => [ids.vkTaskId, ids.waTaskId] } },
  'POST /api/tasks/:id/reopen': { params: { id: () => [ids.vkTaskId, ids.waTaskId] } },
  'GET /api/attachments/:id': { params: { id: () => [ids.attachmentId] } },
  'POST /api/channels/:id/conversations': {
    params: { id: () => [ids.waChannelId, ids.vkChannelId] },
    idempotent: true,
    body: () => ({ phone: phone(fresh()), template: { name: 'hello', language: 'ru', parameters: ['Anna'] } }),
  },
  'POST /api/channels/:id/bulk-sends': {
    params: { id: () => [ids.vkChannelId] },
    idempotent: true,
    body: () => ({ recipients: [{ vkUserId: 512_348_500 + (fresh() % 50) }, { vkUserId: String(512_348_600 + (fresh() % 50)) }], text: 'Sale until Sunday!' }),
    after2xx: waitBulkSend,
  },
  'GET /api/bulk-sends/:id': { params: { id: () => [ids.bulkSendId] } },
  'GET /api/broadcasts': { query: () => ({ channelId: ids.vkChannelId, status: 'held', limit: '10', before: '999999' }) },
  'GET /api/dead-letters': { query: () => ({ status: 'dead', channelId: ids.vkChannelId, limit: '10', before: '999999' }) },
  'POST /api/dead-letters/:id/retry': {
    idempotent: true,
    // A fresh dead letter each time: a message of the fuzz conversation, set aside (a retry records it).
    prepare: async () => {
      const n = fresh();
      const event = { type: 'inbound', keys: [`fuzz-dl:${n}`], occurredAt: new Date().toISOString(), externalId: `fuzz-dl-${n}`, text: `Set aside ${n}`, media: [] };
      const row = await h.db
        .insertInto('dead_letters')
        .values({
          channel_id: ids.vkChannelId,
          workflow_id: h.conversationId(512349351),
          workflow_type: 'conversation',
          target: JSON.stringify({ type: 'conversation', peerId: '512349351' }),
          event: JSON.stringify(event),
          event_key: `fuzz-dl:${n}`,
          reason: 'the event could not be recorded',
          error: JSON.stringify({ type: 'InvalidData', message: 'made by the fuzz test' }),
          status: 'dead',
          received_at: new Date(),
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      return { id: String(row.id) };
    },
    after2xx: waitDeadLetterRetried,
  },
};

/** The routes fuzzed by the webhook part of this file. */
const WEBHOOK_ROUTES = ['POST /webhooks/vk', 'GET /webhooks/whatsapp', 'POST /webhooks/whatsapp', 'POST /webhooks/telegram/:channelId'];

type Variant =
  | { kind: 'valid' }
  | { kind: 'body'; pick: number; mutation: Mutation }
  | { kind: 'raw'; pick: number }
  | { kind: 'query'; pick: number; value: { raw: string; label: string }; repeat: boolean }
  | { kind: 'param'; value: string };

interface ApiSample {
  who: 'owner' | 'agent';
  paramPick: number;
  idempotencyKey: string | undefined;
  variant: Variant;
}

function apiSampleArb(method: string, spec: ApiSpec, hasParams: boolean): fc.Arbitrary<ApiSample> {
  const withBody = spec.body !== undefined;
  const variants: Array<fc.WeightedArbitrary<Variant>> = [
    { weight: 1, arbitrary: fc.constant({ kind: 'valid' as const }) },
    { weight: withBody ? 2 : 4, arbitrary: fc.record({ kind: fc.constant('query' as const), pick: fc.nat(), value: hostileQueryValue, repeat: fc.boolean() }) },
  ];
  if (withBody) {
    variants.push({ weight: 12, arbitrary: fc.record({ kind: fc.constant('body' as const), pick: fc.nat(), mutation: mutationArb }) });
  }
  if (withBody || (method !== 'GET' && method !== 'DELETE')) variants.push({ weight: withBody ? 3 : 2, arbitrary: fc.record({ kind: fc.constant('raw' as const), pick: fc.nat() }) });
  if (hasParams) variants.push({ weight: 2, arbitrary: fc.record({ kind: fc.constant('param' as const), value: hostilePathParam }) });
  return fc.record({
    // Mostly the owner: an agent is refused (403) before its body is read on admin routes.
    who: fc.oneof({ weight: 3, arbitrary: fc.constant('owner' as const) }, { weight: 1, arbitrary: fc.constant('agent' as const) }),
    paramPick: fc.nat(),
    idempotencyKey: spec.idempotent ? idempotencyKeyArb : fc.constant(undefined),
    variant: fc.oneof(...variants),
  });
}

async function buildApiRequest(route: string, spec: ApiSpec, s: ApiSample): Promise<FuzzRequest> {
  const [method, pattern] = route.split(' ') as [string, string];
  const params: Record<string, string> = {};
  for (const [name, values] of Object.entries(spec.params ?? {})) {
    const list = values();
    params[name] = list[s.paramPick % list.length]!;
  }
  if (spec.prepare) {
    Object.assign(params, await spec.prepare(s.who));
    // What the preparation stored is not the request's doing.
    current = undefined;
  }
  const query = spec.query?.() ?? {};
  let queryString = new URLSearchParams(query).toString();
  const headers: Record<string, string> = { authorization: `Bearer ${tokenOf(s.who)}` };
  if (s.idempotencyKey !== undefined) headers['idempotency-key'] = s.idempotencyKey;
  const base = spec.body?.();
  let json: unknown = base;
  let body: string | Uint8Array | undefined = base === undefined ? undefined : toJsonText(base);
  let contentType: string | undefined = base === undefined ? undefined : 'application/json';
  let label = `${s.who}, valid`;
  const v = s.variant;

  if (v.kind === 'body' && base !== undefined) {
    const paths = pathsOf(base);
    const path = paths[v.pick % paths.length]!;
    json = mutate(base, path, v.mutation);
    body = json === undefined ? '' : toJsonText(json);
    label = `${s.who}, ${describeMutation(path, v.mutation)}`;
  } else if (v.kind === 'raw') {
    const list = brokenBodies(body ?? '{}');
    const broken = list[v.pick % list.length]!;
    body = broken.body;
    contentType = broken.contentType;
    json = lenientJson(broken.body);
    label = `${s.who}, ${broken.label}`;
  } else if (v.kind === 'query') {
    const known = queryNames(method, pattern);
    const names = [...known, 'unknownParam'];
    const name = names[v.pick % names.length]!;
    const rest = Object.entries(query).filter(([k]) => k !== name || v.repeat);
    queryString = [...rest.map(([k, x]) => `${encodeURIComponent(k)}=${encodeURIComponent(x)}`), `${encodeURIComponent(name)}=${v.value.raw}`].join('&');
    query[name] = v.value.raw;
    label = `${s.who}, query ${name}=${v.value.label}${v.repeat ? ' (repeated)' : ''}`;
  } else if (v.kind === 'param') {
    const name = Object.keys(params)[0] ?? pattern.match(/:(\w+)/)?.[1];
    if (name) params[name] = v.value;
    label = `${s.who}, path ${name}=${v.value.length > 40 ? `${v.value.slice(0, 40)}…` : v.value}`;
  }
  if (contentType !== undefined) headers['content-type'] = contentType;
  // The body as the app reads it (raw JSON placeholders written out).
  if (body !== undefined) json = lenientJson(body);
  const path = pattern.replace(/:(\w+)/g, (_m, name: string) => params[name] ?? '1');
  return { route, method, url: queryString ? `${path}?${queryString}` : path, headers, body, label, json, query, params };
}

/** The body as the app may read it (UTF-8 with replacement characters), or undefined when it is not JSON. */
function lenientJson(body: string | Uint8Array): unknown {
  try {
    // As fetch's Request.json() reads it: UTF-8, a BOM dropped, bad bytes replaced.
    return JSON.parse(new TextDecoder().decode(typeof body === 'string' ? new TextEncoder().encode(body) : body));
  } catch {
    return undefined;
  }
}

/** Query parameter names of a route, from the OpenAPI document. */
function queryNames(method: string, pattern: string): string[] {
  const op = openapi.paths[pattern.replace(/:(\w+)/g, '{$1}')]?.[method.toLowerCase()];
  return (op?.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
}

/** Every route the app answers (its router), and every path of its OpenAPI document. */
function appRoutes(): string[] {
  const routes = new Set<string>();
  for (const r of h.app.routes) if (r.method !== 'ALL') routes.add(`${r.method} ${r.path}`);
  for (const [p, ops] of Object.entries(openapi.paths)) {
    for (const m of Object.keys(ops)) routes.add(`${m.toUpperCase()} ${p.replace(/\{(\w+)\}/g, ':$1')}`);
  }
  return [...routes].sort();
}

// ---------------------------------------------------------------------------------------------
// Webhooks: the fixtures with the right secret / signature, then one thing broken

interface Targeted {
  label: string;
  apply: (body: any) => void;
}

const firstMessage = (b: any) => b?.object?.message ?? b?.object;
const VK_TARGETED: Targeted[] = [
  ...[1e15, 1e308, -1, 1.5, '1767853200', 253402300800, 8.64e12].map((date) => ({ label: `date ${date}`, apply: (b: any) => void (firstMessage(b) && (firstMessage(b).date = date)) })),
  { label: 'update_time 1e15', apply: (b) => void (firstMessage(b) && (firstMessage(b).update_time = 1e15)) },
  { label: 'NUL in text', apply: (b) => void (firstMessage(b) && (firstMessage(b).text = 'nul\u0000here \ud800')) },
  { label: 'forwarded date 1e15', apply: (b) => void (firstMessage(b) && (firstMessage(b).fwd_messages = [{ id: 1, date: 1e15, from_id: 1, text: 'x' }])) },
  { label: 'reply date 1e308', apply: (b) => void (firstMessage(b) && (firstMessage(b).reply_message = { id: 2, date: 1e308, from_id: -1, text: '\u0000' })) },
  ...(
    [
      [null, 1, 'x', []],
      [{}],
      [{ type: 'photo' }],
      [{ type: 'photo', photo: { id: 1, owner_id: 1, sizes: [{ url: 'file:///etc/hostname', width: 1e308, height: 1e308 }] } }],
      [{ type: 'doc', doc: { id: 1e20, owner_id: -1, url: 'http://127.0.0.1:1/x', ext: 'html', title: '\u0000../../x' } }],
      [{ type: 'unknown_kind', unknown_kind: { deep: [[[[]]]] } }],
      [{ type: 'sticker', sticker: { images: [{ url: 'x', width: 'NaN' }] } }],
      [{ type: 'audio_message', audio_message: { id: 1, link_mp3: '' } }],
      [{ type: '\u0000', '\u0000': {} }],
      [{ type: 'video', video: { id: 1e308, owner_id: -1e308 } }],
      Array.from({ length: 300 }, (_, i) => ({ type: 'link', link: { url: `https://e.com/${i}` } })),
    ] as unknown[]
  ).map((attachments, i) => ({ label: `odd attachments #${i}`, apply: (b: any) => void (firstMessage(b) && (firstMessage(b).attachments = attachments)) })),
  { label: 'deep forwards', apply: (b) => void (firstMessage(b) && (firstMessage(b).fwd_messages = [nestForwards(50)])) },
  { label: 'unknown type', apply: (b) => void (b.type = 'message_typing_state_v2') },
  { label: 'type confirmation', apply: (b) => void (b.type = 'confirmation') },
  { label: 'wrong group id', apply: (b) => void (b.group_id = 218000002) },
  { label: 'group id as string', apply: (b) => void (b.group_id = String(VK_GROUP_ID)) },
  { label: 'group id beyond bigint', apply: (b) => void (b.group_id = '99999999999999999999') },
  { label: 'wrong secret', apply: (b) => void (b.secret = 'wrong') },
  { label: 'no secret', apply: (b) => void delete b.secret },
  { label: 'NUL event id', apply: (b) => void (b.event_id = 'ev\u0000id') },
  { label: 'long event id', apply: (b) => void (b.event_id = 'e'.repeat(20_000)) },
  { label: 'peer beyond int', apply: (b) => void (firstMessage(b) && (firstMessage(b).peer_id = firstMessage(b).from_id = 99999999999999999999)) },
  { label: 'negative peer', apply: (b) => void (firstMessage(b) && (firstMessage(b).peer_id = firstMessage(b).from_id = -5)) },
  { label: 'lead id beyond bigint', apply: (b) => void (b.object && (b.object.lead_id = '99999999999999999999')) },
  { label: 'comment date 1e15 and huge ids', apply: (b) => Object.assign(b.object ?? {}, { date: 1e15, post_id: 1e20, id: 2 ** 53 + 2 }) },
];

function nestForwards(depth: number): unknown {
  let m: unknown = { id: 1, date: 1767853200, from_id: 1, text: 'bottom' };
  for (let i = 0; i < depth; i++) m = { id: i, date: 1767853200, from_id: 1, text: `level ${i}`, ...(i % 2 ? { fwd_messages: [m] } : { reply_message: m }) };
  return m;
}

/** The first change value of a WhatsApp body, its first message or status. */
const waValue = (b: any) => b?.entry?.[0]?.changes?.[0]?.value;
const waItem = (b: any) => waValue(b)?.messages?.[0] ?? waValue(b)?.message_echoes?.[0] ?? waValue(b)?.statuses?.[0];
const WA_TARGETED: Targeted[] = [
  ...['999999999999999', 1e308, '-1', 'NaN', '1e400', 99999999999999999999, ''].map((ts) => ({ label: `timestamp ${JSON.stringify(ts)}`, apply: (b: any) => void (waItem(b) && (waItem(b).timestamp = ts)) })),
  { label: 'NUL in text', apply: (b) => void (waItem(b) && (waItem(b).text = { body: 'nul\u0000here \udc00' })) },
  { label: 'NUL in id', apply: (b) => void (waItem(b) && (waItem(b).id = 'wamid.\u0000x')) },
  { label: 'lone surrogate in id', apply: (b) => void (waItem(b) && (waItem(b).id = 'wamid.\ud800')) },
  { label: 'NUL in status fields', apply: (b) => void (waItem(b) && Object.assign(waItem(b), { status: 'read', recipient_id: '\u0000', biz_opaque_callback_data: 'k\u0000' })) },
  { label: 'odd status errors', apply: (b) => void (waItem(b) && Object.assign(waItem(b), { status: 'failed', errors: [{ code: 1e308, title: '\u0000\ud800', error_data: { details: 'x'.repeat(20_000) } }] })) },
  { label: 'NUL in phone number id', apply: (b) => void (waValue(b) && (waValue(b).metadata.phone_number_id = `${FAKE_PHONE_NUMBER_ID}\u0000`)) },
  { label: 'lone surrogate in phone number id', apply: (b) => void (waValue(b) && (waValue(b).metadata.phone_number_id = '\ud800')) },
  { label: 'phone number id as number', apply: (b) => void (waValue(b) && (waValue(b).metadata.phone_number_id = Number(FAKE_PHONE_NUMBER_ID))) },
  { label: 'phone number id beyond bigint', apply: (b) => void (waValue(b) && (waValue(b).metadata.phone_number_id = '99999999999999999999')) },
  { label: 'unknown phone number id', apply: (b) => void (waValue(b) && (waValue(b).metadata.phone_number_id = '106540352242923')) },
  { label: 'NUL in sender', apply: (b) => void (waItem(b) && (waItem(b).from = '7916\u0000')) },
  { label: 'NUL in contact', apply: (b) => void (waValue(b) && (waValue(b).contacts = [{ wa_id: '\u0000', profile: { name: '\u0000\ud800' } }])) },
  { label: 'image from a local URL', apply: (b) => void (waItem(b) && Object.assign(waItem(b), { type: 'image', image: { id: '\u0000', url: 'file:///etc/hostname', mime_type: 'text/html\u0000' } })) },
  { label: 'document named like a path', apply: (b) => void (waItem(b) && Object.assign(waItem(b), { type: 'document', document: { id: '1', filename: '../../../etc/passwd\u0000.pdf', mime_type: 'application/pdf' } })) },
  { label: 'unknown message type', apply: (b) => void (waItem(b) && Object.assign(waItem(b), { type: 'hologram', hologram: { depth: 1e308 } })) },
  { label: 'location of numbers beyond range', apply: (b) => void (waItem(b) && Object.assign(waItem(b), { type: 'location', location: { latitude: 1e308, longitude: '-1e400', name: '\u0000' } })) },
  { label: 'entry not an array', apply: (b) => void (b.entry = { 0: b.entry?.[0] }) },
  { label: 'object wrong', apply: (b) => void (b.object = 'page') },
  { label: 'many changes', apply: (b) => void (b.entry?.[0] && (b.entry[0].changes = Array.from({ length: 200 }, () => b.entry[0].changes[0]))) },
];

const SIGNATURES = ['wrong', 'missing', 'other secret', 'uppercase', 'no prefix'] as const;
type Signature = 'right' | (typeof SIGNATURES)[number];

function waSignature(raw: Uint8Array, kind: Signature): string | undefined {
  switch (kind) {
    case 'right':
      return signBytes(raw, WA_APP_SECRET);
    case 'wrong':
      return `sha256=${'0'.repeat(64)}`;
    case 'missing':
      return undefined;
    case 'other secret':
      return signBytes(raw, 'another-secret');
    case 'uppercase':
      return `sha256=${signBytes(raw, WA_APP_SECRET).slice(7).toUpperCase()}`;
    case 'no prefix':
      return signBytes(raw, WA_APP_SECRET).slice(7);
  }
}

function signBytes(raw: Uint8Array, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`;
}

type WebhookVariant =
  | { kind: 'valid' }
  | { kind: 'targeted'; pick: number }
  | { kind: 'body'; pick: number; mutation: Mutation }
  | { kind: 'raw'; pick: number }
  | { kind: 'signature'; pick: number }
  | { kind: 'param'; pick: number; value: string };

function webhookVariantArb(withSignature: boolean, withParam = false): fc.Arbitrary<{ fixture: number; variant: WebhookVariant }> {
  const variants: Array<fc.WeightedArbitrary<WebhookVariant>> = [
    { weight: 1, arbitrary: fc.constant({ kind: 'valid' as const }) },
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('targeted' as const), pick: fc.nat() }) },
    { weight: 10, arbitrary: fc.record({ kind: fc.constant('body' as const), pick: fc.nat(), mutation: mutationArb }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('raw' as const), pick: fc.nat() }) },
  ];
  if (withSignature) variants.push({ weight: 1, arbitrary: fc.record({ kind: fc.constant('signature' as const), pick: fc.nat() }) });
  if (withParam) variants.push({ weight: 1, arbitrary: fc.record({ kind: fc.constant('param' as const), pick: fc.nat(), value: hostilePathParam }) });
  return fc.record({ fixture: fc.nat(), variant: fc.oneof(...variants) });
}

/** VK peers and WhatsApp senders of this file: few, so few workflows. */
const VK_PEERS = [512349401, 512349402, 512349403];
const WA_SENDERS = ['79169994401', '79169994402', '79169994403'];

function freshVkFixture(fixture: any): any {
  const b = structuredClone(fixture);
  const n = fresh();
  if (b.event_id !== undefined) b.event_id = `fuzz${String(n).padStart(36, '0')}`;
  const m = b.object?.message ?? (b.type?.startsWith('message_') && b.type !== 'message_allow' && b.type !== 'message_deny' ? b.object : undefined);
  if (m && typeof m === 'object') {
    const peer = VK_PEERS[n % VK_PEERS.length]!;
    Object.assign(m, { id: 100_000 + n, peer_id: peer, date: Math.floor(Date.now() / 1000), ...(m.out ? {} : { from_id: peer }) });
  }
  if (b.object && 'user_id' in b.object) b.object.user_id = VK_PEERS[n % VK_PEERS.length];
  if (b.object && 'lead_id' in b.object) b.object.lead_id = 100_000 + n;
  // Publications of this file only: workflow ids are shared on the one dev server, and the other
  // files' publications (post 1542, …) must not be started here, on a queue no worker serves.
  for (const field of ['post_id', 'photo_id', 'video_id', 'topic_id']) {
    if (b.object && typeof b.object[field] === 'number') b.object[field] = 9_100_000 + (n % 3);
  }
  return b;
}

function freshWaFixture(fixture: any): any {
  const b = structuredClone(fixture);
  const n = fresh();
  for (const entry of b.entry ?? []) {
    for (const change of entry.changes ?? []) {
      const v = change.value ?? {};
      const sender = WA_SENDERS[n % WA_SENDERS.length]!;
      for (const c of v.contacts ?? []) c.wa_id = sender;
      for (const m of v.messages ?? []) Object.assign(m, { id: `wamid.fuzz${n}.${m.id?.length ?? 0}`, from: sender, timestamp: String(Math.floor(Date.now() / 1000)) });
      for (const m of v.message_echoes ?? []) Object.assign(m, { id: `wamid.fuzz-echo${n}`, to: sender });
      for (const s of v.statuses ?? []) Object.assign(s, { id: `wamid.fuzz-status${n}`, recipient_id: sender });
    }
  }
  return b;
}

/** The workflows a webhook body would start or signal, by the app's own parsers. */
function vkTargets(bodies: unknown[]): string[] {
  const out = new Set<string>();
  for (const body of bodies) {
    try {
      const p = parseVkCallback(body);
      const ext = String(p.groupId);
      if (p.type === 'conversation') out.add(conversationWorkflowId('vk', ext, p.peerId));
      else if (p.type === 'publication') out.add(publicationWorkflowId('vk', ext, p.publication));
      else if (p.type === 'lead') out.add(leadWorkflowId('vk', ext, p.lead.leadId));
    } catch {
      // Not routable: nothing to watch.
    }
  }
  return [...out];
}

function waTargets(bodies: unknown[]): string[] {
  const out = new Set<string>();
  for (const body of bodies) {
    try {
      for (const item of parseWebhook(body).items) if (item.type === 'conversation') out.add(conversationWorkflowId('whatsapp', item.phoneNumberId, item.peerId));
    } catch {
      // Not routable.
    }
  }
  return [...out];
}

// ---------------------------------------------------------------------------------------------
// Telegram: the fixtures with the channel's secret header, then one thing broken — the update, the
// header, or the channel in the path

/** Telegram chats of this file (private: the chat id is the user's id): few, so few workflows. */
const TG_PEERS = [512359401, 512359402, 512359403];

/** A fixture with a new update_id and message id, the date of now, and one of this file's chats (private chats only). */
function freshTgFixture(fixture: any): any {
  const b = structuredClone(fixture);
  const n = fresh();
  const peer = TG_PEERS[n % TG_PEERS.length]!;
  const now = Math.floor(Date.now() / 1000);
  b.update_id = 900_000_000 + n;
  for (const field of ['message', 'edited_message', 'channel_post', 'my_chat_member']) {
    const m = b[field];
    if (!m) continue;
    if (m.chat?.type === 'private') {
      m.chat.id = peer;
      if (m.from) m.from.id = peer;
      if (m.reply_to_message?.chat) m.reply_to_message.chat.id = peer;
    }
    if (m.message_id !== undefined) m.message_id = 10_000 + n;
    m.date = m.edit_date === undefined ? now : now - 60;
    if (m.edit_date !== undefined) m.edit_date = now;
  }
  if (b.callback_query?.from) b.callback_query.from.id = peer;
  return b;
}

/** The message (or member update, or callback) of a Telegram update. */
const tgItem = (b: any) => b?.message ?? b?.edited_message ?? b?.my_chat_member ?? b?.channel_post ?? b?.callback_query;
const onTgItem = (label: string, patch: (m: any) => void): Targeted => ({
  label,
  apply: (b) => {
    const m = tgItem(b);
    if (m !== null && typeof m === 'object') patch(m);
  },
});
/** The update's fields but update_id, replaced by `fields(the item)`. */
const tgReshape = (label: string, fields: (m: any) => Record<string, unknown>): Targeted => ({
  label,
  apply: (b) => {
    const m = tgItem(b);
    for (const k of Object.keys(b)) if (k !== 'update_id') delete b[k];
    for (const [k, v] of Object.entries(fields(m))) Object.defineProperty(b, k, { value: v, enumerable: true, writable: true, configurable: true });
  },
});

const TG_TARGETED: Targeted[] = [
  ...[-1, 1.5, '840000101', 2 ** 53 + 2, 1e308, 0, null].map((id) => ({ label: `update_id ${JSON.stringify(id)}`, apply: (b: any) => void (b.update_id = id) })),
  { label: 'no update_id', apply: (b) => void delete b.update_id },
  ...[1e15, 1e308, -1, 1.5, '1767853200', 253402300800, 8.64e12, 0].map((date) => onTgItem(`date ${date}`, (m) => (m.date = date))),
  onTgItem('edit_date 1e15', (m) => (m.edit_date = 1e15)),
  onTgItem('edit_date a string', (m) => (m.edit_date = 'yesterday')),
  ...[99999999999999999999, 2 ** 53, 1e308, -5, 0, 1.5, '512359401', null].map((id) => onTgItem(`chat id ${JSON.stringify(id)}`, (m) => m.chat && (m.chat.id = id))),
  ...['group', 'channel', '', 'private\u0000', 'PRIVATE', 42].map((type) => onTgItem(`chat type ${JSON.stringify(type)}`, (m) => m.chat && (m.chat.type = type))),
  onTgItem('no chat', (m) => delete m.chat),
  onTgItem('no from', (m) => delete m.from),
  onTgItem('from a string', (m) => (m.from = 'Анна')),
  onTgItem('odd names', (m) => Object.assign(m.from ?? m, { first_name: '\u0000\ud800', last_name: 'я'.repeat(20_000) })),
  ...[99999999999999999999, -1, 0, 1.5, '201'].map((id) => onTgItem(`message_id ${JSON.stringify(id)}`, (m) => (m.message_id = id))),
  ...[1e20, -7, 'x', null].map((id) => onTgItem(`reply to message id ${JSON.stringify(id)}`, (m) => (m.reply_to_message = { message_id: id }))),
  onTgItem('NUL and lone surrogates in text', (m) => (m.text = 'nul\u0000here \ud800 \udc00')),
  onTgItem('text a number', (m) => (m.text = 42)),
  onTgItem('caption of 70 000 characters', (m) => (m.caption = 'я'.repeat(70_000))),
  ...(
    [
      [],
      [null],
      [{ file_id: '' }],
      'photo',
      [{ file_id: '\u0000', file_size: 1e308, width: 'NaN' }],
      [{ file_id: 'AgAC\ud800', file_unique_id: '../../x', file_size: -1 }],
      Array.from({ length: 300 }, (_, i) => ({ file_id: `p${i}`, file_size: i })),
    ] as unknown[]
  ).map((photo, i) => onTgItem(`odd photo #${i}`, (m) => (m.photo = photo))),
  onTgItem('document named like a path', (m) => (m.document = { file_id: 'BQAC\u0000', file_name: '../../../etc/passwd\u0000.pdf', mime_type: 'text/html\u0000', file_size: 1e308 })),
  onTgItem('document of negative size', (m) => (m.document = { file_id: 'x', file_size: -1 })),
  onTgItem('document a string', (m) => (m.document = 'file')),
  onTgItem('file id of 20 000 characters', (m) => (m.document = { file_id: 'B'.repeat(20_000), file_unique_id: '' })),
  onTgItem('sticker with odd flags', (m) => (m.sticker = { file_id: 'st', is_video: 'yes', is_animated: 1, emoji: '\ud800' })),
  onTgItem('voice of a blank type', (m) => (m.voice = { file_id: 'v', mime_type: '   ' })),
  onTgItem('every file kind at once', (m) => Object.assign(m, Object.fromEntries(['animation', 'document', 'voice', 'audio', 'video', 'video_note', 'sticker'].map((f) => [f, { file_id: f }])))),
  onTgItem('location beyond range', (m) => (m.location = { latitude: 1e308, longitude: -1e308 })),
  onTgItem('location of strings', (m) => (m.location = { latitude: '55.7', longitude: null })),
  onTgItem('venue without location', (m) => (m.venue = { title: '\u0000', address: 'x'.repeat(10_000) })),
  onTgItem('contact with NUL phone', (m) => (m.contact = { phone_number: '\u0000+7', user_id: 1e308, first_name: '\ud800' })),
  onTgItem('deep forward origin', (m) => (m.forward_origin = nestForwards(60))),
  onTgItem('unknown content', (m) => {
    for (const k of ['text', 'caption', 'photo', 'document', 'audio', 'voice', 'video', 'video_note', 'sticker', 'location', 'venue', 'contact', 'poll']) delete m[k];
    Object.assign(m, { hologram: { depth: 1e308 }, '\u0000': 1, __proto__x: [] });
  }),
  onTgItem('many entities', (m) => (m.entities = Array.from({ length: 1000 }, (_, i) => ({ type: 'bold', offset: i, length: 1 })))),
  ...['left', 'administrator', '\u0000', 7].map((status) => onTgItem(`new status ${JSON.stringify(status)}`, (m) => m.new_chat_member && (m.new_chat_member.status = status))),
  onTgItem('no new_chat_member', (m) => delete m.new_chat_member),
  tgReshape('message and edited_message at once', (m) => ({ message: m, edited_message: m })),
  tgReshape('an unknown update kind first', (m) => ({ message_reaction: { chat: { id: TG_PEERS[0], type: 'private' } }, message: m })),
  tgReshape('__proto__ before the message', (m) => ({ ['__proto__']: { message: m }, message: m })),
  tgReshape('the update field null', () => ({ message: null })),
  tgReshape('the update field an array', (m) => ({ message: [m] })),
  tgReshape('the update field a string', () => ({ edited_message: 'hello' })),
  tgReshape('a private chat as channel_post', (m) => ({ channel_post: m })),
  tgReshape('a member update as message', (m) => ({ message: { ...m, message_id: 5 } })),
];

/**
 * Secret headers other than the channel's (by label): each must be refused 401, except the ones
 * that are the secret as HTTP reads it (`right`).
 */
const TG_HEADERS: Record<string, { name?: string; value?: string; right: boolean }> = {
  missing: { right: false },
  empty: { value: '', right: false },
  wrong: { value: 'wrong-secret', right: false },
  'upper case': { value: TG_SECRET_TOKEN.toUpperCase(), right: false },
  'one character short': { value: TG_SECRET_TOKEN.slice(0, -1), right: false },
  'one character more': { value: `${TG_SECRET_TOKEN}x`, right: false },
  'sent twice': { value: `${TG_SECRET_TOKEN}, ${TG_SECRET_TOKEN}`, right: false },
  '10 000 characters': { value: 'A'.repeat(10_000), right: false },
  'Latin-1': { value: 's\u00e9cret\u00ff', right: false },
  "VK's secret": { value: VK_SECRET, right: false },
  'as a bearer token': { name: 'authorization', value: `Bearer ${TG_SECRET_TOKEN}`, right: false },
  'padded with blanks': { value: `  ${TG_SECRET_TOKEN}\t`, right: true },
  'header name in capitals': { name: 'X-TELEGRAM-BOT-API-SECRET-TOKEN', value: TG_SECRET_TOKEN, right: true },
};
const TG_HEADER_LABELS = Object.keys(TG_HEADERS);

/** `:channelId` values that are no Telegram channel, besides the generated ones: other kinds' channels, near misses, beyond bigint. */
const tgWrongChannels = () => {
  const id = ids.tgChannelId;
  return [ids.vkChannelId, ids.waChannelId, ids.patchChannelId, '9223372036854775807', '9223372036854775808', '9999999999999999999', `0${id}`, `${id}%00`, `${id}.0`, `%20${id}`, `-${id}`, `${id}%2F`, `${id}/x`, `${id}e0`];
};

/** What Hono reads a path segment as (percent-decoded when it can be). */
function decodedParam(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

function buildTgRequest(base: unknown, s: { variant: WebhookVariant }): FuzzRequest & { bases: unknown[]; rightSecret: boolean; rightChannel: boolean } {
  const req = buildWebhookRequest('POST /webhooks/telegram/:channelId', base, s, TG_TARGETED, TG_HEADER_LABELS);
  const v = s.variant;
  let channelId = ids.tgChannelId;
  if (v.kind === 'param') {
    const wrong = tgWrongChannels();
    channelId = v.pick % 3 === 0 ? wrong[v.pick % wrong.length]! : v.value;
    req.label = `path channelId=${channelId.length > 40 ? `${channelId.slice(0, 40)}…` : channelId}`;
  }
  req.url = `/webhooks/telegram/${channelId}`;
  req.params = { channelId };
  const header = req.signature === 'right' ? { value: TG_SECRET_TOKEN, right: true } : TG_HEADERS[req.signature]!;
  if (header.value !== undefined) req.headers[header.name ?? 'x-telegram-bot-api-secret-token'] = header.value;
  if (req.signature !== 'right') req.label = `secret header ${req.signature}`;
  return { ...req, rightSecret: header.right, rightChannel: decodedParam(channelId) === ids.tgChannelId };
}

/** Answers a Telegram request must have beyond the invariants: a wrong secret or channel is never accepted. */
function tgAnswerProblems(req: { rightSecret: boolean; rightChannel: boolean }, a: Answer): string[] {
  if (!req.rightChannel) return a.status === 404 ? [] : [`a channel that is not the Telegram channel was answered ${a.status}, not 404`];
  if (!req.rightSecret) return a.status === 401 ? [] : [`a wrong secret header was answered ${a.status}, not 401`];
  return a.status === 401 ? ['the right secret header was refused'] : [];
}

/** Conversation workflows a Telegram update goes to, by the app's parser (none when it is not read). */
function tgReaches(body: unknown): string[] {
  try {
    const item = parseUpdate(body);
    return item.type === 'conversation' ? [conversationWorkflowId('telegram', TG_BOT_ID, item.peerId)] : [];
  } catch {
    return [];
  }
}

/** What a Telegram request could reach: this file's chats and whatever its bodies go to. */
function tgTargets(bodies: unknown[]): string[] {
  return [...new Set([...TG_PEERS.map((p) => conversationWorkflowId('telegram', TG_BOT_ID, String(p))), ...bodies.flatMap(tgReaches)])];
}

async function loadFixtures(dir: 'vk' | 'whatsapp' | 'telegram'): Promise<unknown[]> {
  const names = (await readdir(fixturePath(dir))).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(names.map((n) => readFixture(`${dir}/${n}`)));
}

function buildWebhookRequest<S extends string>(
  route: string,
  base: unknown,
  s: { variant: WebhookVariant },
  targeted: Targeted[],
  signatures: readonly S[],
): FuzzRequest & { bases: unknown[]; signature: S | 'right' } {
  let json: unknown = base;
  let label = 'valid';
  let body: string | Uint8Array | undefined;
  let contentType: string | undefined = 'application/json';
  let signature: S | 'right' = 'right';
  const v = s.variant;
  if (v.kind === 'targeted') {
    const t = targeted[v.pick % targeted.length]!;
    json = structuredClone(base);
    t.apply(json);
    label = t.label;
  } else if (v.kind === 'body') {
    const paths = pathsOf(base);
    const path = paths[v.pick % paths.length]!;
    json = mutate(base, path, v.mutation);
    label = describeMutation(path, v.mutation);
  } else if (v.kind === 'signature') {
    signature = signatures[v.pick % signatures.length]!;
    label = `signature ${signature}`;
  }
  body = json === undefined ? '' : toJsonText(json);
  if (v.kind === 'raw') {
    const broken = brokenBodies(body)[v.pick % brokenBodies(body).length]!;
    body = broken.body;
    contentType = broken.contentType;
    json = lenientJson(broken.body);
    label = broken.label;
  }
  const headers: Record<string, string> = contentType ? { 'content-type': contentType } : {};
  json = lenientJson(body);
  return { route, method: 'POST', url: route.split(' ')[1]!, headers, body, label, json, query: {}, params: {}, bases: [base, json], signature };
}

// ---------------------------------------------------------------------------------------------

beforeAll(async () => {
  // Throttling of wrong secrets off: the ones sent on purpose would soon block a channel's webhook
  // (429 to everything for a window) and hide the rest of its run. tests/api/auth-throttle.test.ts tests it.
  h = await startHarness({ AUTH_FAILURE_LIMIT: '0' });
  await h.startWorkers();
  openapi = (await h.api('GET', '/openapi.json')).body;
  tables = await applicationTables(h.db);

  const employees = (await h.api('GET', '/api/employees')).body.items as Array<{ id: string; role: string }>;
  ids.ownerId = employees.find((e) => e.role === 'owner')!.id;
  const agent = await h.api('POST', '/api/employees', { name: 'Fuzz Agent', role: 'agent' });
  ids.agentId = agent.body.id;
  ids.agentToken = agent.body.token;
  ids.templateId = (
    await h.api('POST', '/api/task-templates', { name: 'Fuzz', creator: { type: 'channelOwner' }, assigneeIds: [ids.agentId], customFields: [{ name: 'Order', type: 'text' }] })
  ).body.id;
  ids.vkChannelId = await h.createVkChannel({ taskTemplateId: ids.templateId });
  ids.waChannelId = await h.createWaChannel({ taskTemplateId: ids.templateId });
  ids.tgChannelId = await h.createTgChannel({ taskTemplateId: ids.templateId });
  const patchable = await h.api('POST', '/api/channels', { kind: 'vk', name: 'Patched by the fuzz test', groupId: 218000999, accessToken: 't', confirmationCode: 'c', secret: 's' });
  ids.patchChannelId = patchable.body.id;

  // A VK and a WhatsApp conversation, each a task with a contact.
  const vkBase = await readFixture('vk/message_new.text.json');
  expect((await h.postVk(vkMessage(vkBase, { peer: 512349351, id: 1, text: 'Fuzz me' }))).text).toBe('ok');
  expect((await h.postWa(textWebhook({ from: '79169990351', name: 'Fuzz Customer', text: 'Fuzz me too' }))).status).toBe(200);
  const tasks = await h.eventually(async () => {
    const items = (await h.api('GET', '/api/tasks')).body.items as Array<{ id: string; channelId: string; contactId: string }>;
    const vk = items.find((t) => t.channelId === ids.vkChannelId);
    const wa = items.find((t) => t.channelId === ids.waChannelId);
    return vk && wa ? { vk, wa } : undefined;
  }, 30_000, 'the VK and WhatsApp tasks');
  ids.vkTaskId = tasks.vk.id;
  ids.waTaskId = tasks.wa.id;
  ids.contactIds = [tasks.vk.contactId, tasks.wa.contactId];

  ids.ownerCommentId = (await h.api('POST', `/api/tasks/${ids.vkTaskId}/comments`, { text: 'owner note' })).body.comment.id;
  ids.agentCommentId = (await h.api('POST', `/api/tasks/${ids.vkTaskId}/comments`, { text: 'agent note' }, ids.agentToken)).body.comment.id;
  const withFile = await h.api('POST', `/api/tasks/${ids.vkTaskId}/comments`, {
    text: 'a file',
    attachments: [{ filename: 'a.txt', mimeType: 'text/plain', contentBase64: Buffer.from('hello').toString('base64') }],
  });
  ids.attachmentId = withFile.body.comment.attachments[0].id;
  ids.ownerQuickReplyId = (await h.api('POST', '/api/quick-replies', { title: 'Owner', text: 'Hello, {{name}}' })).body.id;
  ids.agentQuickReplyId = (await h.api('POST', '/api/quick-replies', { title: 'Agent', text: 'Hi' }, ids.agentToken)).body.id;
  const bulk = await h.api('POST', `/api/channels/${ids.vkChannelId}/bulk-sends`, { recipients: [{ vkUserId: 512349352 }], text: 'Sale' });
  ids.bulkSendId = bulk.body.id;
  for (const [k, v] of Object.entries(ids)) if (v === '' || (Array.isArray(v) && v.some((x) => !x))) throw new Error(`setup did not make ${k}`);
  await waitBulkSend({} as FuzzRequest, { status: 202, text: '', json: { id: ids.bulkSendId } });
  current = await settle({ polls: 4, everyMs: 50 });
  started = Date.now();
  console.log(`[fuzz] seed ${SEED}, about ${RUNS} requests (FUZZ_SEED / FUZZ_RUNS override)`);
});

afterAll(async () => {
  if (started) {
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const c = stats.byClass;
    console.log(
      `[fuzz] seed ${SEED}: ${stats.requests} requests over ${stats.byRoute.size} routes in ${seconds} s — 2xx ${c['2xx'] ?? 0}, 3xx ${c['3xx'] ?? 0}, 4xx ${c['4xx'] ?? 0}, 5xx ${c['5xx'] ?? 0}; ${problems.length} problem(s)`,
    );
    if (VERBOSE) {
      for (const [route, m] of [...stats.byRoute].sort()) console.log(`  ${route}: ${[...m].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(' ')}`);
    }
  }
  await h?.close();
});

it('every route of the app is fuzzed', () => {
  const routes = appRoutes();
  const fuzzed = new Set([...Object.keys(API_SPECS), ...WEBHOOK_ROUTES]);
  expect(routes.filter((r) => !fuzzed.has(r)), 'routes without a fuzz spec').toEqual([]);
  expect([...fuzzed].filter((r) => !routes.includes(r)), 'fuzz specs of routes the app does not have').toEqual([]);
  // The raw routes outside the OpenAPI document are among them.
  for (const r of ['POST /webhooks/vk', 'GET /webhooks/whatsapp', 'POST /webhooks/whatsapp', 'POST /webhooks/telegram/:channelId', 'GET /api/attachments/:id', 'GET /metrics', 'GET /healthz', 'GET /readyz']) expect(routes).toContain(r);
});

it('API routes: no hostile request is answered 5xx, and a refused one stores nothing', { timeout: Math.max(600_000, RUNS * 150) }, async () => {
  const routes = Object.keys(API_SPECS);
  // Routes with a body get more requests, by how many fields there are to break.
  const weight = (spec: ApiSpec) => 2 + (spec.body ? pathsOf(spec.body()).length : 0);
  const weights = routes.map((r) => weight(API_SPECS[r]!));
  const unit = (RUNS * SHARE.api) / weights.reduce((a, b) => a + b, 0);
  const before = problems.length;
  for (const [i, route] of routes.entries()) {
    const spec = API_SPECS[route]!;
    const [method, pattern] = route.split(' ') as [string, string];
    const samples = fc.sample(apiSampleArb(method, spec, /:\w+/.test(pattern)), { seed: SEED + i, numRuns: Math.max(3, Math.round(unit * weights[i]!)) });
    const t0 = Date.now();
    await runOne(await buildApiRequest(route, spec, { who: 'owner', paramPick: 0, idempotencyKey: undefined, variant: { kind: 'valid' } }), { after2xx: spec.after2xx, mustAccept: true });
    for (const s of samples) {
      if ((slowByRoute.get(route) ?? 0) >= 3) break;
      await runOne(await buildApiRequest(route, spec, s), { after2xx: spec.after2xx });
    }
    trace(`${route}: ${samples.length} requests in ${Date.now() - t0} ms`);
  }
  const found = problems.slice(before);
  trace(`API problems:\n${report(found)}`);
  expect(found.length, `API problems:\n${report(found)}`).toBe(0);
});

it('webhooks: no hostile body with the right secret is answered 5xx, and a refused one stores nothing and starts no workflow', { timeout: Math.max(600_000, RUNS * 150) }, async () => {
  // Only the request itself may write while it is checked.
  await h.stopWorkers();
  current = await settle();
  const knownBefore = await workflowIdsOnQueue();
  const accepted = new Set<string>();
  const before = problems.length;

  const vkFixtures = await loadFixtures('vk');
  const vkSamples = fc.sample(webhookVariantArb(false), { seed: SEED + 1000, numRuns: Math.round(RUNS * SHARE.vk) });
  // Each fixture as it is first: all are accepted.
  const vkValid = vkFixtures.map((_, fixture) => ({ fixture, variant: { kind: 'valid' as const }, mustAccept: true }));
  for (const s of [...vkValid, ...vkSamples]) {
    const base = freshVkFixture(vkFixtures[s.fixture % vkFixtures.length]);
    const req = buildWebhookRequest('POST /webhooks/vk', base, s, VK_TARGETED, []);
    await runOne(req, {
      quiet: true,
      mustAccept: 'mustAccept' in s,
      targets: () => vkTargets(req.bases),
      onAccepted: () => vkTargets([req.json]).forEach((id) => accepted.add(id)),
    });
  }

  const waFixtures = await loadFixtures('whatsapp');
  const waSamples = fc.sample(webhookVariantArb(true), { seed: SEED + 2000, numRuns: Math.round(RUNS * SHARE.waPost) });
  const waValid = waFixtures.map((_, fixture) => ({ fixture, variant: { kind: 'valid' as const }, mustAccept: true }));
  for (const s of [...waValid, ...waSamples]) {
    const base = freshWaFixture(waFixtures[s.fixture % waFixtures.length]);
    const req = buildWebhookRequest('POST /webhooks/whatsapp', base, s, WA_TARGETED, SIGNATURES);
    const raw = typeof req.body === 'string' ? new TextEncoder().encode(req.body) : req.body!;
    req.body = raw;
    const signature = waSignature(raw, req.signature);
    if (signature !== undefined) req.headers['x-hub-signature-256'] = signature;
    await runOne(req, {
      quiet: true,
      mustAccept: 'mustAccept' in s,
      targets: () => waTargets(req.bases),
      onAccepted: () => waTargets([req.json]).forEach((id) => accepted.add(id)),
    });
  }

  const verifySamples = fc.sample(
    fc.record({ mode: fc.option(hostileQueryValue), token: fc.option(hostileQueryValue), challenge: fc.option(hostileQueryValue), right: fc.boolean() }),
    { seed: SEED + 3000, numRuns: Math.round(RUNS * SHARE.waGet) },
  );
  for (const [i, s] of [{ mode: null, token: null, challenge: null, right: true }, ...verifySamples].entries()) {
    const q: Record<string, string> = {};
    const parts: string[] = [];
    const put = (name: string, v: { raw: string } | null, valid: string) => {
      const raw = v ? v.raw : encodeURIComponent(valid);
      q[name] = raw;
      parts.push(`${name}=${raw}`);
    };
    put('hub.mode', s.right ? null : s.mode, 'subscribe');
    put('hub.verify_token', s.right ? null : s.token, WA_VERIFY_TOKEN);
    put('hub.challenge', s.challenge, '1158201444');
    await runOne(
      { route: 'GET /webhooks/whatsapp', method: 'GET', url: `/webhooks/whatsapp?${parts.join('&')}`, headers: {}, label: parts.join('&').slice(0, 100), query: q, params: {} },
      { quiet: true, mustAccept: i === 0 },
    );
  }

  const tgFixtures = await loadFixtures('telegram');
  const tgSamples = fc.sample(webhookVariantArb(true, true), { seed: SEED + 4000, numRuns: Math.round(RUNS * SHARE.tg) });
  const tgValid = tgFixtures.map((_, fixture) => ({ fixture, variant: { kind: 'valid' as const }, mustAccept: true }));
  for (const s of [...tgValid, ...tgSamples]) {
    const req = buildTgRequest(freshTgFixture(tgFixtures[s.fixture % tgFixtures.length]), s);
    const read = () => (req.rightSecret && req.rightChannel ? tgReaches(req.json) : []);
    await runOne(req, {
      quiet: true,
      mustAccept: 'mustAccept' in s,
      targets: () => tgTargets(req.bases),
      reaches: read,
      expectAnswer: (_r, a) => tgAnswerProblems(req, a),
      onAccepted: () => read().forEach((id) => accepted.add(id)),
    });
  }

  // However late Temporal's list catches up: every workflow on this file's queue existed before,
  // or belongs to a webhook that was accepted.
  const after = await workflowIdsOnQueue();
  const unexplained = after.filter((id) => !knownBefore.includes(id) && !accepted.has(id));
  const found = problems.slice(before);
  trace(`webhook problems:\n${report(found)}`);
  expect(found.length, `webhook problems:\n${report(found)}`).toBe(0);
  expect(unexplained, 'workflows started by refused webhooks').toEqual([]);
});

/** The ids of the workflows on this file's task queue, once Temporal's list stops changing. */
async function workflowIdsOnQueue(): Promise<string[]> {
  const list = async () => {
    const out: string[] = [];
    for await (const wf of h.client.workflow.list({ query: `TaskQueue = '${h.config.TEMPORAL_TASK_QUEUE}'` })) out.push(wf.workflowId);
    return [...new Set(out)].sort();
  };
  let last = await list();
  for (let stable = 0; stable < 2; ) {
    await new Promise((r) => setTimeout(r, 400));
    const next = await list();
    stable = next.join() === last.join() ? stable + 1 : 0;
    last = next;
  }
  return last;
}
