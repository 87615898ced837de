/** Links into VK for agents (reference §9): publications, comments, dialogs, profiles, attachments. */
import type { PublicationRef } from '../../workflows/shared/types.js';

/** `https://vk.com/<prefix><owner>_<id>`: a wall post, photo, video, topic or product. */
export function vkItemUrl(prefix: 'wall' | 'photo' | 'video' | 'topic' | 'product', ownerId: number | string, itemId: number | string): string {
  return `https://vk.com/${prefix}${ownerId}_${itemId}`;
}

/** Link to a publication in VK (§9). */
export function vkPublicationUrl(ref: PublicationRef): string {
  return vkItemUrl(ref.kind, ref.ownerId, ref.itemId);
}

/**
 * Direct link to a comment (§9): wall `?reply=<id>` (plus `&thread=<root>` inside a thread, root =
 * `parents_stack[0]`), topic `?post=<id>`. Photos and videos have no documented comment anchor:
 * the publication's link.
 */
export function vkCommentUrl(ref: PublicationRef, commentId: string, threadRootId?: string): string {
  const base = vkPublicationUrl(ref);
  switch (ref.kind) {
    case 'wall': {
      const thread = threadRootId && threadRootId !== commentId ? `&thread=${encodeURIComponent(threadRootId)}` : '';
      return `${base}?reply=${encodeURIComponent(commentId)}${thread}`;
    }
    case 'topic':
      return `${base}?post=${encodeURIComponent(commentId)}`;
    default:
      return base;
  }
}

/** Link to the dialog in the community's inbox, for agents (§9). */
export function dialogUrl(groupId: number, peerId: number | string): string {
  return `https://vk.com/gim${groupId}?sel=${peerId}`;
}

/** A person's profile page. */
export function vkProfileUrl(userId: number | string): string {
  return `https://vk.com/id${userId}`;
}
