/** Structured JSON logs (pino). Secrets are redacted by key name wherever they appear. */
import { pino, type Logger } from 'pino';

export type { Logger };

const REDACT = [
  'accessToken', 'appSecret', 'secret', 'token', 'verifyToken', 'confirmationCode', 'password', 'authorization',
  '*.accessToken', '*.appSecret', '*.secret', '*.token', '*.verifyToken', '*.confirmationCode', '*.password', '*.authorization',
  'credentials', '*.credentials',
];

export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info', name = 'taskwire'): Logger {
  return pino({ name, level, redact: { paths: REDACT, censor: '[redacted]' } });
}
