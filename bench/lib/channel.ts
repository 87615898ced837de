/**
 * The benchmarks' channel, created through the API: a VK community (group 218000001, a fresh
 * secret) or the fixtures' WhatsApp number (the fake Graph API's token, the fixtures' app secret).
 */
import { randomBytes } from 'node:crypto';
import type { PhaseOptions } from './driver.js';
import type { Stack } from './stack.js';
import { readMessageNewFixture } from './vk.js';

export const GROUP_ID = 218000001;
export const WA_PHONE_NUMBER_ID = '106540352242922';
export const WA_WABA_ID = '102290129340398';
export const WA_APP_SECRET = 'fixture-app-secret';

/** Where and how the load generator posts its webhooks (the part of a phase's options that is the channel's). */
export type WebhookTarget = Required<Pick<PhaseOptions, 'channel' | 'apiUrl' | 'ownerToken' | 'channelId' | 'secret'>> &
  Pick<PhaseOptions, 'groupId' | 'fixture'>;

export async function createBenchChannel(s: Stack, kind: 'vk' | 'whatsapp', say: (line: string) => void): Promise<WebhookTarget> {
  const wa = kind === 'whatsapp';
  const fixture = wa ? undefined : await readMessageNewFixture();
  const secret = wa ? WA_APP_SECRET : `bench-secret-${randomBytes(6).toString('hex')}`;
  const ch = await s.api<{ id: string }>(
    'POST',
    '/api/channels',
    wa
      ? {
          kind: 'whatsapp',
          name: 'Benchmark WhatsApp',
          phoneNumberId: WA_PHONE_NUMBER_ID,
          wabaId: WA_WABA_ID,
          accessToken: s.graph.accessToken,
          appSecret: WA_APP_SECRET,
          verifyToken: 'v',
        }
      : {
          kind: 'vk',
          name: 'Benchmark community',
          groupId: GROUP_ID,
          accessToken: s.vk.accessToken,
          confirmationCode: 'bench-confirm',
          secret,
        },
  );
  if (ch.status !== 201) throw new Error(`channel not created: HTTP ${ch.status} ${JSON.stringify(ch.body)}`);
  const channelId = ch.body.id;
  say(wa ? `WhatsApp channel ${channelId} for phone number id ${WA_PHONE_NUMBER_ID}` : `VK channel ${channelId} for group ${GROUP_ID}`);
  return { channel: kind, groupId: GROUP_ID, apiUrl: s.apiUrl, ownerToken: s.ownerToken, channelId, secret, fixture };
}
