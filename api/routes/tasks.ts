/**
 * The agent API: tasks, comments (internal or notifying the contact), edits, complete/reopen,
 * attachments. Reads come from the database; every change goes to the task's workflow as an
 * update, so the workflow orders it with what the channel reports.
 */
import type { Context } from 'hono';
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { channelDefinition } from '../../channels/index.js';
import { getQuickReply } from '../../db/queries/quick-replies.js';
import { getAttachment, getComment, getCommentBySourceKey, getTaskView, listTasks, taskTarget, type CommentWithAttachments } from '../../db/queries/tasks.js';
import { editCommentUpdate, postCommentUpdate, setTaskStatusUpdate } from '../../workflows/conversation.js';
import type { PublicationKind, PublicationRef, StoredFile } from '../../workflows/shared/types.js';
import type { UpdateDefinition } from '@temporalio/common';
import { attachUpdate, readAfterChange, requireOpenConversation, rowAfterUpdate, updateConversation, updateTaskOwner, type UpdateProgress, type UpdateRef } from '../conversations.js';
import type { Task } from '../../db/schema.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { ApiError, badRequest, notFound, parseId } from '../errors.js';
import { answerRetriesHere, idempotencyKeyOf, replayOf, requestIdFor, type Replay } from '../idempotency.js';
import { bearerSecurity, errorResponses, idempotencyHeader, IdInput, IdParams, IdQuery, jsonBody, jsonResponse } from '../schemas.js';
import { CommentSchema, serializeComment, serializeTaskSummary, TaskSchema, TaskSummarySchema } from '../task-json.js';
import { fingerprintsNamed, taskETag } from '../task-etag.js';
import { isWaiting, registerCancelRoute, replyWait, requireMayChange, waitFields } from './comment-waits.js';

// ---- schemas (also the OpenAPI document) ----

const FileInput = z.object({
  filename: z.string().trim().min(1).max(255),
  mimeType: z.string().regex(/^[\w.+-]+\/[\w.+-]+$/, 'must be a MIME type like image/png'),
  contentBase64: z.string().min(1),
});

const PostCommentBody = z
  .object({
    text: z.string().max(20_000).optional(),
    notifyContact: z.boolean().default(false),
    attachments: z.array(FileInput).max(10).default([]),
    quickReplyId: IdInput.optional(),
    variables: z.record(z.string(), z.union([z.string(), z.number()])).default({}),
    template: z.object({ name: z.string().min(1), language: z.string().min(2), parameters: z.array(z.string()).optional() }).optional(),
    replyToCommentId: IdInput.optional(),
    ...waitFields,
  })
  .openapi('PostComment');

/** Content types a browser would run or render as a document. */
const ACTIVE_TYPES = /^(text\/(html|xml|javascript|ecmascript)|application\/(xhtml\+xml|xml|javascript|ecmascript|x-javascript)|image\/svg\+xml)\b|\+xml$/i;

const TaskListQuery = z.object({
  status: z.enum(['open', 'completed']).optional(),
  channelId: IdQuery.optional(),
  contactId: IdQuery.optional(),
  kind: z.enum(['conversation', 'publication', 'lead']).optional(),
  limit: z.coerce.number().int().min(1).max(200).optional(),
  before: IdQuery.optional().openapi({ description: 'Only tasks with a smaller id (paging)' }),
  slaBreached: z.enum(['true', 'false']).optional().openapi({ description: 'Only tasks whose last response-time clock ran out (true) or did not (false)' }),
});

const IdempotencyKeyField = z.string().openapi({ description: 'The Idempotency-Key of this request (yours, or a generated one): retry with it to see the outcome' });

const commentAnswer = {
  201: jsonResponse(z.object({ comment: CommentSchema }), 'The comment; with notifyContact, after the channel accepted it'),
  202: jsonResponse(
    z.object({ comment: CommentSchema.optional(), idempotencyKey: IdempotencyKeyField }).openapi('PendingComment'),
    'Accepted, not finished within REPLY_WAIT_SECONDS: the send goes on and its outcome shows on the comment (`deliveryStatus: "pending"` until then; poll the task, ' +
      'or retry with the same Idempotency-Key to get the current state). `comment` is absent when the conversation has not written it yet (it is behind, e.g. the database is down); it will',
  ),
};

const taskIdParam = IdParams;

const pendingStatus = jsonResponse(
  z.object({ taskId: z.string(), idempotencyKey: IdempotencyKeyField }).openapi('PendingTaskStatus'),
  'Accepted, not finished within REPLY_WAIT_SECONDS (the conversation is behind): it will be; retry with the same Idempotency-Key to get the task',
);

const routes = {
  list: createRoute({
    method: 'get', path: '/api/tasks', tags: ['tasks'], summary: 'List tasks, newest first', security: bearerSecurity,
    request: { query: TaskListQuery },
    responses: { 200: jsonResponse(z.object({ items: z.array(TaskSummarySchema) }), 'Tasks'), ...errorResponses(400, 401, 503) },
  }),
  get: createRoute({
    method: 'get', path: '/api/tasks/{id}', tags: ['tasks'], summary: 'A task with its comments in order', security: bearerSecurity,
    description:
      'Every answer carries an `ETag`. A client that polls sends the last one back in `If-None-Match`: while nothing the read shows has changed ' +
      '(the task, its comments — new, edited, reacted to, delivered — or their attachments) the answer is `304` with no body, which costs the server one small query.',
    request: {
      params: taskIdParam,
      headers: z.object({
        'if-none-match': z.string().optional().openapi({ description: 'The `ETag` of the copy the client has: `304` while it is current' }),
      }),
    },
    responses: {
      200: { ...jsonResponse(TaskSchema, 'The task'), headers: z.object({ ETag: z.string().openapi({ description: 'Identifies this state of the read' }) }) },
      304: { description: 'Not modified: the copy named by If-None-Match is current', headers: z.object({ ETag: z.string() }) },
      ...errorResponses(401, 404, 503),
    },
  }),
  comment: createRoute({
    method: 'post', path: '/api/tasks/{id}/comments', tags: ['tasks'], security: bearerSecurity,
    summary: 'Comment on a task; with notifyContact the comment is sent to the person (rule 10)',
    description:
      'With notifyContact the answer waits up to REPLY_WAIT_SECONDS for the channel: 201 once it accepted, 422/502 when refused, 202 (`pending`) when the send is still going on. ' +
      'A reply that waits (`sendAt`, the channel\'s undoSendSeconds, `whenWindowClosed: "hold"`) is answered 202 with `deliveryStatus` "scheduled" or "held". ' +
      '503: nothing was done, or the conversation has not taken the reply yet (`details.reason: "not_accepted"`) — retry with the same Idempotency-Key.',
    request: { params: taskIdParam, headers: idempotencyHeader, body: jsonBody(PostCommentBody) },
    responses: { ...commentAnswer, ...errorResponses(400, 401, 404, 409, 413, 422, 502, 503) },
  }),
  edit: createRoute({
    method: 'patch', path: '/api/comments/{id}', tags: ['tasks'], security: bearerSecurity,
    summary: 'Edit an agent comment; a VK private-chat reply is edited in VK too (rule 13)',
    description: 'Waits up to REPLY_WAIT_SECONDS for the edit (in VK too); 202 when it is still being applied.',
    request: { params: IdParams, headers: idempotencyHeader, body: jsonBody(z.object({ text: z.string().min(1).max(20_000) })) },
    responses: {
      200: jsonResponse(z.object({ comment: CommentSchema }), 'The edited comment'),
      202: jsonResponse(
        z.object({ comment: CommentSchema.optional(), idempotencyKey: IdempotencyKeyField }).openapi('PendingEdit'),
        'The edit is accepted and still being applied (in VK): `comment` shows the text before it until it is done; retry with the same Idempotency-Key to see the outcome',
      ),
      ...errorResponses(400, 401, 403, 404, 409, 502, 503),
    },
  }),
  complete: createRoute({
    method: 'post', path: '/api/tasks/{id}/complete', tags: ['tasks'], summary: 'Complete a task', security: bearerSecurity,
    request: { params: taskIdParam, headers: idempotencyHeader },
    responses: { 200: jsonResponse(z.object({ task: TaskSchema }), 'The task'), 202: pendingStatus, ...errorResponses(401, 404, 503) },
  }),
  reopen: createRoute({
    method: 'post', path: '/api/tasks/{id}/reopen', tags: ['tasks'], summary: 'Reopen a task', security: bearerSecurity,
    request: { params: taskIdParam, headers: idempotencyHeader },
    responses: { 200: jsonResponse(z.object({ task: TaskSchema }), 'The task'), 202: pendingStatus, ...errorResponses(401, 404, 503) },
  }),
  attachment: createRoute({
    method: 'get', path: '/api/attachments/{id}', tags: ['tasks'], summary: "A file's bytes with its content type", security: bearerSecurity,
    request: { params: IdParams },
    responses: { 200: { description: 'The file', content: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } } }, ...errorResponses(401, 404) },
  }),
};

/** Rule 16: `{{name}}`-style placeholders from the request's variables, then the contact. */
export function fillPlaceholders(text: string, vars: Record<string, string | number>): string {
  return text.replace(/\{\{\s*([\w.]+)\s*\}\}/g, (whole, key: string) => (key in vars ? String(vars[key]) : whole));
}

// ---- handlers ----

/** The Temporal update an earlier attempt of this request is waiting for, if any. */
export function retryRef(replay: Replay | undefined): UpdateRef | undefined {
  const ref = replay?.state.update as UpdateRef | undefined;
  return ref && typeof ref.workflowId === 'string' && typeof ref.updateId === 'string' ? ref : undefined;
}

export function registerTaskRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  const { db, config, temporal } = deps;
  const replyDeadline = () => Date.now() + config.REPLY_WAIT_SECONDS * 1000;

  /** The task's JSON with its comments. */
  function taskJson(task: Task, comments: CommentWithAttachments[]) {
    return { ...serializeTaskSummary(task), comments: comments.map(serializeComment) };
  }

  async function fullTask(id: string) {
    const view = await getTaskView(db, id);
    if (!view) throw notFound('task', id);
    return taskJson(view.task, view.comments!);
  }

  async function target(taskId: string) {
    const t = await taskTarget(db, taskId);
    if (!t) throw notFound('task', taskId);
    return t;
  }

  type Target = NonNullable<Awaited<ReturnType<typeof taskTarget>>>;

  /**
   * Hands an agent action to the workflow that owns the task (conversation, publication, lead) and
   * waits up to `deadline`. A retry of a request whose update was accepted before waits for that
   * update again instead of sending it (`retry`).
   */
  async function runUpdate<Ret, Args extends [unknown, ...unknown[]]>(
    t: Target,
    update: UpdateDefinition<Ret, Args>,
    args: Args,
    requestId: string,
    deadline: number,
    retry: UpdateRef | undefined,
  ): Promise<UpdateProgress<Ret>> {
    if (retry) {
      const again = await attachUpdate<Ret>(temporal, retry, deadline);
      if (again) return again;
    }
    const ch = { channelId: t.channelId, channelKind: t.channelKind, channelExternalId: t.channelExternalId };
    if (t.kind === 'conversation') {
      requireOpenConversation(t);
      const seed = { contactId: t.contactId ?? undefined, lastInboundAt: t.lastInboundAt?.toISOString(), messagesAllowed: t.messagesAllowed ?? undefined };
      return updateConversation(temporal, config, { ...ch, peerId: t.peerId! }, seed, update, args, requestId, deadline);
    }
    if (t.kind === 'publication') {
      const p = t.publication as unknown as { type: PublicationRef["kind"]; ownerId: number; itemId: number };
      return updateTaskOwner(temporal, config, ch, { kind: 'publication', ref: { kind: p.type, ownerId: p.ownerId, itemId: p.itemId } }, update, args, requestId, deadline);
    }
    // A lead's workflow re-finds its task by the lead id; the rest of the lead is not needed again.
    const identity = t.taskContactId
      ? await db.selectFrom('contact_identities').select('external_id').where('contact_id', '=', t.taskContactId).where('channel_kind', '=', t.channelKind).executeTakeFirst()
      : undefined;
    const leadId = t.workflowId.split('/').at(-1)!;
    const stub = { leadId, formId: '', formName: '', userId: identity?.external_id ?? '0', answers: [], occurredAt: new Date(0).toISOString() };
    return updateTaskOwner(temporal, config, ch, { kind: 'lead', lead: stub }, update, args, requestId, deadline);
  }

  /**
   * The answer to a comment action once the update finished or the wait ran out: `done` with the
   * comment when finished; else 202 with the comment as it is now (the send or edit goes on) —
   * waiting up to REPLY_WAIT_SECONDS more for a comment the conversation has not written yet. A
   * retry comes back here: to the comment's current state, or to the update still running.
   */
  async function commentOutcome<R>(
    progress: UpdateProgress<R>,
    find: (p: UpdateProgress<R>) => Promise<CommentWithAttachments | undefined>,
  ): Promise<{ done: boolean; comment?: CommentWithAttachments; retryState: Record<string, unknown> }> {
    const { row: comment, progress: p } = await rowAfterUpdate(temporal, deps.logger, progress, find, replyDeadline());
    if (p.state === 'completed' && comment) return { done: true, comment, retryState: { commentId: comment.id } };
    return { done: false, comment, retryState: { update: p.ref } };
  }

  /** A retry of a finished comment action: the comment as it is now (or the first answer, if it is gone). */
  /** A retry of a finished reply or edit: the comment as it is now (and the retry is answered here). */
  async function replayedComment(c: Context<AppEnv>): Promise<CommentWithAttachments | undefined> {
    const replay = replayOf(c);
    if (!replay || typeof replay.state.commentId !== 'string' || retryRef(replay)) return undefined;
    const now = await getComment(db, replay.state.commentId);
    if (now) answerRetriesHere(c, replay.state);
    return now;
  }

  /** Rule 19: comments the channel lets us answer (VK: wall posts) are answered from the task; the rest in the messenger itself. */
  function checkReplyAllowed(t: Target, withFiles: boolean): void {
    if (t.kind === 'publication') {
      const p = t.publication as { type: PublicationKind; url: string };
      const { label, capabilities } = channelDefinition(t.channelKind);
      const support = capabilities.publications;
      if (!support?.answerable.includes(p.type)) {
        throw new ApiError(409, 'reply_in_vk', `comments under a ${p.type === 'topic' ? 'board topic' : p.type} are answered in ${label}`, { url: p.url });
      }
      if (withFiles && !support.repliesCarryFiles) throw new ApiError(409, 'not_supported', `replies under ${p.type} comments carry text only; attach files in ${label}`, { url: p.url });
    }
    if (t.kind === 'lead') throw new ApiError(409, 'not_supported', 'a lead has no conversation to reply in; write to the person from their private conversation');
  }

  app.openapi(routes.list, async (c) => {
    const q = c.req.valid('query');
    const rows = await listTasks(db, { ...q, beforeId: q.before, slaBreached: q.slaBreached === undefined ? undefined : q.slaBreached === 'true' });
    return c.json({ items: rows.map(serializeTaskSummary) }, 200);
  });

  app.openapi(routes.get, async (c) => {
    const id = parseId(c.req.valid('param').id, 'task');
    // One statement: it compares the fingerprint with the ones If-None-Match names, and reads the
    // comments only when the client's copy is not current.
    const view = await getTaskView(db, id, fingerprintsNamed(c.req.valid('header')['if-none-match'], id));
    if (!view) throw notFound('task', id);
    c.header('ETag', taskETag(id, view.fingerprint));
    c.header('Cache-Control', 'private, no-cache');
    if (!view.comments) return c.body(null, 304);
    return c.json(taskJson(view.task, view.comments), 200);
  });

  app.openapi(routes.comment, async (c) => {
    const taskId = parseId(c.req.valid('param').id, 'task');
    const replayed = await replayedComment(c);
    if (replayed && isWaiting(replayed)) return c.json({ comment: serializeComment(replayed), idempotencyKey: idempotencyKeyOf(c) }, 202);
    if (replayed) return c.json({ comment: serializeComment(replayed) }, 201);
    const body = c.req.valid('json');
    const t = await target(taskId);
    if (body.notifyContact) checkReplyAllowed(t, body.attachments.length > 0);
    const wait = replyWait(t, body);

    let text = body.text ?? '';
    if (body.quickReplyId !== undefined) {
      const qr = await getQuickReply(db, String(body.quickReplyId));
      if (!qr) throw badRequest('quickReplyId', 'no such quick reply');
      const contact = t.contactId ? await db.selectFrom('contacts').select('name').where('id', '=', t.contactId).executeTakeFirst() : undefined;
      const name = contact?.name ?? '';
      text = fillPlaceholders(qr.text, { name, firstName: name.split(' ')[0] ?? '', ...body.variables });
      if (body.text) text = `${text}\n${body.text}`;
    } else if (Object.keys(body.variables).length) {
      text = fillPlaceholders(text, body.variables);
    }

    // Everything is checked before any file is stored: a refused request leaves nothing behind.
    // Files are content-addressed: storing one again (a retry) changes nothing.
    const decoded = body.attachments.map((a, i) => {
      const bytes = Buffer.from(a.contentBase64, 'base64');
      if (bytes.length === 0 || bytes.toString('base64').replace(/=+$/, '') !== a.contentBase64.replace(/\s/g, '').replace(/=+$/, '')) {
        throw badRequest(`attachments.${i}.contentBase64`, 'is not valid base64');
      }
      return { a, bytes };
    });
    if (!text.trim() && decoded.length === 0 && !body.template) throw badRequest('text', 'a comment needs text, attachments or a template');
    if (body.replyToCommentId !== undefined) {
      const target = await db.selectFrom('comments').select('task_id').where('id', '=', String(body.replyToCommentId)).executeTakeFirst();
      if (!target || String(target.task_id) !== taskId) throw badRequest('replyToCommentId', 'is not a comment of this task');
    }
    const files: StoredFile[] = [];
    for (const { a, bytes } of decoded) files.push(await deps.files.put(new Uint8Array(bytes), { filename: a.filename, mimeType: a.mimeType }));

    const requestId = requestIdFor(c, 'comment');
    const progress = await runUpdate(t, postCommentUpdate, [
      {
        requestId,
        taskId,
        authorEmployeeId: c.get('employee').id,
        text,
        notifyContact: body.notifyContact,
        files,
        template: body.template,
        replyToCommentId: body.replyToCommentId === undefined ? undefined : String(body.replyToCommentId),
        ...wait,
      },
    ], requestId, replyDeadline(), retryRef(replayOf(c)));
    const out = await commentOutcome(progress, (p) => (p.state === 'completed' ? getComment(db, p.result.commentId) : getCommentBySourceKey(db, `req:${requestId}`)));
    answerRetriesHere(c, out.retryState);
    if (out.done && !isWaiting(out.comment!)) return c.json({ comment: serializeComment(out.comment!) }, 201);
    return c.json({ ...(out.comment ? { comment: serializeComment(out.comment) } : {}), idempotencyKey: idempotencyKeyOf(c) }, 202);
  });

  app.openapi(routes.edit, async (c) => {
    const commentId = parseId(c.req.valid('param').id, 'comment');
    const replayed = await replayedComment(c);
    if (replayed) return c.json({ comment: serializeComment(replayed) }, 200);
    const existing = await getComment(db, commentId);
    if (!existing) throw notFound('comment', commentId);
    const me = c.get('employee');
    requireMayChange(me, existing, 'edit');
    const t = await target(existing.task_id);
    const requestId = requestIdFor(c, 'edit');
    const progress = await runUpdate(t, editCommentUpdate, [
      { requestId, commentId, editorEmployeeId: me.id, text: c.req.valid('json').text },
    ], requestId, replyDeadline(), retryRef(replayOf(c)));
    const out = await commentOutcome(progress, () => getComment(db, commentId));
    answerRetriesHere(c, out.retryState);
    if (out.done) return c.json({ comment: serializeComment(out.comment!) }, 200);
    return c.json({ ...(out.comment ? { comment: serializeComment(out.comment) } : {}), idempotencyKey: idempotencyKeyOf(c) }, 202);
  });

  registerCancelRoute(app, db, { target, runUpdate, commentOutcome, replyDeadline, retryRef });

  for (const [route, status] of [[routes.complete, 'completed'], [routes.reopen, 'open']] as const) {
    app.openapi(route, async (c) => {
      const taskId = parseId(c.req.valid('param').id, 'task');
      const t = await target(taskId);
      const requestId = requestIdFor(c, 'status');
      const progress = await runUpdate(t, setTaskStatusUpdate, [{ requestId, taskId, status, employeeId: c.get('employee').id }], requestId, replyDeadline(), retryRef(replayOf(c)));
      const task = progress.state === 'completed' ? await readAfterChange(deps.logger, () => fullTask(taskId)) : undefined;
      if (task) return c.json({ task }, 200);
      answerRetriesHere(c, { update: progress.ref });
      return c.json({ taskId, idempotencyKey: idempotencyKeyOf(c) }, 202);
    });
  }

  app.openapi(routes.attachment, async (c) => {
    const a = await getAttachment(db, parseId(c.req.valid('param').id, 'attachment'));
    if (!a) throw notFound('attachment');
    const bytes = await deps.files.get(a.sha256);
    return c.body(Buffer.from(bytes) as unknown as ArrayBuffer, 200, {
      // Never rendered by a browser on our origin: active types (HTML, SVG, XML, scripts) go as
      // bytes, and the type is not sniffed.
      'content-type': ACTIVE_TYPES.test(a.mime_type) ? 'application/octet-stream' : a.mime_type,
      'x-content-type-options': 'nosniff',
      'content-length': String(bytes.byteLength),
      'content-disposition': `attachment; filename*=UTF-8''${encodeURIComponent(a.filename)}`,
    }) as never;
  });
}
