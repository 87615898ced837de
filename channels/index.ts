/**
 * The channel registry: one line per messenger. Everything outside channels/ that differs by
 * messenger asks here (api/, worker/, runtime/config.ts, activities/); nothing there names a kind.
 * Workflow code cannot import this (channel code does I/O): it gets capabilities in its input.
 */
import type { z } from 'zod';
import type { ChannelKind } from '../workflows/shared/types.js';
import { mediaPolicy } from './media-fetch.js';
import type { ChannelAdapters, ChannelDefinition } from './types.js';
import { vkChannel } from './vk/definition.js';
import { whatsAppChannel } from './whatsapp/definition.js';

const CHANNELS = [vkChannel, whatsAppChannel] as const;

type Registered = (typeof CHANNELS)[number];
type UnionToIntersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never;
/** The environment variables of every registered channel, as parsed (part of runtime/config.ts's `Config`). */
export type ChannelsEnv = UnionToIntersection<z.output<Registered['config']>>;

const BY_KIND: ReadonlyMap<ChannelKind, ChannelDefinition> = new Map(CHANNELS.map((d): [ChannelKind, ChannelDefinition] => [d.kind, d]));

/** Every registered channel, in registry order. */
export function channelDefinitions(): ChannelDefinition[] {
  return [...BY_KIND.values()];
}

/** The kinds of the registered channels: `['vk', 'whatsapp']`. */
export function channelKinds(): [ChannelKind, ...ChannelKind[]] {
  return [...BY_KIND.keys()] as [ChannelKind, ...ChannelKind[]];
}

export function isChannelKind(kind: string): boolean {
  return BY_KIND.has(kind);
}

/** The definition of a registered kind; an unknown kind (a row from a removed folder) is a programming error. */
export function channelDefinition(kind: ChannelKind): ChannelDefinition {
  const def = BY_KIND.get(kind);
  if (!def) throw new Error(`no channel of kind "${kind}" is registered in channels/index.ts`);
  return def;
}

/** The zod shape of every channel's environment variables, merged into runtime/config.ts's schema. */
export function channelConfigShape(): z.core.$ZodShape {
  return Object.assign({}, ...CHANNELS.map((d) => d.config.shape));
}

type AdapterConfig = ChannelsEnv & { MEDIA_ALLOWED_HOSTS: string[]; MAX_MEDIA_BYTES: number; MEDIA_FETCH_ATTEMPTS: number };

/** One adapter per registered kind. */
export function createAdapters(config: AdapterConfig): ChannelAdapters {
  const media = mediaPolicy({
    allowedHosts: config.MEDIA_ALLOWED_HOSTS,
    maxBytes: config.MAX_MEDIA_BYTES,
    fetchAttempts: config.MEDIA_FETCH_ATTEMPTS,
  });
  return Object.fromEntries(channelDefinitions().map((d) => [d.kind, d.createAdapter(config, media)]));
}
