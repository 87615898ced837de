/** Contacts: the people who write in, with their identities in each channel kind. */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { channelDefinitions, channelKinds } from '../../channels/index.js';
import { findContactsByPhone, getContactWithIdentities, normalizePhone } from '../../db/queries/contacts.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { badRequest, notFound, parseId } from '../errors.js';
import { apiResource } from '../route-specs.js';
import { bearerSecurity, errorResponses, IsoTime, jsonResponse } from '../schemas.js';
import { serializeContact } from '../serializers.js';

export const ContactSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    phone: z.string().optional(),
    identities: z.array(
      z.object({
        channelKind: z.enum(channelKinds()),
        externalId: z.string().openapi({ description: 'VK user id / WhatsApp wa_id' }),
      }),
    ),
    createdAt: IsoTime,
  })
  .openapi('Contact');

const getContactRoute = apiResource('/api/contacts', 'contacts', ContactSchema).get({ summary: 'One contact', answer: 'The contact' });

const findContactRoute = createRoute({
  method: 'get',
  path: '/api/contacts',
  tags: ['contacts'],
  summary: 'Find a contact by phone number',
  description: 'The phone is compared digits-only (`+7 916 123-45-67` = `79161234567`). The oldest matching contact is returned.',
  security: bearerSecurity,
  request: {
    query: z.object({ phone: z.string().max(64).openapi({ example: '+79161234567' }) }),
  },
  responses: {
    200: jsonResponse(ContactSchema, 'The contact'),
    ...errorResponses(400, 401, 404, 503),
  },
});

export function registerContactRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  app.openapi(getContactRoute, async (c) => {
    const id = parseId(c.req.valid('param').id, 'contact');
    const found = await getContactWithIdentities(deps.db, id);
    if (!found) throw notFound('contact', id);
    return c.json(serializeContact(found), 200);
  });

  app.openapi(findContactRoute, async (c) => {
    const { phone } = c.req.valid('query');
    const digits = normalizePhone(phone);
    if (!digits) throw badRequest('phone', 'must be a valid international number (country code first, e.g. +7 916 123-45-67)');
    const [first] = await findContactsByPhone(
      deps.db,
      digits,
      channelDefinitions().filter((d) => d.capabilities.peerIsPhone).map((d) => d.kind),
    );
    if (!first) throw notFound('contact with phone', digits);
    return c.json(serializeContact(first), 200);
  });
}
