/**
 * VK publication threads (rules 17–21): one task per publication, its comments as comments;
 * lead forms as tasks. Each activity is one transaction, idempotent by the channel's ids.
 */
import { resolveDeadLetter } from '../db/queries/dead-letters.js';
import { adapterFor, ChannelPermanentError } from '../channels/types.js';
import { getChannelOrThrow, settingsOf, type Tx } from '../db/queries/conversations.js';
import type { Channel, Task } from '../db/schema.js';
import { placeholderPublication, type LeadEvent, type PublicationCommentEvent, type PublicationRef } from '../workflows/shared/types.js';
import { addComment, commentBySourceKey, editCommentText, storedFiles, withFileNotes } from './comment-records.js';
import type { ActivityDeps } from './deps.js';
import { toActivityFailure } from './failures.js';
import { currentAttempt, downloadInboundMedia, type DownloadedMedia } from './media.js';
import { createTask, taskForNewComment } from './task-resolution.js';

export interface PublicationSnapshot {
  title: string;
  text: string;
  url: string;
  files: DownloadedMedia[];
}

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

      const firstAt = input.events.map((e) => e.event.occurredAt).sort()[0];
      const create = () => createPublicationTask(tx, channel, input.workflowId, input.ref, input.publication, firstAt);
      const taskForNew = async (): Promise<Task> => (latest = await taskForNewComment(tx, channel, latest, create));

      for (const { event, contactId, files } of input.events) {
        if (event.retryOf) await resolveDeadLetter(tx, event.retryOf);
        const key = `pub:${channel.id}:${input.ref.kind}:${input.ref.ownerId}_${input.ref.itemId}:${event.commentId}`;
        const existing = await commentBySourceKey(tx, key);
        const text = withFileNotes(event.text, files);
        if (event.action === 'new' || (!existing && (event.action === 'edit' || event.action === 'restore'))) {
          if (existing) continue;
          // The community's own comments are observed outgoing; they never start a task.
          if (isCommunity(event) && !latest) continue;
          const task = isCommunity(event) ? latest! : await taskForNew();
          const replyTo = event.replyToCommentId
            ? await tx.selectFrom('comments').select('id').where('task_id', '=', task.id).where('external_id', '=', event.replyToCommentId).executeTakeFirst()
            : undefined;
          await addComment(tx, {
            taskId: task.id,
            direction: isCommunity(event) ? 'outbound' : 'inbound',
            authorId: isCommunity(event) ? channel.id : (contactId ?? event.fromId),
            text,
            files: storedFiles(files),
            externalId: event.commentId,
            externalUrl: event.externalUrl,
            sourceKey: key,
            replyToCommentId: replyTo?.id ?? null,
            createdAt: event.occurredAt,
            editedAt: event.action === 'edit' ? event.occurredAt : null,
          });
        } else if (existing && event.action === 'edit') {
          if (!existing.edited_at || existing.edited_at.toISOString() < event.occurredAt) {
            await editCommentText(tx, existing.id, { text, editedAt: event.occurredAt, by: { type: existing.author_type, id: existing.author_id }, set: { deleted_at: null } });
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
      const contact = await tx.selectFrom('contacts').select('name').where('id', '=', input.contactId).executeTakeFirstOrThrow();
      const task = await createTask(tx, channel, {
        kind: 'lead',
        title: `${input.lead.formName}: ${contact.name}`,
        workflowId: input.workflowId,
        contactId: input.contactId,
        createdBy: 'template',
        externalKey: key,
        fill: (fields) => leadFields(fields.map((f) => f.name), input.lead.answers),
      });
      return { taskId: task.id };
    });
  }

  return { fetchPublication, recordPublicationEvents, recordLead };
}

function isCommunity(event: PublicationCommentEvent): boolean {
  return event.fromId.startsWith('-');
}

/** Rule 21: custom fields named like the questions (case and spaces ignored) get the answers, the rest go to the description. */
function leadFields(names: string[], answers: LeadEvent['answers']): { customFields: Record<string, unknown>; description: string | null } {
  const norm = (s: string) => s.toLocaleLowerCase('ru').replace(/\s+/g, '');
  const fields = new Map(names.map((name) => [norm(name), name]));
  const customFields: Record<string, unknown> = Object.fromEntries(names.map((name) => [name, null]));
  const unmatched: string[] = [];
  for (const a of answers) {
    const field = fields.get(norm(a.question));
    if (field) customFields[field] = a.answer;
    else unmatched.push(`${a.question}: ${a.answer}`);
  }
  return { customFields, description: unmatched.length ? unmatched.join('\n') : null };
}

async function createPublicationTask(tx: Tx, channel: Channel, workflowId: string, ref: PublicationRef, p: PublicationSnapshot | undefined, firstCommentAt?: string): Promise<Task> {
  const task = await createTask(tx, channel, {
    kind: 'publication',
    title: p?.title || placeholderPublication(ref).title,
    description: p?.text || null,
    workflowId,
    createdBy: 'template',
    publication: { type: ref.kind, url: p?.url ?? '', ownerId: ref.ownerId, itemId: ref.itemId },
  });
  if (p && (p.files.length || p.text)) {
    // The publication itself, with its files (rule 20 may have left them out).
    await addComment(tx, {
      taskId: task.id,
      direction: 'outbound',
      authorId: channel.id,
      text: withFileNotes(p.text, p.files),
      files: storedFiles(p.files),
      externalUrl: p.url || null,
      sourceKey: `pubpost:${task.id}`,
      // Shown first: the publication comes before the comments under it.
      createdAt: firstCommentAt ? new Date(Date.parse(firstCommentAt) - 1000) : undefined,
      extra: { publication: true },
    });
  }
  return task;
}
