/** Task templates: what a new task is made from (creator, assignees, custom fields). */
import { z, type OpenAPIHono } from '@hono/zod-openapi';
import { missingEmployeeIds } from '../../db/queries/employees.js';
import { getTemplate, insertTemplate, listTemplates } from '../../db/queries/templates.js';
import type { TemplateCreator } from '../../db/schema.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { badRequest, notFound, parseId } from '../errors.js';
import { commitAnswer } from '../idempotency.js';
import { apiResource, MANAGERS } from '../route-specs.js';
import { IdInput, idString, IsoTime } from '../schemas.js';
import { serializeTemplate } from '../serializers.js';

const CustomFieldSchema = z
  .object({
    name: z.string().trim().min(1).max(200),
    type: z.enum(['text', 'number', 'date', 'phone', 'email']),
  })
  .openapi('CustomField');

const CreatorInput = z
  .discriminatedUnion('type', [
    z.object({ type: z.literal('employee'), employeeId: IdInput }),
    z.object({ type: z.literal('channelOwner') }),
  ])
  .openapi('TemplateCreatorInput', {
    description: '`employee`: that employee sets the tasks; `channelOwner`: the channel\'s configuring employee (rule 17)',
  });

const CreateTemplateBody = z
  .object({
    name: z.string().trim().min(1).max(500).openapi({ example: 'Customer conversation' }),
    creator: CreatorInput,
    assigneeIds: z.array(IdInput).max(100).default([]),
    customFields: z.array(CustomFieldSchema).max(100).default([]),
  })
  .openapi('CreateTaskTemplate');

export const TaskTemplateSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    creator: z.discriminatedUnion('type', [
      z.object({ type: z.literal('employee'), employeeId: z.string() }),
      z.object({ type: z.literal('channelOwner') }),
    ]),
    assigneeIds: z.array(z.string()),
    customFields: z.array(CustomFieldSchema),
    createdBy: z.string().nullable(),
    createdAt: IsoTime,
  })
  .openapi('TaskTemplate');

const templates = apiResource('/api/task-templates', 'task templates', TaskTemplateSchema);

const createTemplateRoute = templates.create({
  summary: 'Create a task template (owner/admin)',
  roles: MANAGERS,
  body: CreateTemplateBody,
  answer: 'The template',
});
const listTemplatesRoute = templates.list({ summary: 'List task templates', items: 'All templates' });
const getTemplateRoute = templates.get({ summary: 'One task template', answer: 'The template' });

export function registerTaskTemplateRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  app.openapi(createTemplateRoute, async (c) => {
    const me = c.get('employee');
    const body = c.req.valid('json');

    const names = new Set<string>();
    for (const [i, f] of body.customFields.entries()) {
      const key = f.name.toLowerCase();
      if (names.has(key)) throw badRequest(`customFields.${i}.name`, `duplicate custom field name "${f.name}"`);
      names.add(key);
    }

    let creator: TemplateCreator = { type: 'channelOwner' };
    if (body.creator.type === 'employee') {
      const employeeId = idString(body.creator.employeeId);
      if ((await missingEmployeeIds(deps.db, [employeeId])).length > 0) {
        throw badRequest('creator.employeeId', `employee ${employeeId} does not exist`, { missing: [employeeId] });
      }
      creator = { type: 'employee', employeeId };
    }
    const assigneeIds = [...new Set(body.assigneeIds.map(idString))];
    const missing = await missingEmployeeIds(deps.db, assigneeIds);
    if (missing.length > 0) throw badRequest('assigneeIds', `no such employee: ${missing.join(', ')}`, { missing });

    const answer = await deps.db.transaction().execute(async (trx) => {
      const row = serializeTemplate(await insertTemplate(trx, { name: body.name, creator, assigneeIds, customFields: body.customFields, createdBy: me.id }));
      await commitAnswer(c, trx, 201, row);
      return row;
    });
    return c.json(answer, 201);
  });

  app.openapi(listTemplatesRoute, async (c) => {
    const rows = await listTemplates(deps.db);
    return c.json({ items: rows.map(serializeTemplate) }, 200);
  });

  app.openapi(getTemplateRoute, async (c) => {
    const id = parseId(c.req.valid('param').id, 'task template');
    const row = await getTemplate(deps.db, id);
    if (!row) throw notFound('task template', id);
    return c.json(serializeTemplate(row), 200);
  });
}
