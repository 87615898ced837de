/**
 * Rule 14: when may an agent write to a person? Pure: used by the update validator (workflow
 * time) and by the API for its answers. Window lengths come from configuration via the input;
 * what the channel can do comes with the input too (`capabilities`).
 */
import { legacyCapabilities } from '../../channels/legacy-capabilities.js';
import type { ReplyWindowClosedDetails } from './errors.js';
import type { ChannelCapabilities, ChannelKind } from './types.js';

export interface ReplyWindowState {
  /** The person's last message (ISO); undefined if they never wrote. */
  lastInboundAt?: string;
}

/** The capabilities a run was started with; runs started before they travelled in the input get the frozen table. */
export function channelCapabilities(input: { channelKind: ChannelKind; capabilities?: ChannelCapabilities }): ChannelCapabilities {
  return input.capabilities ?? legacyCapabilities(input.channelKind);
}

/** Returns null when the window is open (or the channel has none), or the details of the closed window. */
export function closedReplyWindow(
  capabilities: ChannelCapabilities,
  state: ReplyWindowState,
  windowSeconds: number,
  nowMs: number,
): ReplyWindowClosedDetails | null {
  const window = capabilities.replyWindow?.name;
  if (!window) return null;
  if (!state.lastInboundAt) return { window, windowSeconds, closedAt: null };
  const closesAt = Date.parse(state.lastInboundAt) + windowSeconds * 1000;
  if (nowMs < closesAt) return null;
  return { window, windowSeconds, closedAt: new Date(closesAt).toISOString() };
}

export function replyWindowClosesAt(capabilities: ChannelCapabilities, state: ReplyWindowState, windowSeconds: number): string | undefined {
  if (!capabilities.replyWindow || !state.lastInboundAt) return undefined;
  return new Date(Date.parse(state.lastInboundAt) + windowSeconds * 1000).toISOString();
}
