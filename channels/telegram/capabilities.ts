/** What a Telegram bot can do, as pure data (it travels in the conversation workflow's input). */
import type { ChannelCapabilities } from '../../workflows/shared/types.js';

export const telegramCapabilities: ChannelCapabilities = {
  // A bot may write to anyone who wrote to it, with no time limit; a block makes sends fail (403).
  templates: false,
  // Bots cannot start conversations: "bot can't initiate conversation with a user".
  companyWritesFirst: false,
  canEdit: true,
  // Every message's `from` carries the person's name.
  profileNeedsApi: false,
  // sendMessage: 4,096 characters.
  maxTextLength: 4096,
  // One file per message, with a caption of up to 1,024 characters.
  filesPerMessage: 1,
  maxCaptionLength: 1024,
  // No idempotency key, no echo of the bot's own messages, no delivery reports: see channels/telegram/adapter.ts.
  retriedSends: 'sent_again',
  peerIsPhone: false,
};
