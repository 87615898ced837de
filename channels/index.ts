/** The channel registry: one line per messenger. */
import type { Config } from '../runtime/config.js';
import type { ChannelKind } from '../workflows/shared/types.js';
import { ChannelPermanentError, type ChannelAdapter } from './types.js';
import { createVkAdapter } from './vk/adapter.js';

export function createAdapters(config: Pick<Config, 'VK_API_BASE_URL' | 'VK_API_VERSION'>): Record<ChannelKind, ChannelAdapter> {
  return {
    vk: createVkAdapter({ baseUrl: config.VK_API_BASE_URL, version: config.VK_API_VERSION }),
    whatsapp: notYetAvailable('whatsapp'),
  };
}

function notYetAvailable(kind: ChannelKind): ChannelAdapter {
  const refuse = async (): Promise<never> => {
    throw new ChannelPermanentError('not_available', `the ${kind} channel is not available in this version`);
  };
  return { kind, maxTextLength: 4096, filesPerMessage: 1, maxCaptionLength: 1024, canEdit: false, fetchProfile: refuse, download: refuse, send: refuse, edit: refuse };
}
