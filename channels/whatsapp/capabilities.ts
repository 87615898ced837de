/** What a WhatsApp Business number can do, as pure data (imported by workflow code through channels/legacy-capabilities.ts). */
import type { ChannelCapabilities } from '../../workflows/shared/types.js';

export const whatsAppCapabilities: ChannelCapabilities = {
  replyWindow: { name: 'whatsapp-24h-window' },
  // Approved templates go out outside the 24-hour window, and start conversations (rule 15).
  templates: true,
  companyWritesFirst: true,
  canEdit: false,
  profileNeedsApi: false,
  maxTextLength: 4096,
  // One media object per message, with a caption of up to 1,024 characters.
  filesPerMessage: 1,
  maxCaptionLength: 1024,
  // No idempotency key: a retried send first looks for the first attempt's delivery report (callback data).
  retriedSends: 'adopt_delivery_report',
  peerIsPhone: true,
};
