/**
 * VK publication threads (rules 17–21): one task per publication, its comments as comments;
 * lead forms as tasks. Each activity is one transaction, idempotent by the channel's ids.
 */
import { resolveDeadLetter } from '../db/queries/dead-letters.js';
import { adapterFor, ChannelPermanentError } from '../channels/types.js';
import { getChannelOrThrow, insertAttachments, loadTemplate, resolveAssignees, settingsOf, type Tx } from '../db/queries/conversations.js';
import type { Channel, StoredFileJson, Task } from '../db/schema.js';
import { placeholderPublication, type LeadEvent, type PublicationCommentEvent, type PublicationRef } from '../workflows/shared/types.js';
import type { ActivityDeps } from './deps.js';
import { toActivityFailure } from './failures.js';
import { currentAttempt, downloadInboundMedia, fileNoteLines, type DownloadedMedia } from './media.js';

export interface PublicationSnapshot {
  title: string;
  text: string;
  url: string;
  files: DownloadedMedia[];
}

/** Rule 17: the template's employee, or the channel's configuring employee when it says so. */
async function creatorOf(tx: Tx, channel: Channel, template: Awaited<ReturnType<typeof loadTemplate>>): Promise<string> {
  if (template?.creator.type === 'employee' && template.creator.employeeId) return String(template.creator.employeeId);
  if (channel.created_by) return String(channel.created_by);
  const owner = await tx.selectFrom('employees').select('id').where('role', '=', 'owner').orderBy('id').executeTakeFirst();
  return owner?.id ?? '0';
}

const storedFiles = (files: DownloadedMedia[]): StoredFileJson[] => files.flatMap((f) => (f.file ? [f.file] : []));
const linkLines = fileNoteLines;

export function publicationActivities({ db, files, adapters, logger }: ActivityDeps) {
  /** Fetches the publication once (title, text, link) and, unless switched off, its files. */
  async function fetchPublication(input: { channelId: string; ref: PublicationRef }): Promise<PublicationSnapshot> {
    const channel = await getChannelOrThrow(db, input.channelId);
    const support = adapterFor(adapters, channel.kind).publications;
    if (!support) throw new Error(`${channel.kind} has no publications`);
    let info;
    try {
      info = await support.fetch(channel, input.ref);
    } catch (err) {
      if (!(err instanceof ChannelPermanentError)) throw toActivityFailure(err);
      logger.warn({ channelId: channel.id, code: err.channelCode }, 'publication unavailable; the task gets a placeholder title');
      return placeholderPublication(input.ref);
    }
    // The publication's files, with the same limits and bounded tries as a message's files.
    const out = settingsOf(channel).attachPublicationFiles
      ? await downloadInboundMedia({ adapter: adapterFor(adapters, channel.kind), files, logger }, channel, info.media, currentAttempt())
      : [];
    return { title: info.title, text: info.text, url: info.url, files: out };
  }

  /**
   * Records a batch of a publication's comment events in order: the publication's task is found,
   * reopened or created (rules 17, 18, 7); new comments added with their author contact and a
   * direct link; edits and deletions applied (a deleted comment keeps its text, marked deleted).
   */
  async function recordPublicationEvents(input: {
    channelId: string;
    workflowId: string;
    ref: PublicationRef;
    publication?: PublicationSnapshot;
    events: Array<{ event: PublicationCommentEvent; contactId?: string; files: DownloadedMedia[] }>;
  }): Promise<{ taskId: string | null; needsPublication: boolean }> {
    return db.transaction().execute(async (tx) => {
      const channel = await getChannelOrThrow(tx, input.channelId);
      let latest = await tx.selectFrom('tasks').selectAll().where('workflow_id', '=', input.workflowId).orderBy('id', 'desc').executeTakeFirst();
      const firstNew = input.events.some((e) => e.event.action === 'new' && !isCommunity(e.event));
      if (!latest && firstNew && !input.publication) return { taskId: null, needsPublication: true };

      const taskForNew = async (): Promise<Task> => {
        if (latest?.status === 'open') return latest;
        if (latest && !settingsOf(channel).createNewTaskIfNoActive) {
          latest = await tx.updateTable('tasks').set({ status: 'open', completed_at: null, updated_at: new Date() }).where('id', '=', latest.id).returningAll().executeTakeFirstOrThrow();
          return latest;
        }
        const firstAt = input.events.map((e) => e.event.occurredAt).sort()[0];
        latest = await createPublicationTask(tx, channel, input.workflowId, input.ref, input.publication, firstAt);
        return latest;
      };

      for (const { event, contactId, files } of input.events) {
        if (event.retryOf) await resolveDeadLetter(tx, event.retryOf);
        const key = `pub:${channel.id}:${input.ref.kind}:${input.ref.ownerId}_${input.ref.itemId}:${event.commentId}`;
        const existing = await tx.selectFrom('comments').select(['id', 'edited_at']).where('source_key', '=', key).executeTakeFirst();
        const text = [event.text, ...linkLines(files)].filter((s) => s).join('\n');
        if (event.action === 'new' || (!existing && (event.action === 'edit' || event.action === 'restore'))) {
          if (existing) continue;
          // The community's own comments are observed outgoing; they never start a task.
          if (isCommunity(event) && !latest) continue;
          const task = isCommunity(event) ? latest! : await taskForNew();
          const replyTo = event.replyToCommentId
            ? await tx.selectFrom('comments').select('id').where('task_id', '=', task.id).where('external_id', '=', event.replyToCommentId).executeTakeFirst()
            : undefined;
          const comment = await tx
            .insertInto('comments')
            .values({
              task_id: task.id,
              direction: isCommunity(event) ? 'outbound' : 'inbound',
              author_type: isCommunity(event) ? 'channel' : 'contact',
              author_id: isCommunity(event) ? channel.id : (contactId ?? event.fromId),
              text,
              external_id: event.commentId,
              external_url: event.externalUrl,
              source_key: key,
              reply_to_comment_id: replyTo?.id ?? null,
              created_at: event.occurredAt,
              edited_at: event.action === 'edit' ? event.occurredAt : null,
            })
            .returning('id')
            .executeTakeFirstOrThrow();
          await insertAttachments(tx, comment.id, storedFiles(files));
        } else if (existing && event.action === 'edit') {
          if (!existing.edited_at || existing.edited_at.toISOString() < event.occurredAt) {
            await tx.updateTable('comments').set({ text, edited_at: event.occurredAt, deleted_at: null }).where('id', '=', existing.id).execute();
          }
        } else if (existing && event.action === 'delete') {
          await tx.updateTable('comments').set({ deleted_at: event.occurredAt }).where('id', '=', existing.id).execute();
        } else if (existing && event.action === 'restore') {
          await tx.updateTable('comments').set({ deleted_at: null }).where('id', '=', existing.id).execute();
        }
      }
      return { taskId: latest?.id ?? null, needsPublication: false };
    });
  }

  /**
   * Rule 21: a lead becomes a task from the channel's template; custom fields named like the
   * questions (case and spaces ignored) get the answers, the rest go to the description.
   * Idempotent by the lead id.
   */
  async function recordLead(input: { channelId: string; workflowId: string; lead: LeadEvent; contactId: string }): Promise<{ taskId: string }> {
    return db.transaction().execute(async (tx) => {
      if (input.lead.retryOf) await resolveDeadLetter(tx, input.lead.retryOf);
      const key = `lead:${input.channelId}:${input.lead.leadId}`;
      const existing = await tx.selectFrom('tasks').select('id').where('external_key', '=', key).executeTakeFirst();
      if (existing) return { taskId: existing.id };
      const channel = await getChannelOrThrow(tx, input.channelId);
      const template = await loadTemplate(tx, channel);
      const norm = (s: string) => s.toLocaleLowerCase('ru').replace(/\s+/g, '');
      const fields = new Map((template?.custom_fields ?? []).map((f) => [norm(f.name), f.name]));
      const customFields: Record<string, unknown> = Object.fromEntries((template?.custom_fields ?? []).map((f) => [f.name, null]));
      const unmatched: string[] = [];
      for (const a of input.lead.answers) {
        const field = fields.get(norm(a.question));
        if (field) customFields[field] = a.answer;
        else unmatched.push(`${a.question}: ${a.answer}`);
      }
      const contact = await tx.selectFrom('contacts').select('name').where('id', '=', input.contactId).executeTakeFirstOrThrow();
      const task = await tx
        .insertInto('tasks')
        .values({
          kind: 'lead',
          title: `${input.lead.formName}: ${contact.name}`,
          description: unmatched.length ? unmatched.join('\n') : null,
          status: 'open',
          channel_id: channel.id,
          contact_id: input.contactId,
          workflow_id: input.workflowId,
          template_id: template?.id ?? null,
          creator_type: 'employee',
          creator_id: await creatorOf(tx, channel, template),
          assignee_ids: JSON.stringify(await resolveAssignees(tx, channel, (template?.assignee_ids ?? []).map(String))),
          custom_fields: JSON.stringify(customFields),
          external_key: key,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      return { taskId: task.id };
    });
  }

  return { fetchPublication, recordPublicationEvents, recordLead };
}

function isCommunity(event: PublicationCommentEvent): boolean {
  return event.fromId.startsWith('-');
}

async function createPublicationTask(tx: Tx, channel: Channel, workflowId: string, ref: PublicationRef, p: PublicationSnapshot | undefined, firstCommentAt?: string): Promise<Task> {
  const template = await loadTemplate(tx, channel);
  const type = ref.kind;
  const task = await tx
    .insertInto('tasks')
    .values({
      kind: 'publication',
      title: p?.title || placeholderPublication(ref).title,
      description: p?.text || null,
      status: 'open',
      channel_id: channel.id,
      workflow_id: workflowId,
      template_id: template?.id ?? null,
      creator_type: 'employee',
      creator_id: await creatorOf(tx, channel, template),
      assignee_ids: JSON.stringify(await resolveAssignees(tx, channel, (template?.assignee_ids ?? []).map(String))),
      custom_fields: JSON.stringify(Object.fromEntries((template?.custom_fields ?? []).map((f) => [f.name, null]))),
      publication: JSON.stringify({ type, url: p?.url ?? '', ownerId: ref.ownerId, itemId: ref.itemId }),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  if (p && (p.files.length || p.text)) {
    // The publication itself, with its files (rule 20 may have left them out).
    const c = await tx
      .insertInto('comments')
      .values({
        task_id: task.id,
        direction: 'outbound',
        author_type: 'channel',
        author_id: channel.id,
        text: [p.text, ...linkLines(p.files)].filter((s) => s).join('\n'),
        external_url: p.url || null,
        source_key: `pubpost:${task.id}`,
        // Shown first: the publication comes before the comments under it.
        ...(firstCommentAt ? { created_at: new Date(Date.parse(firstCommentAt) - 1000) } : {}),
        extra: JSON.stringify({ publication: true }),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    await insertAttachments(tx, c.id, storedFiles(p.files));
  }
  return task;
}
