/**
 * Configuration, parsed once at start with zod. A bad value stops the process with a message
 * naming the variable. Every variable is documented in README.md (Configuration).
 */
import path from 'node:path';
import { z } from 'zod';

const seconds = (def: number) => z.coerce.number().int().positive().default(def);

const schema = z.object({
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
  VK_API_BASE_URL: z.string().url().default('https://api.vk.com/method'),
  VK_API_VERSION: z.string().min(1).default('5.199'),
  VK_RATE_LIMIT_PER_SECOND: z.coerce.number().positive().default(20),
  WHATSAPP_API_BASE_URL: z.string().url().default('https://graph.facebook.com/v21.0'),
  WHATSAPP_RATE_LIMIT_PER_SECOND: z.coerce.number().positive().default(80),
  BOOTSTRAP_ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  PUBLIC_URL: z.string().url().optional(),
  BROADCAST_WINDOW_SECONDS: seconds(300),
  BROADCAST_THRESHOLD: z.coerce.number().int().positive().default(3),
  BROADCAST_RETENTION_SECONDS: seconds(2_592_000),
  BROADCAST_PURGE_INTERVAL_SECONDS: seconds(3600),
  WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(0).default(1000),
  VK_REPLY_WINDOW_SECONDS: seconds(864_000),
  WHATSAPP_REPLY_WINDOW_SECONDS: seconds(86_400),
  CONVERSATION_IDLE_SECONDS: seconds(3600),
  CONVERSATION_CONTINUE_AS_NEW_EVENTS: z.coerce.number().int().min(100).default(2000),
  MAX_WEBHOOK_BODY_BYTES: z.coerce.number().int().positive().default(1_048_576),
  MAX_API_BODY_BYTES: z.coerce.number().int().positive().default(30 * 1_048_576),
  REPLY_WAIT_SECONDS: seconds(20),
  IDEMPOTENCY_RETENTION_SECONDS: seconds(86_400),
  STARTUP_TIMEOUT_SECONDS: seconds(60),
  EMBEDDED_UNHEALTHY_SECONDS: seconds(30),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
});

export type Env = z.infer<typeof schema>;

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
  const dataDir = path.resolve(parsed.data.DATA_DIR);
  return { ...parsed.data, dataDir, filesDir: path.resolve(parsed.data.FILES_DIR ?? path.join(dataDir, 'files')) };
}
