/**
 * Throttling of failed authentication per client address (wrong API tokens, wrong webhook
 * secrets, signatures and verify tokens), so that credentials cannot be guessed at speed.
 *
 * - After `AUTH_FAILURE_LIMIT` failures within `AUTH_FAILURE_WINDOW_SECONDS` (a fixed window
 *   from the first failure) an address is blocked for one more window. While it is blocked every
 *   request of that scope answers 429 `too_many_requests` with `Retry-After`, and the credential
 *   is not even looked at, so a guess teaches nothing.
 * - Successful requests do not count, and do not reset the count either: otherwise a holder of
 *   one valid token (an agent) could interleave it with guesses at another (the owner's).
 * - Scopes are counted apart: the API, each channel's webhook, WhatsApp verification. A channel
 *   with a wrong secret configured at VK or Meta then blocks only its own deliveries from their
 *   servers, not the other channels' (which come from the same addresses) nor the agents' API.
 * - Only credentials that were presented count: a request without an Authorization /
 *   X-Hub-Signature-256 header guesses nothing (it gets 401, or 429 while blocked).
 * - State is in memory, per process, in an LRU of at most `MAX_TRACKED_KEYS` entries: a flood
 *   of addresses costs bounded memory; what it buys is evicting old entries (an evicted blocked
 *   address starts afresh). IPv6 addresses are counted per /64, which one subscriber usually has.
 */
import { isIP } from 'node:net';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { LRUCache } from 'lru-cache';
import type { Config } from '../runtime/config.js';
import type { Logger } from '../runtime/logger.js';
import type { AppEnv } from './env.js';
import { errorBody } from './errors.js';
import { metrics } from './metrics.js';
import { ErrorSchema } from './schemas.js';

/** Label of the metrics: what kind of credential failed. */
export type AuthKind = 'api_token' | 'webhook_secret';

/** At most this many (scope, address) entries are remembered (≈ 200 bytes each). */
export const MAX_TRACKED_KEYS = 50_000;

interface Entry {
  failures: number;
  windowEndsAt: number;
  blockedUntil: number;
}

export interface ThrottleSettings {
  /** Failures per window before an address is blocked; 0 switches throttling off. */
  limit: number;
  windowMs: number;
  maxKeys?: number;
  now?: () => number;
}

/** Counts failures per key (scope + address) and says how long a key is blocked. */
export class FailureThrottle {
  private readonly entries: LRUCache<string, Entry>;
  private readonly now: () => number;

  constructor(private readonly settings: ThrottleSettings) {
    this.entries = new LRUCache<string, Entry>({ max: settings.maxKeys ?? MAX_TRACKED_KEYS });
    this.now = settings.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Milliseconds until `key` may try again; 0 when it may now. */
  blockedFor(key: string): number {
    // get(), not peek(): an address that keeps knocking stays among the most recent entries.
    const e = this.entries.get(key);
    return e ? Math.max(0, e.blockedUntil - this.now()) : 0;
  }

  /** Counts one failure; true when this one reached the limit (the key is blocked from now on). */
  fail(key: string): boolean {
    if (this.settings.limit <= 0) return false;
    const now = this.now();
    let e = this.entries.get(key);
    if (!e || (e.windowEndsAt <= now && e.blockedUntil <= now)) e = { failures: 0, windowEndsAt: now + this.settings.windowMs, blockedUntil: 0 };
    e.failures++;
    const reached = e.failures === this.settings.limit;
    if (reached) e.blockedUntil = now + this.settings.windowMs;
    this.entries.set(key, e);
    return reached;
  }
}

/**
 * The address the limit applies to. The socket's peer, unless `trustProxyHops` > 0: then the
 * address that many hops back in X-Forwarded-For (each proxy appends the address it saw), so a
 * client cannot choose its own by sending the header. IPv4-mapped IPv6 is IPv4; IPv6 is its /64.
 */
export function clientAddress(c: Context, trustProxyHops: number): string {
  let peer: string | undefined;
  try {
    peer = getConnInfo(c).remote.address;
  } catch {
    // Not served by @hono/node-server (app.request() in tests): no socket.
  }
  let address = peer;
  if (trustProxyHops > 0) {
    const forwarded = (c.req.header('x-forwarded-for') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    const chain = peer ? [...forwarded, peer] : forwarded;
    address = chain[Math.max(0, chain.length - 1 - trustProxyHops)] ?? peer;
  }
  return normalizeAddress(address);
}

export function normalizeAddress(raw: string | undefined): string {
  if (!raw) return 'unknown';
  let a = raw.trim().replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  if (mapped) a = mapped[1]!;
  const family = isIP(a);
  if (family === 4) return a;
  if (family === 6) return ipv6Prefix64(a);
  return 'invalid';
}

/** `2001:db8:1:2:3:4:5:6` → `2001:db8:1:2::/64`. `a` must be a valid IPv6 address. */
function ipv6Prefix64(a: string): string {
  const groupsOf = (part: string) => (part ? part.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])) : []);
  let groups: string[];
  if (a.includes('::')) {
    const [head, tail] = a.split('::') as [string, string];
    const h = groupsOf(head);
    const t = groupsOf(tail);
    groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  } else groups = groupsOf(a);
  return `${groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}

/** One authentication check of a request: ask `blocked()` before looking at the credential, `failed()` after a wrong one. */
export interface AuthAttempt {
  /** A 429 answer while the address is blocked (counted in the metrics), else undefined. */
  blocked(): Response | undefined;
  /** Counts a wrong credential. */
  failed(): void;
}

/** The app's throttle: one per app (per process), built from the configuration. */
export class AuthGuard {
  private readonly throttle: FailureThrottle;

  constructor(
    private readonly config: Pick<Config, 'AUTH_FAILURE_LIMIT' | 'AUTH_FAILURE_WINDOW_SECONDS' | 'TRUST_PROXY'>,
    private readonly logger?: Logger,
  ) {
    this.throttle = new FailureThrottle({ limit: config.AUTH_FAILURE_LIMIT, windowMs: config.AUTH_FAILURE_WINDOW_SECONDS * 1000 });
  }

  /** `scope` separates counts: `api`, `vk:<channel id>`, `whatsapp:<channel id>`, `whatsapp-verify`. */
  attempt(c: Context<AppEnv>, scope: string, kind: AuthKind): AuthAttempt {
    const address = clientAddress(c, this.config.TRUST_PROXY);
    const key = `${scope}|${address}`;
    return {
      blocked: () => {
        const ms = this.throttle.blockedFor(key);
        if (ms <= 0) return undefined;
        metrics.authThrottled.inc({ kind });
        const seconds = Math.max(1, Math.ceil(ms / 1000));
        return c.json(
          errorBody('too_many_requests', `too many failed authentication attempts from your address; retry in ${seconds} s`, { retryAfterSeconds: seconds }),
          429,
          { 'Retry-After': String(seconds) },
        );
      },
      failed: () => {
        metrics.authFailures.inc({ kind });
        if (this.throttle.fail(key)) {
          this.logger?.warn({ scope, address, kind, limit: this.config.AUTH_FAILURE_LIMIT, seconds: this.config.AUTH_FAILURE_WINDOW_SECONDS }, 'too many failed authentications: address blocked');
        }
      },
    };
  }
}

/** The 429 answer in the OpenAPI document of every route behind authentication (/api, /webhooks). */
export function documentThrottling(app: OpenAPIHono<AppEnv>): void {
  const response = {
    description: 'Too many failed authentication attempts from this address (`too_many_requests`); retry after `Retry-After` seconds',
    headers: { 'Retry-After': { description: 'Seconds until the address may try again', schema: { type: 'integer' as const } } },
    content: { 'application/json': { schema: ErrorSchema } },
  };
  for (const def of app.openAPIRegistry.definitions) {
    if (def.type !== 'route' || !/^\/(api|webhooks)\//.test(def.route.path) || def.route.responses[429]) continue;
    // A copy: the route objects are module constants shared by every app.
    def.route = { ...def.route, responses: { ...def.route.responses, 429: response } };
  }
}
