/** Employees: owners and admins manage them; the API token is shown once, at creation. */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { insertEmployee, listEmployees } from '../../db/queries/employees.js';
import { hashToken, newToken, requireRole } from '../auth.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { forbidden } from '../errors.js';
import { commitAnswer } from '../idempotency.js';
import { bearerSecurity, errorResponses, idempotencyHeader, IsoTime, jsonBody, jsonResponse } from '../schemas.js';
import { serializeEmployee } from '../serializers.js';

const RoleSchema = z.enum(['owner', 'admin', 'agent']).openapi('Role');

export const EmployeeSchema = z
  .object({
    id: z.string().openapi({ example: '2' }),
    name: z.string(),
    role: RoleSchema,
    email: z.string().optional(),
    createdAt: IsoTime,
  })
  .openapi('Employee');

const CreateEmployeeBody = z
  .object({
    name: z.string().trim().min(1).max(200).openapi({ example: 'Anna' }),
    email: z.email().max(320).nullish().openapi({ example: 'anna@example.com' }),
    role: RoleSchema,
  })
  .openapi('CreateEmployee');

const CreatedEmployeeSchema = EmployeeSchema.extend({
  token: z.string().openapi({ description: 'The API token (`tw_…`). Shown only in this answer; store it now.', example: 'tw_3q2+…' }),
}).openapi('CreatedEmployee');

const managers = requireRole('owner', 'admin');

const createEmployee = createRoute({
  method: 'post',
  path: '/api/employees',
  tags: ['employees'],
  summary: 'Create an employee (owner/admin; only an owner may create an owner)',
  security: bearerSecurity,
  middleware: [managers] as const,
  request: { headers: idempotencyHeader, body: jsonBody(CreateEmployeeBody) },
  responses: {
    201: jsonResponse(CreatedEmployeeSchema, 'The employee, with its API token (shown only here)'),
    ...errorResponses(400, 401, 403, 413, 415, 503),
  },
});

const listEmployeesRoute = createRoute({
  method: 'get',
  path: '/api/employees',
  tags: ['employees'],
  summary: 'List employees (owner/admin)',
  security: bearerSecurity,
  middleware: [managers] as const,
  responses: {
    200: jsonResponse(z.object({ items: z.array(EmployeeSchema) }), 'All employees'),
    ...errorResponses(401, 403, 503),
  },
});

export function registerEmployeeRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  app.openapi(createEmployee, async (c) => {
    const me = c.get('employee');
    const body = c.req.valid('json');
    if (body.role === 'owner' && me.role !== 'owner') throw forbidden('only an owner may create another owner');
    const token = newToken();
    const created = await deps.db.transaction().execute(async (trx) => {
      const employee = await insertEmployee(trx, { name: body.name, email: body.email ?? null, role: body.role, tokenHash: hashToken(token) });
      const answer = { ...serializeEmployee(employee), token };
      await commitAnswer(c, trx, 201, answer);
      return answer;
    });
    deps.logger.info({ employeeId: created.id, role: created.role, by: me.id }, 'employee created');
    return c.json(created, 201);
  });

  app.openapi(listEmployeesRoute, async (c) => {
    const rows = await listEmployees(deps.db);
    return c.json({ items: rows.map(serializeEmployee) }, 200);
  });
}
