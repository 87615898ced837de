/** What a Telegram bot can do, as pure data (it travels in the conversation workflow's input). */
import type { ChannelCapabilities } from '../../workflows/shared/types.js';
import { TELEGRAM_MAX_CAPTION_LENGTH, TELEGRAM_MAX_TEXT_LENGTH } from './adapter.js';

export const telegramCapabilities: ChannelCapabilities = {
  // A bot may write to anyone who wrote to it, with no time limit; a block makes sends fail (403).
  templates: false,
  // Bots cannot start conversations: "bot can't initiate conversation with a user".
  companyWritesFirst: false,
  canEdit: true,
  // Every message's `from` carries the person's name.
  profileNeedsApi: false,
  maxTextLength: TELEGRAM_MAX_TEXT_LENGTH,
  // One file per message, with a caption of up to 1,024 characters.
  filesPerMessage: 1,
  maxCaptionLength: TELEGRAM_MAX_CAPTION_LENGTH,
  // No idempotency key, no echo of the bot's own messages: see channels/telegram/adapter.ts.
  idempotentSends: false,
  peerIsPhone: false,
};
