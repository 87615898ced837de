import type { ActivityDeps } from './deps.js';
import { notFound } from './failures.js';

export function taskActivities({ db }: ActivityDeps) {
  /** Complete or reopen a task; only the workflow that owns the task may change it. */
  async function setTaskStatus(input: { taskId: string; workflowId: string; status: 'open' | 'completed' }): Promise<{ taskId: string }> {
    const task = await db
      .updateTable('tasks')
      .set({
        status: input.status,
        completed_at: input.status === 'completed' ? new Date() : null,
        updated_at: new Date(),
      })
      .where('id', '=', input.taskId)
      .where('workflow_id', '=', input.workflowId)
      .returning('id')
      .executeTakeFirst();
    if (!task) throw notFound('task');
    return { taskId: task.id };
  }
  return { setTaskStatus };
}
