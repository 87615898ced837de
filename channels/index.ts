/** The channel registry: one line per messenger. */
import type { Config } from '../runtime/config.js';
import type { ChannelKind } from '../workflows/shared/types.js';
import { mediaPolicy } from './media-fetch.js';
import type { ChannelAdapter } from './types.js';
import { createVkAdapter } from './vk/adapter.js';
import { createWhatsAppAdapter } from './whatsapp/adapter.js';

type AdapterConfig = Pick<
  Config,
  'VK_API_BASE_URL' | 'VK_API_VERSION' | 'WHATSAPP_API_BASE_URL' | 'MEDIA_ALLOWED_HOSTS' | 'MAX_MEDIA_BYTES' | 'MEDIA_FETCH_ATTEMPTS'
>;

export function createAdapters(config: AdapterConfig): Record<ChannelKind, ChannelAdapter> {
  const media = mediaPolicy({
    allowedHosts: config.MEDIA_ALLOWED_HOSTS,
    maxBytes: config.MAX_MEDIA_BYTES,
    fetchAttempts: config.MEDIA_FETCH_ATTEMPTS,
  });
  return {
    vk: createVkAdapter({ baseUrl: config.VK_API_BASE_URL, version: config.VK_API_VERSION, media }),
    whatsapp: createWhatsAppAdapter({ baseUrl: config.WHATSAPP_API_BASE_URL, media }),
  };
}
