/**
 * Capabilities of conversations started before they travelled in the workflow input: only VK and
 * WhatsApp existed then. Pure (imported by workflow code). A channel added later always passes
 * its capabilities in the input and needs no line here.
 */
import type { ChannelCapabilities } from '../workflows/shared/types.js';
import { vkCapabilities } from './vk/capabilities.js';
import { whatsAppCapabilities } from './whatsapp/capabilities.js';

const BEFORE_CAPABILITIES: Readonly<Record<string, ChannelCapabilities>> = Object.freeze({
  vk: vkCapabilities,
  whatsapp: whatsAppCapabilities,
});

/** For a kind nobody knows (cannot happen: every input names a registered kind): the most careful answers. */
const UNKNOWN: ChannelCapabilities = {
  templates: false,
  companyWritesFirst: false,
  canEdit: false,
  profileNeedsApi: true,
  maxTextLength: 4096,
  filesPerMessage: 1,
  maxCaptionLength: 0,
  retriedSends: 'adopt_delivery_report',
  peerIsPhone: false,
};

export function legacyCapabilities(kind: string): ChannelCapabilities {
  return BEFORE_CAPABILITIES[kind] ?? UNKNOWN;
}
