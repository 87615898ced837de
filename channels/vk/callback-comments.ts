/**
 * Comment events under community publications (§3.5): wall_reply_* / photo_comment_* /
 * video_comment_* / board_post_* → the publication they belong to and the comment event.
 */
import { z } from 'zod';
import type { MediaRef, PublicationCommentEvent, PublicationKind, PublicationRef } from '../../workflows/shared/types.js';
import { fnv1a32, unixToIso } from '../text.js';
import { parseWith, type VkEventContext, type VkPublicationReceiveKind } from './callback-types.js';
import { vkCommentUrl } from './links.js';
import { renderVkContent, unixSeconds } from './render.js';

const int = z.number().int();
const optionalInt = z.number().int().optional();

/**
 * new/edit/restore carry the comment object plus the location fields; delete events carry ids
 * only. Location owner fields are all optional here: which one a kind uses (and its sign) varies,
 * see `ownerOf`.
 */
const commentSchema = z.object({
  id: int.positive(),
  from_id: int,
  date: unixSeconds,
  text: z.string().optional().default(''),
  attachments: z.array(z.unknown()).optional().default([]),
  reply_to_comment: optionalInt,
  parents_stack: z.array(z.number()).optional().catch(undefined),
});
const commentDeleteSchema = z.object({
  id: int.positive(),
  deleter_id: optionalInt,
  user_id: optionalInt,
});
const ownerFieldsSchema = z.object({
  owner_id: optionalInt,
  post_owner_id: optionalInt,
  photo_owner_id: optionalInt,
  video_owner_id: optionalInt,
  topic_owner_id: optionalInt,
});

export interface PublicationEventSpec {
  kind: PublicationKind;
  receiveKind: VkPublicationReceiveKind;
  /** Field with the post / photo / video / topic id. */
  itemField: string;
  /** Owner id fields, in order of preference (delete events of photos / videos use `owner_id`). */
  ownerFields: Array<keyof z.infer<typeof ownerFieldsSchema>>;
}

/** Per event-type prefix: the publication kind, the settings switch, and where the ids are. */
const PUBLICATION_EVENTS: Record<string, PublicationEventSpec> = {
  wall_reply: { kind: 'wall', receiveKind: 'wallComments', itemField: 'post_id', ownerFields: ['owner_id', 'post_owner_id'] },
  photo_comment: { kind: 'photo', receiveKind: 'photoComments', itemField: 'photo_id', ownerFields: ['photo_owner_id', 'owner_id'] },
  video_comment: { kind: 'video', receiveKind: 'videoComments', itemField: 'video_id', ownerFields: ['video_owner_id', 'owner_id'] },
  board_post: { kind: 'topic', receiveKind: 'boardComments', itemField: 'topic_id', ownerFields: ['topic_owner_id', 'owner_id'] },
};
const PUBLICATION_EVENT_TYPE = /^(wall_reply|photo_comment|video_comment|board_post)_(new|edit|delete|restore)$/;

/** The spec and action of a comment event type; undefined for any other type. */
export function commentEventType(eventType: string): { spec: PublicationEventSpec; action: PublicationCommentEvent['action'] } | undefined {
  const m = PUBLICATION_EVENT_TYPE.exec(eventType);
  const spec = m ? PUBLICATION_EVENTS[m[1]!] : undefined;
  return m && spec ? { spec, action: m[2] as PublicationCommentEvent['action'] } : undefined;
}

/**
 * A comment event → the publication it belongs to and the comment event.
 *
 * Keys: `vk-event:<event_id>` (VK redelivery) and one logical key per change of one comment,
 * `vk-pub:<group>:<kind>:<owner>_<item>:<comment>:<action>`; edits and restores add the
 * comment's `date`, edits also a fingerprint of the new content: VK's `date` on an edit is the
 * comment's creation time, so without it a second edit of the same comment would be dropped.
 */
export function parsePublicationComment(
  ctx: VkEventContext,
  spec: PublicationEventSpec,
  action: PublicationCommentEvent['action'],
  object: object,
  receivedAt: Date,
): { publication: PublicationRef; event: PublicationCommentEvent } {
  const raw = object as Record<string, unknown>;
  const itemId = parseWith(int.positive(), raw[spec.itemField], `object.${spec.itemField}`);
  const owners = parseWith(ownerFieldsSchema, raw, 'object');
  const ownerId = ownerOf(spec.ownerFields.map((f) => owners[f]), ctx.groupId);
  const publication: PublicationRef = { kind: spec.kind, ownerId, itemId };
  const logicalKey = `vk-pub:${ctx.groupId}:${spec.kind}:${ownerId}_${itemId}`;

  if (action === 'delete') {
    const d = parseWith(commentDeleteSchema, raw, 'object');
    const commentId = String(d.id);
    const by = d.deleter_id ?? d.user_id;
    return {
      publication,
      event: {
        type: 'publication_comment',
        action,
        keys: [`vk-event:${ctx.eventId}`, `${logicalKey}:${commentId}:delete`],
        // Delete events carry no date.
        occurredAt: receivedAt.toISOString(),
        commentId,
        fromId: by !== undefined ? String(by) : '',
        text: '',
        media: [],
        externalUrl: vkCommentUrl(publication, commentId),
      },
    };
  }

  const c = parseWith(commentSchema, raw, 'object');
  const commentId = String(c.id);
  const { text, media } = renderVkContent(c.text, c.attachments);
  let key = `${logicalKey}:${commentId}:${action}`;
  if (action === 'edit') key += `:${c.date}:${fingerprint(text, media)}`;
  else if (action === 'restore') key += `:${c.date}`;
  const root = spec.kind === 'wall' ? c.parents_stack?.[0] : undefined;
  const event: PublicationCommentEvent = {
    type: 'publication_comment',
    action,
    keys: [`vk-event:${ctx.eventId}`, key],
    occurredAt: unixToIso(c.date),
    commentId,
    fromId: String(c.from_id),
    text,
    media,
    externalUrl: vkCommentUrl(publication, commentId, root !== undefined ? String(root) : undefined),
  };
  if (c.reply_to_comment !== undefined && c.reply_to_comment > 0) event.replyToCommentId = String(c.reply_to_comment);
  return { publication, event };
}

/**
 * The publication's owner id: negative (a community), whatever sign the field has (§3.5 conflict:
 * some owner ids arrive positive). The first non-zero candidate wins; when none is present the
 * Callback's own community is the owner (it only reports events on its own publications).
 */
function ownerOf(candidates: Array<number | undefined>, groupId: number): number {
  for (const c of candidates) if (c !== undefined && c !== 0) return -Math.abs(c);
  return -groupId;
}

/** A short stable hash (FNV-1a, hex) of a comment's content, to tell its edits apart. */
function fingerprint(text: string, media: MediaRef[]): string {
  const s = [text, ...media.map((m) => m.url ?? m.mediaId ?? '')].join('\u0000');
  return fnv1a32(s).toString(16).padStart(8, '0');
}
