/**
 * `GET /api/task-changes`: a server-sent event stream naming each task that changed, so an agent
 * UI reads a task when it changed instead of polling it (api/task-changes.ts has the feed).
 *
 * The stream: `ready` once changes are being delivered (read what you show after it, not before);
 * `task` with `{"taskId"}` for each change, several changes of one task sent while the client was
 * behind coming as one; `resync` when changes may have been missed (the server lost its database
 * connection for a while, or the client fell more than MAX_BEHIND tasks behind): read again
 * everything you show. A comment line every KEEPALIVE_MS keeps proxies from closing an idle stream.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { unavailable } from '../errors.js';
import { metrics } from '../metrics.js';
import { bearerSecurity, errorResponses } from '../schemas.js';
import type { TaskChangeSubscriber } from '../task-changes.js';

const KEEPALIVE_MS = 15_000;
/** Distinct tasks waiting for a slow client before it is told to resync instead. */
const MAX_BEHIND = 10_000;

const route = createRoute({
  method: 'get',
  path: '/api/task-changes',
  tags: ['tasks'],
  summary: 'A live stream of the tasks that change (server-sent events)',
  description:
    'A `text/event-stream` that stays open. Events: `ready` (data `{}`) once changes are being delivered — read the tasks you show after it; ' +
    '`task` (data `{"taskId": "…"}`) when a task or what its read shows changed: a new or reopened task, a comment (new, edited, reacted to, ' +
    'its delivery status), an attachment, a status, assignees or its response-time clock — read it again, with `If-None-Match`; ' +
    '`resync` (data `{}`) when changes may have been missed — read again every task you show. ' +
    'Several changes of one task while the client is behind come as one event. Lines starting with `:` are keep-alives. ' +
    'An EventSource reconnects by itself after a dropped connection; treat its next `ready` like `resync`.',
  security: bearerSecurity,
  responses: {
    200: {
      description: 'The event stream',
      content: {
        'text/event-stream': {
          schema: z.string().openapi({ example: 'event: ready\ndata: {}\n\nevent: task\ndata: {"taskId":"42"}\n\n' }),
        },
      },
    },
    ...errorResponses(401, 503),
  },
});

type Control = 'ready' | 'resync';

export function registerTaskChangeRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  app.openapi(route, (c) => {
    const feed = deps.taskChanges;
    if (!feed) throw unavailable('the task change feed is not running in this process');
    return streamSSE(c, async (stream) => {
      const controls: Control[] = [];
      let changed = new Set<string>();
      let ended = false;
      let wake: (() => void) | undefined;
      const nudge = () => {
        wake?.();
        wake = undefined;
      };
      const subscriber: TaskChangeSubscriber = {
        live: (missed) => {
          controls.push(missed ? 'resync' : 'ready');
          nudge();
        },
        changed: (taskId) => {
          if (changed.size >= MAX_BEHIND) {
            // Too far behind: what it would read is everything anyway.
            changed = new Set();
            controls.push('resync');
          }
          changed.add(taskId);
          nudge();
        },
        closed: () => {
          ended = true;
          nudge();
        },
      };
      stream.onAbort(() => nudge());
      const unsubscribe = feed.subscribe(subscriber);
      metrics.taskChangeStreams.inc();
      try {
        // Until the client hangs up, or the feed closed (shutdown) and what was pending is written.
        while (!stream.aborted) {
          if (controls.length === 0 && changed.size === 0) {
            if (ended) break;
            const woken = await new Promise<boolean>((resolve) => {
              const timer = setTimeout(() => resolve(false), KEEPALIVE_MS);
              wake = () => {
                clearTimeout(timer);
                resolve(true);
              };
            });
            if (!woken) await stream.write(': keepalive\n\n');
            continue;
          }
          // Everything pending in one write (a socket write per event would cost more than the event).
          let text = '';
          for (const control of controls.splice(0)) {
            if (control === 'resync') metrics.taskChangeResyncs.inc();
            text += `event: ${control}\ndata: {}\n\n`;
          }
          for (const taskId of changed) text += `event: task\ndata: ${JSON.stringify({ taskId })}\n\n`;
          changed = new Set();
          await stream.write(text);
        }
      } finally {
        unsubscribe();
        metrics.taskChangeStreams.dec();
      }
    });
  });
}
