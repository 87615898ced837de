/** Service endpoints (no token): liveness, readiness, metrics, the OpenAPI document and its page. */
import { countDeadLetters } from '../../db/queries/dead-letters.js';
import { countSlaBreaches } from '../../db/queries/tasks.js';
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { swaggerUI } from '@hono/swagger-ui';
import { sql } from 'kysely';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { metrics } from '../metrics.js';
import { BEARER_SCHEME, ErrorSchema, jsonResponse, textResponse } from '../schemas.js';

export const READINESS_TIMEOUT_MS = 2000;

const tags = ['service'];

const healthRoute = createRoute({
  method: 'get',
  path: '/healthz',
  tags,
  summary: 'The process is up',
  responses: { 200: jsonResponse(z.object({ status: z.literal('ok') }), 'Up') },
});

const CheckState = z.enum(['ok', 'failed']);
const ReadySchema = z.object({
  status: z.enum(['ok', 'unavailable']),
  checks: z.object({ database: CheckState, temporal: CheckState }),
});

const readyRoute = createRoute({
  method: 'get',
  path: '/readyz',
  tags,
  summary: 'The database and Temporal are reachable',
  responses: {
    200: jsonResponse(ReadySchema, 'Ready'),
    503: jsonResponse(ReadySchema.extend(ErrorSchema.shape), 'Not ready: `checks` says which dependency failed'),
  },
});

const metricsRoute = createRoute({
  method: 'get',
  path: '/metrics',
  tags,
  summary: 'Prometheus metrics',
  responses: { 200: textResponse('Prometheus text exposition format') },
});

/** Resolves to 'ok' or 'failed' within `ms`; never rejects. */
async function probe(fn: () => Promise<unknown>, ms: number): Promise<'ok' | 'failed'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'failed'>((resolve) => {
    timer = setTimeout(() => resolve('failed'), ms);
  });
  try {
    return await Promise.race([fn().then(() => 'ok' as const, () => 'failed' as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function registerServiceRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  app.openapi(healthRoute, (c) => c.json({ status: 'ok' as const }, 200));

  app.openapi(readyRoute, async (c) => {
    const [database, temporal] = await Promise.all([
      probe(() => sql`select 1`.execute(deps.db), READINESS_TIMEOUT_MS),
      probe(
        () =>
          deps.temporal.connection.withDeadline(Date.now() + READINESS_TIMEOUT_MS, () =>
            deps.temporal.workflowService.getSystemInfo({}),
          ),
        READINESS_TIMEOUT_MS,
      ),
    ]);
    const checks = { database, temporal };
    if (database === 'ok' && temporal === 'ok') return c.json({ status: 'ok' as const, checks }, 200);
    const failed = Object.entries(checks).filter(([, v]) => v === 'failed').map(([k]) => k);
    deps.logger.warn({ checks }, 'not ready');
    return c.json(
      {
        status: 'unavailable' as const,
        checks,
        error: { code: 'unavailable', message: `not reachable: ${failed.join(', ')}`, details: { failed } },
      },
      503,
    );
  });

  app.openapi(metricsRoute, async (c) => {
    // Counted in the database, so every API process shows the same figure; a database that does
    // not answer leaves the last figure (the scrape still succeeds).
    let counts: Awaited<ReturnType<typeof countDeadLetters>> | undefined;
    let slaBreaches: number | undefined;
    const counted = async () => {
      counts = await countDeadLetters(deps.db);
      slaBreaches = await countSlaBreaches(deps.db);
    };
    if ((await probe(counted, READINESS_TIMEOUT_MS)) === 'failed') [counts, slaBreaches] = [undefined, undefined];
    if (counts) for (const [status, n] of Object.entries(counts)) metrics.deadLetters.set({ status }, n);
    if (slaBreaches !== undefined) {
      metrics.slaBreaches.reset();
      metrics.slaBreaches.inc(slaBreaches);
    }
    const text = await metrics.registry.metrics();
    return c.text(text, 200, { 'Content-Type': metrics.registry.contentType });
  });

  app.openAPIRegistry.registerComponent('securitySchemes', BEARER_SCHEME, {
    type: 'http',
    scheme: 'bearer',
    description: 'An employee API token (`tw_…`), created by POST /api/employees or BOOTSTRAP_ADMIN_TOKEN',
  });
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'taskwire',
      version: '0.1.0',
      description:
        'VK and WhatsApp conversations as tasks. Errors: `{"error": {"code", "message", "details"}}`. ' +
        'Every POST, PATCH and DELETE under /api takes an `Idempotency-Key` header: a retry with the same key never acts twice (see the header on each route). ' +
        'Webhooks (`/webhooks/vk`, `/webhooks/whatsapp`) are authenticated by the channel\'s secret / signature.',
    },
    tags: [
      { name: 'employees' },
      { name: 'task templates' },
      { name: 'channels' },
      { name: 'tasks' },
      { name: 'contacts' },
      { name: 'quick replies' },
      { name: 'webhooks' },
      { name: 'dead letters' },
      { name: 'service' },
    ],
  });
  // Swagger UI's files are served from the installed package: /docs works without internet.
  app.get('/docs', swaggerUI({ url: '/openapi.json', title: 'taskwire API', manuallySwaggerUIHtml: docsHtml }));
  app.get('/docs/assets/:file', async (c) => {
    const file = DOCS_ASSETS[c.req.param('file')];
    if (!file) return c.notFound();
    const body = await readFile(path.join(SWAGGER_UI_DIR, c.req.param('file')));
    return c.body(body, 200, { 'content-type': file, 'cache-control': 'public, max-age=86400' });
  });
}

const SWAGGER_UI_DIR = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const DOCS_ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
};

function docsHtml(): string {
  return `<div id="swagger-ui"></div>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css" />
<script src="/docs/assets/swagger-ui-bundle.js" crossorigin></script>
<script>
  window.onload = () => { window.ui = SwaggerUIBundle({ dom_id: '#swagger-ui', url: '/openapi.json' }); };
</script>`;
}
