/**
 * Configuration, parsed once at start with zod. A bad value stops the process with a message
 * naming the variable. Every variable is documented in README.md (Configuration).
 */
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import { z } from 'zod';
import { channelConfigShape, type ChannelsEnv } from '../channels/index.js';
import { DEFAULT_MEDIA_ALLOWED_HOSTS, parseHostPatterns } from '../channels/media-hosts.js';

const seconds = (def: number) => z.coerce.number().int().positive().default(def);

/** What one conversation in the worker's cache adds to the process (measured 0.19–0.22 MiB, bench/README.md). */
export const CACHED_WORKFLOW_BYTES = 256 * 1024;
/** The cache's default ceiling: a 5,000-recipient mailing's replies all find their conversation cached. */
export const MAX_DEFAULT_CACHED_WORKFLOWS = 5000;

/**
 * WORKER_MAX_CACHED_WORKFLOWS when unset: 5,000 conversations, or as many as fit in a quarter of
 * the memory the process may use (the container's limit when there is one) and in the workflow
 * thread's V8 heap (less 200 MiB), but at least 500. A conversation not in the cache is rebuilt
 * from its history when a message comes, which costs CPU (a reply storm after a mailing went from
 * 34 to 40 attached per second with all 5,000 cached).
 */
export function defaultMaxCachedWorkflows(memoryBytes = usableMemoryBytes(), heapLimitBytes = v8.getHeapStatistics().heap_size_limit): number {
  const byMemory = Math.floor(memoryBytes / 4 / CACHED_WORKFLOW_BYTES);
  const byHeap = Math.floor(Math.max(0, heapLimitBytes - 200 * 1024 * 1024) / CACHED_WORKFLOW_BYTES);
  return Math.max(500, Math.min(MAX_DEFAULT_CACHED_WORKFLOWS, byMemory, byHeap));
}

function usableMemoryBytes(): number {
  const limit = process.constrainedMemory?.() ?? 0; // cgroup limit (0 or a huge number when none)
  const total = os.totalmem();
  return limit > 0 && limit < total ? limit : total;
}

/** `a.com,*.b.com` → normalised host patterns; a bad entry is named in the error. */
const hostList = (def: readonly string[]) =>
  z
    .string()
    .default(def.join(','))
    .transform((raw, ctx) => {
      try {
        const patterns = parseHostPatterns(raw);
        if (patterns.length === 0) ctx.addIssue({ code: 'custom', message: 'list at least one host' });
        return patterns;
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    });

/** What taskwire itself reads; each channel adds its own variables (`config` in its definition). */
const common = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATABASE_URL: z.string().url().optional(),
  TEMPORAL_ADDRESS: z.string().min(1).optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('taskwire'),
  TEMPORAL_UI_PORT: z.coerce.number().int().min(1).max(65535).default(8233),
  TEMPORAL_PORT: z.coerce.number().int().min(1).max(65535).default(7233),
  TEMPORAL_CLI: z.string().min(1).optional(),
  DATA_DIR: z.string().min(1).default('./.data'),
  FILES_DIR: z.string().min(1).optional(),
  BOOTSTRAP_ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  PUBLIC_URL: z.string().url().optional(),
  BROADCAST_WINDOW_SECONDS: seconds(300),
  BROADCAST_THRESHOLD: z.coerce.number().int().positive().default(3),
  BROADCAST_RETENTION_SECONDS: seconds(2_592_000),
  BROADCAST_PURGE_INTERVAL_SECONDS: seconds(3600),
  HELD_REPLY_RETENTION_SECONDS: seconds(2_592_000),
  WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(0).default(() => defaultMaxCachedWorkflows()),
  CONVERSATION_IDLE_SECONDS: seconds(3600),
  PROFILE_SWEEP_SECONDS: seconds(60),
  CONVERSATION_CONTINUE_AS_NEW_EVENTS: z.coerce.number().int().min(100).default(2000),
  MAX_WEBHOOK_BODY_BYTES: z.coerce.number().int().positive().default(1_048_576),
  MAX_API_BODY_BYTES: z.coerce.number().int().positive().default(30 * 1_048_576),
  AUTH_FAILURE_LIMIT: z.coerce.number().int().min(0).default(20),
  AUTH_FAILURE_WINDOW_SECONDS: seconds(60),
  TRUST_PROXY: z
    .string()
    .regex(/^(true|false|\d)$/, 'must be false, true (one proxy) or the number of proxies in front (0-9)')
    .transform((v) => (v === 'true' ? 1 : v === 'false' ? 0 : Number(v)))
    .default(0),
  MEDIA_ALLOWED_HOSTS: hostList(DEFAULT_MEDIA_ALLOWED_HOSTS),
  MAX_MEDIA_BYTES: z.coerce.number().int().positive().default(104_857_600),
  MEDIA_FETCH_ATTEMPTS: z.coerce.number().int().min(1).max(10).default(5),
  REPLY_WAIT_SECONDS: seconds(20),
  IDEMPOTENCY_RETENTION_SECONDS: seconds(86_400),
  STARTUP_TIMEOUT_SECONDS: seconds(60),
  EMBEDDED_UNHEALTHY_SECONDS: seconds(30),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
});

const schema = z.object({ ...common.shape, ...channelConfigShape() });

export type Env = z.infer<typeof common> & ChannelsEnv;

export interface Config extends Env {
  dataDir: string;
  filesDir: string;
}

export class ConfigError extends Error {}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // Empty strings count as unset (docker-compose often passes VAR= ).
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const values = parsed.data as Env;
  const dataDir = path.resolve(values.DATA_DIR);
  return { ...values, dataDir, filesDir: path.resolve(values.FILES_DIR ?? path.join(dataDir, 'files')) };
}
