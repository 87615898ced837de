/**
 * An end-to-end taskwire for one test file: its own database, its own task queue on the shared
 * Temporal dev server, in-process workers, the Hono app (driven with app.request), a fake VK
 * API on loopback, and helpers to post fixtures and call the API as an employee.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { inject } from 'vitest';
import type { SlaClock } from '../../activities/sla.js';
import { createApp } from '../../api/app.js';
import { bootstrapOwner } from '../../api/auth.js';
import { createAdapters } from '../../channels/index.js';
import { loadConfig, type Config } from '../../runtime/config.js';
import { FileStore } from '../../runtime/file-store.js';
import { createLogger } from '../../runtime/logger.js';
import { startWorkers, type RunningWorkers } from '../../worker/index.js';
import { conversationWorkflowId } from '../../channels/workflow-ids.js';
import { startFakeVk, type FakeVk } from '../fakes/vk-api.js';
import { FAKE_PHONE_NUMBER_ID, signedWebhook, startFakeGraph, type FakeGraph } from '../fakes/graph-api.js';
import { startFakeTelegram, type FakeTelegram, FAKE_BOT_ID } from '../fakes/telegram-api.js';
import { TaskChangeFeed } from '../../api/task-changes.js';
import { createTestDatabase, type TestDatabase } from './db.js';

import { fixturePath } from './fixtures.js';
export { fixturePath };

/** A fixture of tests/fixtures parsed as JSON, e.g. `readFixture('vk/message_new.text.json')`. */
export async function readFixture<T = Record<string, any>>(rel: string): Promise<T> {
  return JSON.parse(await readFile(fixturePath(rel), 'utf8')) as T;
}

export const VK_GROUP_ID = 218000001;
export const VK_SECRET = 's3cr3t-fixture';
export const WA_APP_SECRET = 'fixture-app-secret';
export const WA_VERIFY_TOKEN = 'fixture-verify-token';
export const WA_PHONE_NUMBER_ID = FAKE_PHONE_NUMBER_ID;
export const TG_BOT_ID = String(FAKE_BOT_ID);
export const TG_SECRET_TOKEN = 'fixture-telegram-secret';

export interface Harness {
  config: Config;
  testDb: TestDatabase;
  db: TestDatabase['db'];
  vk: FakeVk;
  graph: FakeGraph;
  tg: FakeTelegram;
  client: Client;
  app: ReturnType<typeof createApp>;
  /** The app's task change feed (`GET /api/task-changes`). */
  taskChanges: TaskChangeFeed;
  ownerToken: string;
  workers?: RunningWorkers;
  /** Starts in-process workers (again, after stopWorkers). */
  startWorkers(): Promise<RunningWorkers>;
  stopWorkers(): Promise<void>;
  /** Calls the API as the owner (or with `token`), returns status and parsed JSON (or text). */
  api<T = any>(method: string, path: string, body?: unknown, token?: string, headers?: Record<string, string>): Promise<{ status: number; body: T; headers: Headers }>;
  postVk(body: unknown): Promise<{ status: number; text: string }>;
  /** POSTs a WhatsApp webhook: an object (serialised like Meta) or exact raw bytes, signed with the app secret unless `signature` is given. */
  postWa(body: object | string | Uint8Array, opts?: { signature?: string | null; secret?: string }): Promise<{ status: number; text: string }>;
  /** Creates the WhatsApp channel of the fixtures (phone number id 106540352242922). */
  createWaChannel(settings?: Record<string, unknown>): Promise<string>;
  waConversationId(waId: string): string;
  /** Creates the VK channel of the fixtures (group 218000001) and returns its id. */
  createVkChannel(settings?: Record<string, unknown>): Promise<string>;
  conversationId(peerId: string | number): string;
  /** Creates a Telegram channel for the fake bot (getMe and setWebhook at the fake) and returns its id. */
  createTgChannel(settings?: Record<string, unknown>): Promise<string>;
  /** POSTs one Telegram update to the channel's webhook with its secret token (or `secret`; null: no header). */
  postTg(channelId: string, update: unknown, opts?: { secret?: string | null }): Promise<{ status: number; text: string }>;
  tgConversationId(chatId: string | number): string;
  /** Polls `fn` until it returns a truthy value. */
  eventually<T>(fn: () => Promise<T | undefined | null | false>, timeoutMs?: number, what?: string): Promise<T>;
  close(): Promise<void>;
}

/** The SDK's own logs: warnings only (worker state changes are noise in test output). */
function quietTemporalRuntime(): void {
  try {
    Runtime.install({ logger: new DefaultLogger((process.env.TEST_SDK_LOG_LEVEL as 'WARN') ?? 'WARN'), shutdownSignals: [] });
  } catch {
    // Already installed in this process.
  }
}

/** `slaClock`: the workers' response-time clock (activities/sla.ts), e.g. a scaled one. */
export async function startHarness(env: Record<string, string> = {}, opts: { slaClock?: SlaClock } = {}): Promise<Harness> {
  quietTemporalRuntime();
  const testDb = await createTestDatabase();
  const vk = await startFakeVk();
  const graph = await startFakeGraph();
  const tg = await startFakeTelegram();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'taskwire-test-'));
  const config = loadConfig({
    DATABASE_URL: testDb.url,
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_TASK_QUEUE: `tw-test-${randomBytes(5).toString('hex')}`,
    DATA_DIR: dataDir,
    VK_API_BASE_URL: vk.baseUrl,
    WHATSAPP_API_BASE_URL: graph.baseUrl,
    TELEGRAM_API_BASE_URL: tg.baseUrl,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    CONVERSATION_IDLE_SECONDS: '600',
    // Observed outgoing messages wait one window for classification (rule 22): short in tests.
    BROADCAST_WINDOW_SECONDS: '2',
    // The fake VK CDN and Graph media URLs are on loopback; real deployments allow only the CDNs.
    MEDIA_ALLOWED_HOSTS: '127.0.0.1',
    ...env,
  });
  const logger = createLogger(config.LOG_LEVEL);
  const files = new FileStore(config.filesDir);
  const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS! });
  const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  const taskChanges = new TaskChangeFeed({ databaseUrl: testDb.url, logger, retryFirstMs: 100, retryMaxMs: 500 });
  const app = createApp({ config, db: testDb.db, temporal: client, files, logger, taskChanges });
  const ownerToken = `tw_owner_${randomBytes(16).toString('hex')}`;
  await bootstrapOwner(testDb.db, ownerToken);

  let nativeConnection: NativeConnection | undefined;
  const h: Harness = {
    config,
    testDb,
    db: testDb.db,
    vk,
    graph,
    tg,
    client,
    app,
    taskChanges,
    ownerToken,
    async startWorkers() {
      nativeConnection ??= await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS! });
      h.workers = await startWorkers({
        config,
        connection: nativeConnection,
        db: testDb.db,
        files,
        adapters: createAdapters(config),
        logger,
        workflowBundle: bundlePath() ? { codePath: bundlePath()! } : undefined,
        slaClock: opts.slaClock,
      });
      return h.workers;
    },
    async stopWorkers() {
      await h.workers?.shutdown();
      h.workers = undefined;
    },
    async api(method, p, body, token = ownerToken, headers = {}) {
      const res = await app.request(p, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: any = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* plain text */
      }
      return { status: res.status, body: parsed, headers: res.headers };
    },
    async postVk(body) {
      const res = await app.request('/webhooks/vk', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      return { status: res.status, text: await res.text() };
    },
    async postWa(body, opts = {}) {
      const raw = body instanceof Uint8Array ? body : typeof body === 'string' ? new TextEncoder().encode(body) : new TextEncoder().encode(signedWebhook(body, WA_APP_SECRET).raw);
      const signature = opts.signature === undefined ? signedWebhook(new TextDecoder().decode(raw), opts.secret ?? WA_APP_SECRET).signature : opts.signature;
      const res = await app.request('/webhooks/whatsapp', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(signature === null ? {} : { 'x-hub-signature-256': signature }) },
        body: raw,
      });
      return { status: res.status, text: await res.text() };
    },
    async createWaChannel(settings = {}) {
      const res = await h.api('POST', '/api/channels', {
        kind: 'whatsapp',
        name: 'WhatsApp поддержка',
        phoneNumberId: WA_PHONE_NUMBER_ID,
        wabaId: '102290129340398',
        accessToken: graph.accessToken,
        appSecret: WA_APP_SECRET,
        verifyToken: WA_VERIFY_TOKEN,
        settings,
      });
      if (res.status !== 201) throw new Error(`channel not created: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body.id as string;
    },
    waConversationId: (waId) => conversationWorkflowId('whatsapp', WA_PHONE_NUMBER_ID, waId),
    async createVkChannel(settings = {}) {
      const res = await h.api('POST', '/api/channels', {
        kind: 'vk',
        name: 'Мебельный магазин',
        groupId: VK_GROUP_ID,
        accessToken: vk.accessToken,
        confirmationCode: '5d2a9c41',
        secret: VK_SECRET,
        settings,
      });
      if (res.status !== 201) throw new Error(`channel not created: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body.id as string;
    },
    conversationId: (peerId) => conversationWorkflowId('vk', String(VK_GROUP_ID), String(peerId)),
    async createTgChannel(settings = {}) {
      const res = await h.api('POST', '/api/channels', { kind: 'telegram', name: 'Telegram бот', botToken: tg.botToken, secretToken: TG_SECRET_TOKEN, settings });
      if (res.status !== 201) throw new Error(`channel not created: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body.id as string;
    },
    async postTg(channelId, update, opts = {}) {
      const secret = opts.secret === undefined ? TG_SECRET_TOKEN : opts.secret;
      const res = await app.request(`/webhooks/telegram/${channelId}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(secret === null ? {} : { 'x-telegram-bot-api-secret-token': secret }) },
        body: typeof update === 'string' ? update : JSON.stringify(update),
      });
      return { status: res.status, text: await res.text() };
    },
    tgConversationId: (chatId) => conversationWorkflowId('telegram', TG_BOT_ID, String(chatId)),
    async eventually(fn, timeoutMs = 20_000, what = 'condition') {
      const deadline = Date.now() + timeoutMs;
      let last: unknown;
      for (;;) {
        try {
          const v = await fn();
          if (v) return v;
        } catch (err) {
          last = err;
        }
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async close() {
      await taskChanges.close();
      await h.stopWorkers();
      // Workflows of this file would otherwise idle on the shared server until their timers fire.
      await terminateAll(client, config.TEMPORAL_TASK_QUEUE).catch(() => undefined);
      await nativeConnection?.close();
      await connection.close();
      await vk.stop();
      await graph.stop();
      await tg.stop();
      await testDb.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return h;
}

async function terminateAll(client: Client, taskQueue: string): Promise<void> {
  for await (const wf of client.workflow.list({ query: `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'` })) {
    await client.workflow.getHandle(wf.workflowId, wf.runId).terminate('test finished').catch(() => undefined);
  }
}

/** A copy of a fixture with a fresh event id (and optionally other changes). */
export function withEventId<T extends Record<string, any>>(fixture: T, suffix: string | number): T {
  const copy: Record<string, any> = structuredClone(fixture);
  copy.event_id = `${String(copy.event_id).slice(0, 30)}${String(suffix).padStart(10, '0')}`;
  return copy as T;
}

/** A VK message_new body for `peer` with message id `id` and `text`. */
export function vkMessage(base: Record<string, any>, opts: { peer: number; id: number; text: string; date?: number }): Record<string, any> {
  const body = structuredClone(base);
  body.event_id = `ev-${opts.peer}-${opts.id}-${randomBytes(4).toString('hex')}`;
  Object.assign(body.object.message, {
    from_id: opts.peer,
    peer_id: opts.peer,
    id: opts.id,
    conversation_message_id: opts.id,
    text: opts.text,
    date: opts.date ?? Math.floor(Date.now() / 1000),
    attachments: [],
    fwd_messages: [],
  });
  return body;
}

/** The workflow bundle prebuilt by the global setup, if it provided one. */
function bundlePath(): string | undefined {
  try {
    return (inject as (k: string) => string | undefined)('workflowBundlePath');
  } catch {
    return undefined;
  }
}
