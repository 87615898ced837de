/**
 * Tasks and comments as the contract shows them: the zod schemas (also the OpenAPI document) and
 * the serializers from rows (api/routes/tasks.ts, api/routes/first-contact.ts).
 */
import { z } from '@hono/zod-openapi';
import type { CommentWithAttachments } from '../db/queries/tasks.js';
import type { Task, TaskSla } from '../db/schema.js';
import { IsoTime } from './schemas.js';
import { iso } from './serializers.js';

/** Who a comment or a task is from: its kind (`type`) and id. */
const party = <T extends string>(...types: [T, ...T[]]) => z.object({ type: z.enum(types), id: z.string() });

const CommentDirection = z.enum(['inbound', 'outbound', 'internal']);
const DeliveryStatus = z.enum(['pending', 'sent', 'delivered', 'read', 'failed', 'scheduled', 'held', 'cancelled', 'expired']).openapi({
  description: 'A reply to the contact: pending → sent → delivered → read, or failed. A reply that waits (issue 13): scheduled (until `scheduledFor`), ' +
    'held for a closed reply window (until the person writes, or `heldUntil`), then pending as it goes out — or cancelled (never sent) or expired (held, never sent).',
});
const TaskKind = z.enum(['conversation', 'publication', 'lead']);
const TaskStatus = z.enum(['open', 'completed']);

const AttachmentSchema = z
  .object({ id: z.string(), filename: z.string(), mimeType: z.string(), size: z.number(), url: z.string() })
  .openapi('Attachment');

const CommentEditSchema = z
  .object({
    text: z.string().openapi({ description: 'The text before this edit' }),
    editedAt: IsoTime.openapi({ description: 'When the edit replaced it' }),
    by: party('contact', 'employee', 'channel').openapi({ description: 'Who edited: the customer (contact), an agent (employee), or the company in the messenger (channel)' }),
  })
  .openapi('CommentEdit');

export const CommentSchema = z
  .object({
    id: z.string(),
    taskId: z.string(),
    direction: CommentDirection,
    author: party('contact', 'employee', 'channel'),
    text: z.string(),
    attachments: z.array(AttachmentSchema),
    notifyContact: z.boolean(),
    deliveryStatus: DeliveryStatus.optional(),
    deliveryError: z.object({ code: z.union([z.string(), z.number()]), message: z.string() }).optional(),
    scheduledFor: IsoTime.optional().openapi({ description: 'A scheduled reply (sendAt, undoSendSeconds): when it is (was) to go out' }),
    heldUntil: IsoTime.optional().openapi({ description: 'A reply held for a closed reply window: when it expires unsent' }),
    externalUrl: z.string().optional(),
    history: z.literal(true).optional(),
    broadcast: z.literal(true).optional(),
    deleted: z.literal(true).optional(),
    replyToCommentId: z.string().optional(),
    reactions: z.array(z.object({ by: z.enum(['contact', 'employee']), emoji: z.string() })).optional(),
    createdAt: IsoTime,
    editedAt: IsoTime.optional(),
    edits: z.array(CommentEditSchema).openapi({
      description:
        'Edit history, oldest first, for edits by agents and by the customer (in the messenger): each entry is an earlier version — ' +
        'the text as it was before the edit made at `editedAt` by `by`. The current text is `text`; no edits, an empty list.',
    }),
  })
  .openapi('Comment');

const TaskSlaSchema = z
  .object({
    kind: z.enum(['first', 'next']).openapi({ description: 'First response (a new task) or next response (after an agent answered)' }),
    startedAt: IsoTime.openapi({ description: "When the customer's message started the clock" }),
    dueAt: IsoTime.openapi({ description: 'When the target runs out (business hours counted in); fixed when the clock starts' }),
    breachedAt: IsoTime.optional().openapi({ description: 'The clock ran out unanswered (the escalation employees were assigned)' }),
    answeredAt: IsoTime.optional().openapi({ description: "An agent's notifying reply stopped the clock" }),
  })
  .openapi('TaskSla', { description: "The task's last response-time clock (channel setting `sla`): it runs while there is no answeredAt" });

export const TaskSummarySchema = z
  .object({
    id: z.string(),
    title: z.string(),
    kind: TaskKind,
    status: TaskStatus,
    channelId: z.string(),
    contactId: z.string().nullable(),
    creator: party('contact', 'employee'),
    assigneeIds: z.array(z.string()),
    customFields: z.record(z.string(), z.unknown()),
    description: z.string().optional(),
    publication: z.object({ type: z.enum(['wall', 'photo', 'video', 'topic']), url: z.string() }).optional(),
    createdAt: IsoTime,
    completedAt: IsoTime.optional(),
    sla: TaskSlaSchema.optional(),
  })
  .openapi('TaskSummary');

export const TaskSchema = TaskSummarySchema.extend({ comments: z.array(CommentSchema) }).openapi('Task');

export function serializeComment(c: CommentWithAttachments) {
  return {
    id: c.id,
    taskId: c.task_id,
    direction: c.direction,
    author: { type: c.author_type, id: c.author_id },
    text: c.text,
    attachments: c.attachments.map((a) => ({ id: a.id, filename: a.filename, mimeType: a.mime_type, size: Number(a.size), url: `/api/attachments/${a.id}` })),
    notifyContact: c.notify_contact,
    ...(c.delivery_status ? { deliveryStatus: c.delivery_status } : {}),
    ...(c.delivery_error ? { deliveryError: c.delivery_error } : {}),
    ...(c.scheduled_for ? { scheduledFor: iso(c.scheduled_for) } : {}),
    ...(c.held_until && c.delivery_status === 'held' ? { heldUntil: iso(c.held_until) } : {}),
    ...(c.external_url ? { externalUrl: c.external_url } : {}),
    ...(c.history ? { history: true as const } : {}),
    ...(c.broadcast ? { broadcast: true as const } : {}),
    ...(c.deleted_at ? { deleted: true as const } : {}),
    ...(c.reply_to_comment_id ? { replyToCommentId: c.reply_to_comment_id } : {}),
    ...(reactionsOf(c).length ? { reactions: reactionsOf(c) } : {}),
    createdAt: iso(c.created_at),
    ...(c.edited_at ? { editedAt: iso(c.edited_at) } : {}),
    edits: (c.edits ?? []).map((e) => ({ text: e.text, editedAt: iso(e.editedAt), by: { type: e.by.type, id: String(e.by.id) } })),
  };
}

function reactionsOf(c: CommentWithAttachments): Array<{ by: 'contact' | 'employee'; emoji: string }> {
  const r = (c.extra as { reactions?: Array<{ by: 'contact' | 'employee'; emoji: string }> } | null)?.reactions;
  return Array.isArray(r) ? r : [];
}

export function serializeTaskSummary(t: Task) {
  return {
    id: t.id,
    title: t.title,
    kind: t.kind,
    status: t.status,
    channelId: t.channel_id,
    contactId: t.contact_id,
    creator: { type: t.creator_type, id: t.creator_id },
    assigneeIds: (t.assignee_ids ?? []).map(String),
    customFields: t.custom_fields ?? {},
    ...(t.description ? { description: t.description } : {}),
    ...(t.publication ? { publication: { type: t.publication.type, url: t.publication.url } } : {}),
    createdAt: iso(t.created_at),
    ...(t.completed_at ? { completedAt: iso(t.completed_at) } : {}),
    ...(t.sla ? { sla: slaOf(t.sla) } : {}),
  };
}

function slaOf(s: TaskSla) {
  return {
    kind: s.kind,
    startedAt: iso(s.startedAt),
    dueAt: iso(s.dueAt),
    ...(s.breachedAt ? { breachedAt: iso(s.breachedAt) } : {}),
    ...(s.answeredAt ? { answeredAt: iso(s.answeredAt) } : {}),
  };
}
