/**
 * The routes of an /api resource (a collection at `path`, one row at `path/{id}`), declared from
 * what differs between them: summary, roles, body, answer. What they share is written here once:
 * the bearer token, the standard error responses of each kind of route, the Idempotency-Key header
 * of the writes. Routes of another shape call `createRoute` themselves.
 */
import { createRoute, z, type RouteConfig } from '@hono/zod-openapi';
import type { Role } from '../db/schema.js';
import { requireRole } from './auth.js';
import { bearerSecurity, errorResponses, idempotencyHeader, IdParams, jsonBody, jsonResponse, type ErrorStatus } from './schemas.js';

interface RouteDoc {
  summary: string;
  description?: string;
  /** Only these roles may call the route (403 for the others); any employee when absent. */
  roles?: Role[];
}

/** A route's answer: what it holds (`schema`, the resource's by default) and its description. */
interface Answer<A extends z.ZodType> {
  answer: string;
  schema?: A;
}

/** What a create may answer beyond the standard: more error statuses, responses with their own schema (a 409 whose `code` is fixed). */
interface MoreAnswers<E extends ErrorStatus, M> {
  errors?: E[];
  responses?: M;
}

/** The roles that manage the service: owners and admins. */
export const MANAGERS: Role[] = ['owner', 'admin'];

interface WebhookDoc extends Pick<RouteConfig, 'method' | 'path' | 'request'> {
  summary: string;
  /** The 200 answer. */
  ok: RouteConfig['responses'][number];
  errors: ErrorStatus[];
}

/**
 * A channel's webhook, for the OpenAPI document: no bearer token (the channel's secret or signature
 * authenticates it). The channel registers it with `openAPIRegistry.registerPath` and routes the
 * requests itself (it reads the raw body).
 */
export function webhookRoute({ method, path, summary, request, ok, errors }: WebhookDoc) {
  return createRoute({ method, path, tags: ['webhooks'], summary, request, responses: { 200: ok, ...errorResponses(...errors) } });
}

/** The routes of the resource at `path` (documented under `tag`), whose rows `schema` describes. */
export function apiResource<P extends string, S extends z.ZodType>(path: P, tag: string, schema: S) {
  const one = `${path}/{id}` as `${P}/{id}`;
  const common = ({ summary, description, roles }: RouteDoc) => ({
    tags: [tag],
    summary,
    description,
    security: bearerSecurity,
    middleware: roles ? [requireRole(...roles)] : [],
  });
  /** The standard error responses, with 403 where roles limit the route. */
  const errors = <E extends ErrorStatus>(doc: RouteDoc, ...statuses: E[]) => errorResponses<E | 403>(...statuses, ...(doc.roles ? [403 as const] : []));
  const answer = <A extends z.ZodType = S>(doc: Answer<A>) => jsonResponse(doc.schema ?? schema, doc.answer);

  return {
    /** GET path: every row as `{items}`, filtered by `query` when the route takes one. */
    list: <Q extends z.ZodObject | undefined = undefined>(doc: RouteDoc & { items: string; query?: Q }) =>
      createRoute({
        method: 'get',
        path,
        ...common(doc),
        request: { query: doc.query as Q },
        responses: {
          200: jsonResponse(z.object({ items: z.array(schema) }), doc.items),
          ...errors<400 | 401 | 503>(doc, ...(doc.query ? [400 as const] : []), 401, 503),
        },
      }),

    /** GET path/{id}: one row, 404 when there is none. */
    get: (doc: RouteDoc & Answer<S>) =>
      createRoute({
        method: 'get',
        path: one,
        ...common(doc),
        request: { params: IdParams },
        responses: { 200: answer(doc), ...errors(doc, 401, 404, 503) },
      }),

    /** POST path: a new row, 201. */
    create: <B extends z.ZodType, A extends z.ZodType = S, E extends ErrorStatus = never, M extends RouteConfig['responses'] = {}>(
      doc: RouteDoc & Answer<A> & { body: B } & MoreAnswers<E, M>,
    ) =>
      createRoute({
        method: 'post',
        path,
        ...common(doc),
        request: { headers: idempotencyHeader, body: jsonBody(doc.body) },
        responses: { 201: answer(doc), ...errors<400 | 401 | 413 | 415 | 503 | E>(doc, 400, 401, 413, 415, 503, ...(doc.errors ?? [])), ...(doc.responses as M) },
      }),

    /** PATCH path/{id}: a change to a row, 200 with the row after it; 403 for who may not change it. */
    patch: <B extends z.ZodType>(doc: RouteDoc & Answer<S> & { body: B }) =>
      createRoute({
        method: 'patch',
        path: one,
        ...common(doc),
        request: { params: IdParams, headers: idempotencyHeader, body: jsonBody(doc.body) },
        responses: { 200: answer(doc), ...errorResponses(400, 401, 403, 404, 413, 415, 503) },
      }),

    /** DELETE path/{id}: 204; 403 for who may not delete it. */
    delete: (doc: RouteDoc) =>
      createRoute({
        method: 'delete',
        path: one,
        ...common(doc),
        request: { params: IdParams, headers: idempotencyHeader },
        responses: { 204: { description: 'Deleted' }, ...errorResponses(401, 403, 404, 503) },
      }),
  };
}
