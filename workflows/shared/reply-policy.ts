/**
 * Rule 14: when may an agent write to a person? Pure: used by the update validator (workflow
 * time) and by the API for its answers. Window lengths come from configuration via the input.
 */
import type { ReplyWindowClosedDetails } from './errors.js';
import type { ChannelKind } from './types.js';

export interface ReplyWindowState {
  /** The person's last message (ISO); undefined if they never wrote. */
  lastInboundAt?: string;
}

const WINDOW_NAME: Record<ChannelKind, string> = { vk: 'vk-reply-window', whatsapp: 'whatsapp-24h-window' };
/** Channels where an approved template may be sent outside the window (WhatsApp). */
export const TEMPLATES_BYPASS_WINDOW: Record<ChannelKind, boolean> = { vk: false, whatsapp: true };

/** Does a new contact's name cost a channel API call (VK users.get)? WhatsApp webhooks carry it. */
export const PROFILE_NEEDS_API: Record<ChannelKind, boolean> = { vk: true, whatsapp: false };

/** Returns null when the window is open, or the details of the closed window. */
export function closedReplyWindow(
  kind: ChannelKind,
  state: ReplyWindowState,
  windowSeconds: number,
  nowMs: number,
): ReplyWindowClosedDetails | null {
  const window = WINDOW_NAME[kind];
  if (!state.lastInboundAt) return { window, windowSeconds, closedAt: null };
  const closesAt = Date.parse(state.lastInboundAt) + windowSeconds * 1000;
  if (nowMs < closesAt) return null;
  return { window, windowSeconds, closedAt: new Date(closesAt).toISOString() };
}

export function replyWindowClosesAt(state: ReplyWindowState, windowSeconds: number): string | undefined {
  if (!state.lastInboundAt) return undefined;
  return new Date(Date.parse(state.lastInboundAt) + windowSeconds * 1000).toISOString();
}
