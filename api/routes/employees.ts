/** Employees: owners and admins manage them; the API token is shown once, at creation. */
import { z, type OpenAPIHono } from '@hono/zod-openapi';
import { insertEmployee, listEmployees } from '../../db/queries/employees.js';
import { hashToken, newToken } from '../auth.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { forbidden } from '../errors.js';
import { commitAnswer } from '../idempotency.js';
import { apiResource, MANAGERS } from '../route-specs.js';
import { IsoTime } from '../schemas.js';
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

const employees = apiResource('/api/employees', 'employees', EmployeeSchema);

const createEmployee = employees.create({
  summary: 'Create an employee (owner/admin; only an owner may create an owner)',
  roles: MANAGERS,
  body: CreateEmployeeBody,
  schema: CreatedEmployeeSchema,
  answer: 'The employee, with its API token (shown only here)',
});
const listEmployeesRoute = employees.list({ summary: 'List employees (owner/admin)', roles: MANAGERS, items: 'All employees' });

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
