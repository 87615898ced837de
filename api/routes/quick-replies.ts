/**
 * Quick replies (rule 16): saved answers an agent sends by id. `text` may hold `{{name}}`-style
 * placeholders, filled when a comment is posted with `quickReplyId` (from `variables` and the contact).
 * Anyone may read and create; the author, an owner or an admin may change or delete.
 */
import { z, type OpenAPIHono } from '@hono/zod-openapi';
import { deleteQuickReply, getQuickReply, insertQuickReply, listQuickReplies, updateQuickReply } from '../../db/queries/quick-replies.js';
import type { Employee, QuickReply } from '../../db/schema.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { forbidden, notFound, parseId } from '../errors.js';
import { commitAnswer } from '../idempotency.js';
import { apiResource } from '../route-specs.js';
import { IsoTime } from '../schemas.js';
import { serializeQuickReply } from '../serializers.js';

const Title = z.string().trim().min(1).max(200).openapi({ example: 'Greeting' });
const Text = z.string().min(1).max(10_000).openapi({ example: 'Hello, {{name}}! How can we help?' });

export const QuickReplySchema = z
  .object({
    id: z.string(),
    title: z.string(),
    text: z.string(),
    createdBy: z.string().nullable(),
    createdAt: IsoTime,
    updatedAt: IsoTime,
  })
  .openapi('QuickReply');

const quickReplies = apiResource('/api/quick-replies', 'quick replies', QuickReplySchema);

const listRoute = quickReplies.list({ summary: 'List quick replies', items: 'All quick replies, by title' });
const getRoute = quickReplies.get({ summary: 'One quick reply', answer: 'The quick reply' });
const createQuickReplyRoute = quickReplies.create({
  summary: 'Save a quick reply',
  body: z.object({ title: Title, text: Text }).openapi('CreateQuickReply'),
  answer: 'The quick reply',
});
const patchRoute = quickReplies.patch({
  summary: 'Change a quick reply (its author, an owner or an admin)',
  body: z.strictObject({ title: Title.optional(), text: Text.optional() }).openapi('PatchQuickReply'),
  answer: 'The quick reply after the change',
});
const deleteRoute = quickReplies.delete({ summary: 'Delete a quick reply (its author, an owner or an admin)' });

function assertMayChange(me: Employee, q: QuickReply): void {
  if (me.role === 'owner' || me.role === 'admin') return;
  if (q.created_by !== null && String(q.created_by) === String(me.id)) return;
  throw forbidden('only the author of a quick reply, an owner or an admin may change it');
}

export function registerQuickReplyRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  const { db } = deps;

  app.openapi(listRoute, async (c) => c.json({ items: (await listQuickReplies(db)).map(serializeQuickReply) }, 200));

  app.openapi(getRoute, async (c) => {
    const id = parseId(c.req.valid('param').id, 'quick reply');
    const row = await getQuickReply(db, id);
    if (!row) throw notFound('quick reply', id);
    return c.json(serializeQuickReply(row), 200);
  });

  app.openapi(createQuickReplyRoute, async (c) => {
    const body = c.req.valid('json');
    const answer = await db.transaction().execute(async (trx) => {
      const row = serializeQuickReply(await insertQuickReply(trx, { title: body.title, text: body.text, createdBy: c.get('employee').id }));
      await commitAnswer(c, trx, 201, row);
      return row;
    });
    return c.json(answer, 201);
  });

  app.openapi(patchRoute, async (c) => {
    const id = parseId(c.req.valid('param').id, 'quick reply');
    const body = c.req.valid('json');
    const answer = await db.transaction().execute(async (trx) => {
      const current = await getQuickReply(trx, id);
      if (!current) throw notFound('quick reply', id);
      assertMayChange(c.get('employee'), current);
      const row = await updateQuickReply(trx, id, body);
      if (!row) throw notFound('quick reply', id);
      await commitAnswer(c, trx, 200, serializeQuickReply(row));
      return serializeQuickReply(row);
    });
    return c.json(answer, 200);
  });

  app.openapi(deleteRoute, async (c) => {
    const id = parseId(c.req.valid('param').id, 'quick reply');
    await db.transaction().execute(async (trx) => {
      const current = await getQuickReply(trx, id);
      if (!current) throw notFound('quick reply', id);
      assertMayChange(c.get('employee'), current);
      if (!(await deleteQuickReply(trx, id))) throw notFound('quick reply', id);
      await commitAnswer(c, trx, 204, undefined);
    });
    return c.body(null, 204);
  });
}
