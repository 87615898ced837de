/**
 * Channels: a VK community or a WhatsApp Business number with its credentials, task template and
 * options. Credentials are write-only: stored in `credentials`, never returned.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import {
  ChannelExistsError,
  DEFAULT_CHANNEL_SETTINGS,
  getChannel,
  insertChannel,
  listChannels,
  mergeChannelSettings,
  updateChannel,
  type ChannelSettingsPatch,
} from '../../db/queries/channels.js';
import { missingEmployeeIds } from '../../db/queries/employees.js';
import { getTemplate } from '../../db/queries/templates.js';
import type { Db } from '../../db/index.js';
import type { ChannelCredentials } from '../../db/schema.js';
import { requireRole } from '../auth.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { badRequest, conflict, notFound, parseId } from '../errors.js';
import { commitAnswer } from '../idempotency.js';
import { bearerSecurity, errorResponses, idempotencyHeader, IdInput, IdParams, idString, IsoTime, jsonBody, jsonResponse } from '../schemas.js';
import { serializeChannel } from '../serializers.js';

// --- schemas ---------------------------------------------------------------------------------

const HistoryMessages = z
  .union([z.literal(1), z.literal(5), z.literal(10), z.literal(20), z.literal(50)])
  .openapi({ description: 'How many earlier messages a new task gets (rule 8)', example: 10 });

const ReceiveSchema = z.object({
  messages: z.boolean(),
  wallComments: z.boolean(),
  photoComments: z.boolean(),
  videoComments: z.boolean(),
  boardComments: z.boolean(),
  leadForms: z.boolean(),
});

/** Every key optional; unknown keys are refused (a typo must not pass silently). */
export const ChannelSettingsInput = z
  .strictObject({
    taskTemplateId: IdInput.nullable().optional(),
    extraAssigneeIds: z.array(IdInput).max(100).optional(),
    createNewTaskIfNoActive: z.boolean().optional(),
    outgoingTasksOnlyOnReply: z.boolean().optional(),
    attachPublicationFiles: z.boolean().optional(),
    historyMessages: HistoryMessages.optional(),
    receive: z
      .strictObject({
        messages: z.boolean().optional(),
        wallComments: z.boolean().optional(),
        photoComments: z.boolean().optional(),
        videoComments: z.boolean().optional(),
        boardComments: z.boolean().optional(),
        leadForms: z.boolean().optional(),
      })
      .optional(),
  })
  .openapi('ChannelSettingsInput', {
    description: `Merged over the defaults (or, in PATCH, over the current settings): ${JSON.stringify(DEFAULT_CHANNEL_SETTINGS)}`,
  });

export const ChannelSettingsSchema = z
  .object({
    taskTemplateId: z.string().nullable(),
    extraAssigneeIds: z.array(z.string()),
    createNewTaskIfNoActive: z.boolean(),
    outgoingTasksOnlyOnReply: z.boolean(),
    attachPublicationFiles: z.boolean(),
    historyMessages: HistoryMessages,
    receive: ReceiveSchema,
  })
  .openapi('ChannelSettings');

const Name = z.string().trim().min(1).max(200);
const Secret = (max = 4096) => z.string().min(1).max(max);
const DigitsId = (what: string) =>
  z
    .union([z.number().int().positive().max(Number.MAX_SAFE_INTEGER), z.string().regex(/^[1-9]\d{0,19}$/, `must be a positive integer ${what}`)])
    .openapi({ description: `${what} (a number or a string of digits)` });

const VkChannelInput = z
  .object({
    kind: z.literal('vk'),
    name: Name.openapi({ example: 'Our VK community' }),
    groupId: DigitsId('VK community id').openapi({ example: 218000001 }),
    accessToken: Secret().openapi({ description: 'Community access token (write-only)' }),
    confirmationCode: Secret(200).openapi({ description: 'Callback API confirmation string (write-only)' }),
    secret: Secret(200).openapi({ description: 'Callback API secret key (write-only)' }),
    active: z.boolean().optional(),
    settings: ChannelSettingsInput.optional(),
  })
  .openapi('CreateVkChannel');

const WhatsAppChannelInput = z
  .object({
    kind: z.literal('whatsapp'),
    name: Name.openapi({ example: 'Sales WhatsApp' }),
    phoneNumberId: DigitsId('WhatsApp phone number id').openapi({ example: '106540352242922' }),
    wabaId: DigitsId('WhatsApp Business Account id').openapi({ example: '102290129340398' }),
    accessToken: Secret().openapi({ description: 'Graph API access token (write-only)' }),
    appSecret: Secret(200).openapi({ description: 'Meta app secret for X-Hub-Signature-256 (write-only)' }),
    verifyToken: Secret(200).openapi({ description: 'Webhook verify token (write-only)' }),
    active: z.boolean().optional(),
    settings: ChannelSettingsInput.optional(),
  })
  .openapi('CreateWhatsAppChannel');

const CreateChannelBody = z.discriminatedUnion('kind', [VkChannelInput, WhatsAppChannelInput]).openapi('CreateChannel');

const PatchChannelBody = z
  .strictObject({
    name: Name.optional(),
    active: z.boolean().optional(),
    settings: ChannelSettingsInput.optional(),
    accessToken: Secret().optional().openapi({ description: 'Rotate the access token (VK and WhatsApp; write-only)' }),
    secret: Secret(200).optional().openapi({ description: 'VK: rotate the Callback API secret (write-only)' }),
    confirmationCode: Secret(200).optional().openapi({ description: 'VK: new confirmation string (write-only)' }),
    appSecret: Secret(200).optional().openapi({ description: 'WhatsApp: rotate the app secret (write-only)' }),
    verifyToken: Secret(200).optional().openapi({ description: 'WhatsApp: new verify token (write-only)' }),
    wabaId: DigitsId('WhatsApp Business Account id').optional(),
  })
  .openapi('PatchChannel');

export const ChannelSchema = z
  .object({
    id: z.string().openapi({ example: '3' }),
    kind: z.enum(['vk', 'whatsapp']),
    name: z.string(),
    active: z.boolean(),
    webhookUrl: z.string().openapi({ example: 'https://taskwire.example.com/webhooks/vk' }),
    settings: ChannelSettingsSchema,
    groupId: z.number().optional().openapi({ description: 'VK community id' }),
    phoneNumberId: z.string().optional().openapi({ description: 'WhatsApp phone number id' }),
    wabaId: z.string().optional(),
    createdBy: z.string().nullable().openapi({ description: 'The configuring employee (rule 5)' }),
    createdAt: IsoTime,
    updatedAt: IsoTime,
  })
  .openapi('Channel');

// --- routes ----------------------------------------------------------------------------------

const managers = requireRole('owner', 'admin');

const createChannelRoute = createRoute({
  method: 'post',
  path: '/api/channels',
  tags: ['channels'],
  summary: 'Connect a VK community or a WhatsApp number (owner/admin)',
  description: 'The creator becomes the channel\'s configuring employee. Secrets are stored and never returned.',
  security: bearerSecurity,
  middleware: [managers] as const,
  request: { headers: idempotencyHeader, body: jsonBody(CreateChannelBody) },
  responses: {
    201: jsonResponse(ChannelSchema, 'The channel (no secrets); point the channel\'s webhook at `webhookUrl`'),
    ...errorResponses(400, 401, 403, 413, 415, 503),
    409: jsonResponse(z.object({ error: z.object({ code: z.literal('channel_exists'), message: z.string(), details: z.record(z.string(), z.unknown()).optional() }) }), 'This VK community / WhatsApp number is already connected (`channel_exists`)'),
  },
});

const listChannelsRoute = createRoute({
  method: 'get',
  path: '/api/channels',
  tags: ['channels'],
  summary: 'List channels',
  security: bearerSecurity,
  request: {
    query: z.object({
      kind: z.enum(['vk', 'whatsapp']).optional(),
      active: z.enum(['true', 'false']).optional(),
    }),
  },
  responses: {
    200: jsonResponse(z.object({ items: z.array(ChannelSchema) }), 'Channels, oldest first'),
    ...errorResponses(400, 401, 503),
  },
});

const getChannelRoute = createRoute({
  method: 'get',
  path: '/api/channels/{id}',
  tags: ['channels'],
  summary: 'One channel',
  security: bearerSecurity,
  request: { params: IdParams },
  responses: {
    200: jsonResponse(ChannelSchema, 'The channel'),
    ...errorResponses(401, 404, 503),
  },
});

const patchChannelRoute = createRoute({
  method: 'patch',
  path: '/api/channels/{id}',
  tags: ['channels'],
  summary: 'Rename, (de)activate, change settings or rotate credentials (owner/admin)',
  description: '`settings` is merged over the current settings (`receive` key by key; arrays are replaced).',
  security: bearerSecurity,
  middleware: [managers] as const,
  request: { params: IdParams, headers: idempotencyHeader, body: jsonBody(PatchChannelBody) },
  responses: {
    200: jsonResponse(ChannelSchema, 'The channel after the change'),
    ...errorResponses(400, 401, 403, 404, 413, 415, 503),
  },
});

// --- handlers --------------------------------------------------------------------------------

/** The parts of a settings input that name other rows must name existing ones. */
async function checkSettingsRefs(db: Db, patch: ChannelSettingsPatch): Promise<void> {
  if (patch.taskTemplateId != null && !(await getTemplate(db, patch.taskTemplateId))) {
    throw badRequest('settings.taskTemplateId', `task template ${patch.taskTemplateId} does not exist`);
  }
  if (patch.extraAssigneeIds?.length) {
    const missing = await missingEmployeeIds(db, patch.extraAssigneeIds);
    if (missing.length > 0) throw badRequest('settings.extraAssigneeIds', `no such employee: ${missing.join(', ')}`, { missing });
  }
}

function settingsPatch(input: z.infer<typeof ChannelSettingsInput> | undefined): ChannelSettingsPatch {
  if (!input) return {};
  const { taskTemplateId, extraAssigneeIds, ...rest } = input;
  return {
    ...rest,
    ...(taskTemplateId !== undefined ? { taskTemplateId: taskTemplateId === null ? null : idString(taskTemplateId) } : {}),
    ...(extraAssigneeIds !== undefined ? { extraAssigneeIds: [...new Set(extraAssigneeIds.map(idString))] } : {}),
  };
}

const CREDENTIAL_KEYS = {
  vk: ['accessToken', 'secret', 'confirmationCode'],
  whatsapp: ['accessToken', 'appSecret', 'verifyToken', 'wabaId'],
} as const;
const ALL_CREDENTIAL_KEYS = ['accessToken', 'secret', 'confirmationCode', 'appSecret', 'verifyToken', 'wabaId'] as const;

export function registerChannelRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  const { db, config } = deps;

  app.openapi(createChannelRoute, async (c) => {
    const me = c.get('employee');
    const body = c.req.valid('json');
    const patch = settingsPatch(body.settings);
    await checkSettingsRefs(db, patch);
    const settings = mergeChannelSettings(DEFAULT_CHANNEL_SETTINGS, patch);

    let externalId: string;
    let credentials: ChannelCredentials;
    if (body.kind === 'vk') {
      externalId = idString(body.groupId);
      credentials = { kind: 'vk', accessToken: body.accessToken, confirmationCode: body.confirmationCode, secret: body.secret };
    } else {
      externalId = idString(body.phoneNumberId);
      credentials = {
        kind: 'whatsapp',
        accessToken: body.accessToken,
        appSecret: body.appSecret,
        verifyToken: body.verifyToken,
        wabaId: idString(body.wabaId),
      };
    }
    try {
      const answer = await db.transaction().execute(async (trx) => {
        const row = serializeChannel(
          await insertChannel(trx, {
            kind: body.kind,
            name: body.name,
            externalId,
            credentials,
            settings,
            createdBy: me.id,
            ...(body.active !== undefined ? { active: body.active } : {}),
          }),
          config,
        );
        await commitAnswer(c, trx, 201, row);
        return row;
      });
      deps.logger.info({ channelId: answer.id, kind: answer.kind, externalId, by: me.id }, 'channel created');
      return c.json(answer, 201);
    } catch (err) {
      if (err instanceof ChannelExistsError) {
        throw conflict('channel_exists', err.message, { kind: err.kind, [err.kind === 'vk' ? 'groupId' : 'phoneNumberId']: err.externalId });
      }
      throw err;
    }
  });

  app.openapi(listChannelsRoute, async (c) => {
    const q = c.req.valid('query');
    const rows = await listChannels(db, {
      ...(q.kind ? { kind: q.kind } : {}),
      ...(q.active ? { active: q.active === 'true' } : {}),
    });
    return c.json({ items: rows.map((r) => serializeChannel(r, config)) }, 200);
  });

  app.openapi(getChannelRoute, async (c) => {
    const id = parseId(c.req.valid('param').id, 'channel');
    const row = await getChannel(db, id);
    if (!row) throw notFound('channel', id);
    return c.json(serializeChannel(row, config), 200);
  });

  app.openapi(patchChannelRoute, async (c) => {
    const me = c.get('employee');
    const id = parseId(c.req.valid('param').id, 'channel');
    const body = c.req.valid('json');
    const patch = settingsPatch(body.settings);

    // Read-modify-write of the settings under a row lock: concurrent PATCHes don't lose each other's keys.
    const updated = await db.transaction().execute(async (trx) => {
      const current = await getChannel(trx, id, { forUpdate: true });
      if (!current) throw notFound('channel', id);

      const allowed = CREDENTIAL_KEYS[current.kind] as readonly string[];
      for (const key of ALL_CREDENTIAL_KEYS) {
        if (body[key] !== undefined && !allowed.includes(key)) throw badRequest(key, `not a credential of a ${current.kind} channel`);
      }
      await checkSettingsRefs(trx, patch);

      const rotated = ALL_CREDENTIAL_KEYS.filter((k) => body[k] !== undefined);
      let credentials: ChannelCredentials | undefined;
      if (rotated.length > 0) {
        const next: Record<string, string> = { ...(current.credentials as unknown as Record<string, string>), kind: current.kind };
        for (const k of rotated) next[k] = idString(body[k]!);
        credentials = next as unknown as ChannelCredentials;
      }
      const settings = body.settings !== undefined ? mergeChannelSettings(current.settings, patch) : undefined;
      const row = await updateChannel(trx, id, {
        ...(body.name !== undefined ? { name: body.name } : {}),
        ...(body.active !== undefined ? { active: body.active } : {}),
        ...(settings ? { settings } : {}),
        ...(credentials ? { credentials } : {}),
      });
      if (!row) throw notFound('channel', id);
      deps.logger.info(
        { channelId: id, by: me.id, changed: Object.keys(body).filter((k) => !(ALL_CREDENTIAL_KEYS as readonly string[]).includes(k)), rotated },
        'channel updated',
      );
      const answer = serializeChannel(row, config);
      await commitAnswer(c, trx, 200, answer);
      return answer;
    });
    return c.json(updated, 200);
  });
}
