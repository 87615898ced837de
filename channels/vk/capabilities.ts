/** What a VK community can do, as pure data (imported by workflow code through channels/legacy-capabilities.ts). */
import type { ChannelCapabilities } from '../../workflows/shared/types.js';

export const vkCapabilities: ChannelCapabilities = {
  replyWindow: { name: 'vk-reply-window' },
  templates: false,
  companyWritesFirst: false,
  canEdit: true,
  profileNeedsApi: true,
  maxTextLength: 4096,
  // messages.send takes up to 10 attachments, with the full text.
  filesPerMessage: 10,
  maxCaptionLength: 4096,
  // messages.send with a repeated random_id is not delivered again.
  retriedSends: 'deduplicated',
  // Replies under photos, videos and board topics are user-token methods: answered in VK itself.
  publications: { answerable: ['wall'], repliesCarryFiles: false },
  peerIsPhone: false,
};
