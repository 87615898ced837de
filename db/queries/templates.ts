import type { Kysely, Transaction } from 'kysely';
import type { CustomFieldDef, Database, TaskTemplate, TemplateCreator } from '../schema.js';

type Q = Kysely<Database> | Transaction<Database>;

export async function insertTemplate(
  db: Q,
  t: { name: string; creator: TemplateCreator; assigneeIds: string[]; customFields: CustomFieldDef[]; createdBy: string | null },
): Promise<TaskTemplate> {
  return db
    .insertInto('task_templates')
    .values({
      name: t.name,
      creator: JSON.stringify(t.creator),
      assignee_ids: JSON.stringify(t.assigneeIds),
      custom_fields: JSON.stringify(t.customFields),
      created_by: t.createdBy,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function getTemplate(db: Q, id: string): Promise<TaskTemplate | undefined> {
  if (!/^[1-9]\d{0,17}$/.test(id)) return undefined;
  return db.selectFrom('task_templates').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function listTemplates(db: Q): Promise<TaskTemplate[]> {
  return db.selectFrom('task_templates').selectAll().orderBy('id').execute();
}
