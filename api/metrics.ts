/**
 * Prometheus metrics of the API process, served by GET /metrics. One registry per process
 * (module singleton), so any route can count: `metrics.webhookEvents.inc({channel: 'vk', result: 'accepted'})`.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const registry = new Registry();
collectDefaultMetrics({ register: registry });

/** A counter of this registry: `help` says what it counts, by which labels. */
function counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
  return new Counter({ name, help, labelNames, registers: [registry] });
}

export const metrics = {
  registry,
  /** Every answered HTTP request; `route` is the matched route pattern (`/api/channels/:id`) or `unmatched`. */
  httpRequests: counter('taskwire_http_requests_total', 'HTTP requests answered, by method, route pattern and status', ['method', 'route', 'status']),
  httpDuration: new Histogram({
    name: 'taskwire_http_request_duration_seconds',
    help: 'HTTP request duration in seconds, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  }),
  /**
   * Webhook deliveries by channel kind and result. Results used: `accepted`, `duplicate`, `ignored`
   * (switched off / inactive channel), `confirmation`, `verification`, `unauthorized`, `forbidden`,
   * `not_found`, `invalid`, `unavailable`, `error`, `bad_secret`, `bad_signature`, `unknown_channel`,
   * `throttled` (429: too many wrong secrets from the address).
   */
  webhookEvents: counter('taskwire_webhook_events_total', 'Webhook deliveries by channel kind and result', ['channel', 'result']),
  /** Wrong credentials presented: `api_token` (a Bearer token), `webhook_secret` (VK secret, WhatsApp signature or verify token). */
  authFailures: counter('taskwire_auth_failures_total', 'Requests refused for a wrong API token or webhook secret, by kind', ['kind']),
  /** Requests answered 429 because their address failed authentication too often (api/auth-throttle.ts). */
  authThrottled: counter('taskwire_auth_throttled_total', 'Requests refused with 429 after too many failed authentications from their address, by kind', ['kind']),
  /** `npm start` only: restarts of an embedded child (`postgres`, `temporal`) after it died. */
  embeddedRestarts: counter('taskwire_embedded_restarts_total', 'Restarts of an embedded child process (PostgreSQL, Temporal dev server) after it exited', ['child']),
  /** Response-time clocks that ran out unanswered (issue 13): counted in the database at scrape time (`sla_breaches`). */
  slaBreaches: counter('taskwire_sla_breaches_total', 'Response-time targets missed: SLA clocks that ran out before an agent answered', []),
  /** `GET /api/task-changes` streams open now, and `resync`s sent (the feed lost its database connection, or a client fell behind). */
  taskChangeStreams: new Gauge({ name: 'taskwire_task_change_streams', help: 'Open task change streams (GET /api/task-changes)', registers: [registry] }),
  taskChangeResyncs: counter('taskwire_task_change_resyncs_total', 'resync events sent on task change streams (changes may have been missed: the database connection was lost, or the client fell behind)', []),
  /** Dead letters by status (`dead`, `retrying`, `resolved`), read from the database at scrape time. */
  deadLetters: new Gauge({
    name: 'taskwire_dead_letters',
    help: 'Events set aside after bounded retries, by status (dead: waiting for an admin; retrying; resolved)',
    labelNames: ['status'] as const,
    registers: [registry],
  }),
};

export type Metrics = typeof metrics;
