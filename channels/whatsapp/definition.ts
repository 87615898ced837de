/** WhatsApp Business numbers (Cloud API): everything taskwire knows about WhatsApp outside this folder comes from here. */
import { z as zo } from '@hono/zod-openapi';
import { z } from 'zod';
import { normalizePhone } from '../../db/queries/contacts.js';
import { DigitsId, Secret } from '../fields.js';
import type { ChannelDefinition } from '../types.js';
import { createWhatsAppAdapter } from './adapter.js';
import { whatsAppCapabilities } from './capabilities.js';
import { registerWhatsAppWebhookRoutes, WHATSAPP_WEBHOOK_PATH } from './webhook-route.js';

const config = z.object({
  WHATSAPP_API_BASE_URL: z.string().url().default('https://graph.facebook.com/v21.0'),
  WHATSAPP_RATE_LIMIT_PER_SECOND: z.coerce.number().positive().default(80),
  WHATSAPP_REPLY_WINDOW_SECONDS: z.coerce.number().int().positive().default(86_400),
});

const WabaId = DigitsId('WhatsApp Business Account id');

const create = zo.object({
  phoneNumberId: DigitsId('WhatsApp phone number id').openapi({ example: '106540352242922' }),
  wabaId: WabaId.openapi({ example: '102290129340398' }),
  accessToken: Secret().openapi({ description: 'Graph API access token (write-only)' }),
  appSecret: Secret(200).openapi({ description: 'Meta app secret for X-Hub-Signature-256 (write-only)' }),
  verifyToken: Secret(200).openapi({ description: 'Webhook verify token (write-only)' }),
});

/** An international number in digits (country code, 7–15 digits), as WhatsApp's wa_id. */
const INTERNATIONAL = /^[1-9]\d{6,14}$/;

export const whatsAppChannel: ChannelDefinition<typeof config.shape, typeof create.shape> = {
  kind: 'whatsapp',
  label: 'WhatsApp',
  schemaName: 'WhatsApp',
  workflowKey: 'wa',
  placeholderName: (peerId) => `WhatsApp ${peerId}`,
  capabilities: whatsAppCapabilities,

  config,
  rateLimitPerSecond: (env) => env.WHATSAPP_RATE_LIMIT_PER_SECOND,
  replyWindowSeconds: (env) => env.WHATSAPP_REPLY_WINDOW_SECONDS,
  createAdapter: (env, media) => createWhatsAppAdapter({ baseUrl: env.WHATSAPP_API_BASE_URL, media }),

  credentials: {
    create,
    rotatable: {
      accessToken: Secret().openapi({ description: 'WhatsApp: rotate the Graph API access token (write-only)' }),
      appSecret: Secret(200).openapi({ description: 'WhatsApp: rotate the app secret (write-only)' }),
      verifyToken: Secret(200).openapi({ description: 'WhatsApp: new verify token (write-only)' }),
      wabaId: WabaId,
    },
    shown: {
      phoneNumberId: zo.string().openapi({ description: 'WhatsApp phone number id' }),
      wabaId: zo.string().openapi({ description: 'WhatsApp Business Account id' }),
    },
    externalIdField: 'phoneNumberId',
    prepare: async (body) => ({
      externalId: String(body.phoneNumberId),
      credentials: { kind: 'whatsapp', accessToken: body.accessToken, appSecret: body.appSecret, verifyToken: body.verifyToken, wabaId: String(body.wabaId) },
    }),
    show: (channel) => ({ phoneNumberId: channel.external_id, ...(channel.credentials.wabaId ? { wabaId: channel.credentials.wabaId } : {}) }),
  },

  recipient: {
    schema: zo.object({ phone: zo.string().min(5).max(32).openapi({ example: '+7 916 123-45-67' }) }).strict(),
    shape: '{phone}',
    peerId: (r) => {
      const peerId = normalizePhone((r as { phone: string }).phone);
      return INTERNATIONAL.test(peerId) ? { peerId } : { field: 'phone', message: 'must be an international number (country code, 7–15 digits)' };
    },
  },

  webhook: { path: () => WHATSAPP_WEBHOOK_PATH, register: registerWhatsAppWebhookRoutes },
};
