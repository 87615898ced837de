/**
 * The HTTP app, built from its dependencies (tests call `createApp(deps).request(...)`; server.ts
 * only serves it). Order: request id → metrics/log → per-area guards (body limits, bearer auth) →
 * routes; one onError turns everything thrown into the contract's error body.
 */
import { rejectUnstorableStrings } from './storable-body.js';
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { requestId } from 'hono/request-id';
import { matchedRoutes } from 'hono/route';
import { bearerAuth } from './auth.js';
import { AuthGuard, documentThrottling } from './auth-throttle.js';
import { idempotentRequests } from './idempotency.js';
import type { AppDeps } from './deps.js';
import type { AppEnv } from './env.js';
import { errorBody, handleError, payloadTooLarge, validationError } from './errors.js';
import { metrics } from './metrics.js';
import { registerBroadcastRoutes } from './routes/broadcasts.js';
import { registerChannelRoutes } from './routes/channels.js';
import { registerContactRoutes } from './routes/contacts.js';
import { registerDeadLetterRoutes } from './routes/dead-letters.js';
import { registerEmployeeRoutes } from './routes/employees.js';
import { registerFirstContactRoutes } from './routes/first-contact.js';
import { registerQuickReplyRoutes } from './routes/quick-replies.js';
import { registerServiceRoutes } from './routes/service.js';
import { registerTaskTemplateRoutes } from './routes/task-templates.js';
import { registerTaskChangeRoutes } from './routes/task-changes.js';
import { registerTaskRoutes } from './routes/tasks.js';
import { registerWebhookRoutes } from './routes/webhooks.js';

export type { AppEnv } from './env.js';

const SERVICE_PATHS = new Set(['/healthz', '/readyz', '/metrics', '/openapi.json', '/docs']);

/** The route pattern that answered (`/api/channels/:id`), for bounded metric labels. */
function routeLabel(c: Context<AppEnv>): string {
  try {
    const routes = matchedRoutes(c);
    for (let i = routes.length - 1; i >= 0; i--) {
      const r = routes[i]!;
      if (r.method !== 'ALL') return r.path;
    }
  } catch {
    // no match result (the request never reached the router)
  }
  return 'unmatched';
}

function observe(deps: AppDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = process.hrtime.bigint();
    await next();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const status = c.res.status;
    const labels = { method: c.req.method, route: routeLabel(c), status: String(status) };
    metrics.httpRequests.inc(labels);
    metrics.httpDuration.observe(labels, seconds);
    const entry = { requestId: c.get('requestId'), method: c.req.method, path: c.req.path, route: labels.route, status, ms: Math.round(seconds * 1000) };
    if (SERVICE_PATHS.has(c.req.path)) deps.logger.debug(entry, 'request');
    else deps.logger.info(entry, 'request');
  };
}

export function createApp(deps: AppDeps): OpenAPIHono<AppEnv> {
  const { config } = deps;
  const app = new OpenAPIHono<AppEnv>({
    // zod validation failures (body, query, params) → 400 invalid_request naming the first failing field.
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error, result.target);
    },
  });

  app.use('*', requestId());
  app.use('*', observe(deps));

  app.use(
    '/webhooks/*',
    bodyLimit({
      maxSize: config.MAX_WEBHOOK_BODY_BYTES,
      onError: () => {
        throw payloadTooLarge(config.MAX_WEBHOOK_BODY_BYTES);
      },
    }),
  );
  // Failed authentication is limited per client address (429 while blocked), API and webhooks alike.
  const authGuard = new AuthGuard(config, deps.logger);
  // Authenticate before reading a (possibly large) body.
  app.use('/api/*', bearerAuth(deps.db, authGuard));
  app.use(
    '/api/*',
    bodyLimit({
      maxSize: config.MAX_API_BODY_BYTES,
      onError: () => {
        throw payloadTooLarge(config.MAX_API_BODY_BYTES);
      },
    }),
  );

  // After the size limit, before any route: unstorable strings are a 400 naming the field.
  app.use('/api/*', rejectUnstorableStrings());
  // Then every POST/PUT/PATCH/DELETE is claimed under its Idempotency-Key: a retry never acts twice.
  app.use('/api/*', idempotentRequests(deps));

  registerServiceRoutes(app, deps);
  registerEmployeeRoutes(app, deps);
  registerTaskTemplateRoutes(app, deps);
  registerChannelRoutes(app, deps);
  registerQuickReplyRoutes(app, deps);
  registerContactRoutes(app, deps);
  registerTaskRoutes(app, deps);
  registerTaskChangeRoutes(app, deps);
  registerFirstContactRoutes(app, deps);
  registerBroadcastRoutes(app, deps);
  registerDeadLetterRoutes(app, deps);
  registerWebhookRoutes(app, deps, authGuard);
  documentThrottling(app);

  app.notFound((c) => c.json(errorBody('not_found', `no route ${c.req.method} ${c.req.path}`), 404));
  app.onError((err, c) => handleError(err, c, deps.logger));

  return app;
}
