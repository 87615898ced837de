/** VK communities: everything taskwire knows about VK outside this folder comes from here. */
import { z as zo } from '@hono/zod-openapi';
import { z } from 'zod';
import { DigitsId, Secret } from '../fields.js';
import type { ChannelDefinition } from '../types.js';
import { createVkAdapter } from './adapter.js';
import { vkCapabilities } from './capabilities.js';
import { registerVkWebhookRoutes, VK_WEBHOOK_PATH } from './webhook-route.js';

const config = z.object({
  VK_API_BASE_URL: z.string().url().default('https://api.vk.com/method'),
  VK_API_VERSION: z.string().min(1).default('5.199'),
  VK_RATE_LIMIT_PER_SECOND: z.coerce.number().positive().default(20),
  VK_REPLY_WINDOW_SECONDS: z.coerce.number().int().positive().default(864_000),
});

const create = zo.object({
  groupId: DigitsId('VK community id').openapi({ example: 218000001 }),
  accessToken: Secret().openapi({ description: 'Community access token (write-only)' }),
  confirmationCode: Secret(200).openapi({ description: 'Callback API confirmation string (write-only)' }),
  secret: Secret(200).openapi({ description: 'Callback API secret key (write-only)' }),
});

export const vkChannel: ChannelDefinition<typeof config.shape, typeof create.shape> = {
  kind: 'vk',
  label: 'VK',
  schemaName: 'Vk',
  workflowKey: 'vk',
  placeholderName: (peerId) => `VK user ${peerId}`,
  capabilities: vkCapabilities,

  config,
  rateLimitPerSecond: (env) => env.VK_RATE_LIMIT_PER_SECOND,
  replyWindowSeconds: (env) => env.VK_REPLY_WINDOW_SECONDS,
  createAdapter: (env, media) => createVkAdapter({ baseUrl: env.VK_API_BASE_URL, version: env.VK_API_VERSION, media }),

  credentials: {
    create,
    rotatable: {
      accessToken: Secret().openapi({ description: 'VK: rotate the community access token (write-only)' }),
      secret: Secret(200).openapi({ description: 'VK: rotate the Callback API secret (write-only)' }),
      confirmationCode: Secret(200).openapi({ description: 'VK: new confirmation string (write-only)' }),
    },
    shown: { groupId: zo.number().openapi({ description: 'VK community id' }) },
    externalIdField: 'groupId',
    prepare: async (body) => ({
      externalId: String(body.groupId),
      credentials: { kind: 'vk', accessToken: body.accessToken, confirmationCode: body.confirmationCode, secret: body.secret },
    }),
    show: (channel) => ({ groupId: Number(channel.external_id) }),
  },

  recipient: {
    schema: zo
      .object({ vkUserId: zo.union([zo.number().int().positive(), zo.string().regex(/^[1-9]\d{0,11}$/)]).openapi({ example: 552301 }) })
      .strict(),
    shape: '{vkUserId}',
    peerId: (r) => ({ peerId: String((r as { vkUserId: number | string }).vkUserId) }),
  },

  // The key channels/vk/callback.ts gives message events: VK's message_reply echo of a message we sent.
  echoKeys: (channel, externalId) => [`vk-msg:${channel.external_id}:${externalId}`],

  webhook: { path: () => VK_WEBHOOK_PATH, register: registerVkWebhookRoutes },
};
