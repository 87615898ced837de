/** What every channel's webhook parser shares: the error for a body it cannot route, and zod issue paths. */
import type { z } from 'zod';

/**
 * A webhook body a channel cannot route; the API answers 400 naming `field` (a dotted path). Each
 * channel subclasses it with its own `body` name ("VK callback", "WhatsApp webhook").
 */
export abstract class WebhookBodyError extends Error {
  static readonly body: string = 'webhook';

  constructor(
    readonly field: string,
    readonly detail: string,
  ) {
    super(`invalid ${(new.target as typeof WebhookBodyError).body} body: ${field}: ${detail}`);
    this.name = new.target.name;
  }
}

/** The first issue of a failed parse: its path below `prefix` (dotted; `fallback` when both are empty) and its message. */
export function firstIssue(error: z.ZodError, prefix: string, fallback: string): { path: string; message: string } {
  const issue = error.issues[0];
  const path = [prefix, ...(issue?.path ?? []).map(String)].filter(Boolean).join('.');
  return { path: path || fallback, message: issue?.message ?? 'invalid' };
}
