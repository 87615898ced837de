/** The channel registry: one line per messenger. */
import type { Config } from '../runtime/config.js';
import type { ChannelKind } from '../workflows/shared/types.js';
import type { ChannelAdapter } from './types.js';
import { createVkAdapter } from './vk/adapter.js';
import { createWhatsAppAdapter } from './whatsapp/adapter.js';

export function createAdapters(config: Pick<Config, 'VK_API_BASE_URL' | 'VK_API_VERSION' | 'WHATSAPP_API_BASE_URL'>): Record<ChannelKind, ChannelAdapter> {
  return {
    vk: createVkAdapter({ baseUrl: config.VK_API_BASE_URL, version: config.VK_API_VERSION }),
    whatsapp: createWhatsAppAdapter({ baseUrl: config.WHATSAPP_API_BASE_URL }),
  };
}
