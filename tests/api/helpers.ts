/** Shared by tests/api/*: an app over a test database, and small request helpers. */
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { createApp } from '../../api/app.js';
import type { AppDeps } from '../../api/deps.js';
import type { Db } from '../../db/index.js';
import { loadConfig, type Config } from '../../runtime/config.js';
import { FileStore } from '../../runtime/file-store.js';
import { createLogger } from '../../runtime/logger.js';

export const OWNER_TOKEN = 'bootstrap-owner-token-0123456789';

/** For tests that never reach Temporal. /readyz with this reports temporal failed. */
export const noTemporal = {
  connection: { withDeadline: (_d: unknown, fn: () => Promise<unknown>) => fn() },
  workflowService: { getSystemInfo: async () => Promise.reject(new Error('no Temporal in this test')) },
} as unknown as Client;

export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    HOST: '127.0.0.1',
    PORT: '3999',
    PUBLIC_URL: 'https://tw.example.com/',
    BOOTSTRAP_ADMIN_TOKEN: OWNER_TOKEN,
    MAX_API_BODY_BYTES: '65536',
    MAX_WEBHOOK_BODY_BYTES: '4096',
    DATA_DIR: path.join(os.tmpdir(), 'taskwire-api-test'),
    LOG_LEVEL: 'silent',
    ...env,
  });
}

export function testApp(db: Db, opts: { temporal?: Client; config?: Config } = {}) {
  const config = opts.config ?? testConfig();
  const deps: AppDeps = {
    config,
    db,
    temporal: opts.temporal ?? noTemporal,
    files: new FileStore(config.filesDir),
    logger: createLogger('silent'),
  };
  return { app: createApp(deps), deps };
}

type App = ReturnType<typeof createApp>;

export interface CallResult<T = any> {
  status: number;
  body: T;
  text: string;
  headers: Headers;
}

/** JSON request; `body` is serialised unless it is already a string. */
export async function call<T = any>(
  app: App,
  method: string,
  url: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<CallResult<T>> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await app.request(url, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed as T, text, headers: res.headers };
}
