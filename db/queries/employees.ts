import type { Kysely, Transaction } from 'kysely';
import type { Database, Employee, Role } from '../schema.js';

type Q = Kysely<Database> | Transaction<Database>;

export async function findEmployeeByTokenHash(db: Q, tokenHash: string): Promise<Employee | undefined> {
  return db.selectFrom('employees').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
}

export async function getEmployee(db: Q, id: string): Promise<Employee | undefined> {
  return db.selectFrom('employees').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function listEmployees(db: Q): Promise<Employee[]> {
  return db.selectFrom('employees').selectAll().orderBy('id').execute();
}

export async function insertEmployee(
  db: Q,
  e: { name: string; email?: string | null; role: Role; tokenHash: string },
): Promise<Employee> {
  return db
    .insertInto('employees')
    .values({ name: e.name, email: e.email ?? null, role: e.role, token_hash: e.tokenHash })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function countEmployees(db: Q): Promise<number> {
  const row = await db.selectFrom('employees').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The account owner (the first one if there are several): rule 5's last fallback assignee. */
export async function findOwner(db: Q): Promise<Employee | undefined> {
  return db.selectFrom('employees').selectAll().where('role', '=', 'owner').orderBy('id').limit(1).executeTakeFirst();
}

/** Which of `ids` name no employee (order kept, duplicates dropped). Non-numeric ids never exist. */
export async function missingEmployeeIds(db: Q, ids: readonly string[]): Promise<string[]> {
  const unique = [...new Set(ids)];
  const numeric = unique.filter((id) => /^[1-9]\d{0,17}$/.test(id));
  const found = numeric.length
    ? new Set((await db.selectFrom('employees').select('id').where('id', 'in', numeric).execute()).map((r) => String(r.id)))
    : new Set<string>();
  return unique.filter((id) => !found.has(id));
}
