/**
 * Which task a new comment goes to, the same way for conversations, publications and leads
 * (rules 4–8, 17, 18, 21): the owner's open task; else its last task reopened; else (no task yet,
 * or the channel's "new task if none is active") a new task from the channel's template, with
 * its assignees and its creator. Runs inside the caller's transaction.
 */
import { loadTemplate, resolveAssignees, settingsOf, type Tx } from '../db/queries/conversations.js';
import type { Channel, CustomFieldDef, Task, TaskKind } from '../db/schema.js';

export interface TaskTally {
  createdTaskIds: string[];
  reopenedTaskIds: string[];
}

/** The task for a new comment, given the owner's latest task; `create` makes a new one. */
export async function taskForNewComment(tx: Tx, channel: Channel, latest: Task | undefined, create: () => Promise<Task>, tally?: TaskTally): Promise<Task> {
  if (latest?.status === 'open') return latest;
  if (latest && !settingsOf(channel).createNewTaskIfNoActive) {
    const reopened = await tx
      .updateTable('tasks')
      .set({ status: 'open', completed_at: null, updated_at: new Date() })
      .where('id', '=', latest.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    tally?.reopenedTaskIds.push(reopened.id);
    return reopened;
  }
  const task = await create();
  tally?.createdTaskIds.push(task.id);
  return task;
}

export interface NewTask {
  kind: TaskKind;
  title: string;
  description?: string | null;
  workflowId: string;
  contactId?: string;
  conversationId?: string;
  /** The contact (a conversation), or the template's employee / the channel's configuring employee (rule 17). */
  createdBy: 'contact' | 'template';
  publication?: NonNullable<Task['publication']>;
  externalKey?: string;
  /** Custom field values from the template's fields (a lead's answers) and what did not fit; by default all empty. */
  fill?: (fields: CustomFieldDef[]) => { customFields: Record<string, unknown>; description?: string | null };
}

/** A new open task from the channel's template: assignees (rule 5), creator, empty or filled custom fields. */
export async function createTask(tx: Tx, channel: Channel, t: NewTask): Promise<Task> {
  const template = await loadTemplate(tx, channel);
  const fields = template?.custom_fields ?? [];
  const filled = t.fill?.(fields) ?? { customFields: Object.fromEntries(fields.map((f) => [f.name, null])) };
  const creator = t.createdBy === 'contact' ? { type: 'contact' as const, id: t.contactId! } : { type: 'employee' as const, id: await creatorOf(tx, channel, template) };
  return tx
    .insertInto('tasks')
    .values({
      kind: t.kind,
      title: t.title,
      description: filled.description ?? t.description ?? null,
      status: 'open',
      channel_id: channel.id,
      contact_id: t.contactId,
      conversation_id: t.conversationId,
      workflow_id: t.workflowId,
      template_id: template?.id ?? null,
      creator_type: creator.type,
      creator_id: creator.id,
      assignee_ids: JSON.stringify(await resolveAssignees(tx, channel, (template?.assignee_ids ?? []).map(String))),
      custom_fields: JSON.stringify(filled.customFields),
      publication: t.publication ? JSON.stringify(t.publication) : undefined,
      external_key: t.externalKey,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Rule 17: the template's employee, or the channel's configuring employee when it says so. */
async function creatorOf(tx: Tx, channel: Channel, template: Awaited<ReturnType<typeof loadTemplate>>): Promise<string> {
  if (template?.creator.type === 'employee' && template.creator.employeeId) return String(template.creator.employeeId);
  if (channel.created_by) return String(channel.created_by);
  const owner = await tx.selectFrom('employees').select('id').where('role', '=', 'owner').orderBy('id').executeTakeFirst();
  return owner?.id ?? '0';
}
