/** Channel rows for adapter tests (no database): the fixtures' VK community and WhatsApp number. */
import type { OutboundMessage } from '../../channels/types.js';
import { DEFAULT_CHANNEL_SETTINGS, mergeChannelSettings } from '../../db/queries/channels.js';
import type { Channel } from '../../db/schema.js';

function row(kind: Channel['kind'], externalId: string, credentials: Channel['credentials'], name: string): Channel {
  return {
    id: '7',
    kind,
    name,
    active: true,
    external_id: externalId,
    credentials,
    settings: mergeChannelSettings(DEFAULT_CHANNEL_SETTINGS),
    created_by: null,
    created_at: new Date(),
    updated_at: new Date(),
  };
}

export function vkChannelRow(groupId: number, accessToken: string): Channel {
  return row('vk', String(groupId), { kind: 'vk', accessToken, confirmationCode: '5d2a9c41', secret: 's3cr3t-fixture' }, 'Магазин');
}

export function whatsAppChannelRow(phoneNumberId: string, accessToken: string, name = 'WhatsApp'): Channel {
  return row('whatsapp', phoneNumberId, { kind: 'whatsapp', accessToken, appSecret: 'fixture-app-secret', verifyToken: 'fixture-verify-token', wabaId: '102290129340398' }, name);
}

/** An outbound file with its bytes, as deliverPart hands it to an adapter. */
export function outboundFile(filename: string, mimeType: string, bytes: Uint8Array): OutboundMessage['files'][number] {
  return { sha256: 'x'.repeat(64), filename, mimeType, size: bytes.byteLength, bytes };
}
