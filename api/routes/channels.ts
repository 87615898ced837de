/**
 * Channels: a VK community, a WhatsApp Business number, … (the kinds of channels/index.ts) with
 * its credentials, task template and options. Credentials are write-only: stored in
 * `credentials`, never returned. What differs by kind comes from the channel's definition.
 */
import { forgetCachedChannels } from '../read-cache.js';
import { z, type OpenAPIHono } from '@hono/zod-openapi';
import { channelDefinition, channelDefinitions, channelKinds } from '../../channels/index.js';
import { ChannelCredentialsRefused, type ChannelDefinition } from '../../channels/types.js';
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
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { ApiError, badRequest, conflict, notFound, parseId } from '../errors.js';
import { commitAnswer } from '../idempotency.js';
import { apiResource, MANAGERS } from '../route-specs.js';
import { IdInput, idString, IsoTime, jsonResponse } from '../schemas.js';
import { serializeChannel } from '../serializers.js';
import { SlaSettingsInput, slaSettingsOf } from '../sla-settings.js';

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

/** Issue 13: every notifying conversation reply waits this long (and can be cancelled meanwhile). */
const UndoSendSeconds = z.number().int().min(0).max(60).openapi({ description: 'Seconds every notifying reply in a conversation waits before it goes out (0–60; 0: at once); POST /api/comments/{id}/cancel takes it back meanwhile' });

/** Every key optional; unknown keys are refused (a typo must not pass silently). */
export const ChannelSettingsInput = z
  .strictObject({
    taskTemplateId: IdInput.nullable().optional(),
    extraAssigneeIds: z.array(IdInput).max(100).optional(),
    createNewTaskIfNoActive: z.boolean().optional(),
    outgoingTasksOnlyOnReply: z.boolean().optional(),
    attachPublicationFiles: z.boolean().optional(),
    historyMessages: HistoryMessages.optional(),
    sla: SlaSettingsInput.nullable().optional(),
    undoSendSeconds: UndoSendSeconds.optional(),
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
    sla: SlaSettingsInput.optional(),
    undoSendSeconds: UndoSendSeconds,
    receive: ReceiveSchema,
  })
  .openapi('ChannelSettings');

const Name = z.string().trim().min(1).max(200);

/** POST /api/channels of one kind: the common fields and the kind's own (its definition's `credentials.create`). */
function createBodyOf(def: ChannelDefinition) {
  return z
    .object({
      kind: z.literal(def.kind),
      name: Name.openapi({ example: `Our ${def.label} channel` }),
      ...def.credentials.create.shape,
      active: z.boolean().optional(),
      settings: ChannelSettingsInput.optional(),
    })
    .openapi(`Create${def.schemaName}Channel`);
}

const createBodies = channelDefinitions().map(createBodyOf);
const CreateChannelBody = (createBodies.length === 1 ? createBodies[0]! : z.discriminatedUnion('kind', createBodies as [(typeof createBodies)[number], ...(typeof createBodies)[number][]])).openapi(
  'CreateChannel',
);

/** Every secret some kind may rotate; a channel takes only its own kind's (else 400 naming the field). */
const ROTATABLE: Record<string, z.ZodType> = Object.assign({}, ...channelDefinitions().map((d) => d.credentials.rotatable));
const ALL_CREDENTIAL_KEYS = Object.keys(ROTATABLE);

const PatchChannelBody = z
  .strictObject({
    name: Name.optional(),
    active: z.boolean().optional(),
    settings: ChannelSettingsInput.optional(),
    ...Object.fromEntries(Object.entries(ROTATABLE).map(([key, schema]) => [key, schema.optional()])),
  })
  .openapi('PatchChannel');

/** The public fields the kinds show (VK `groupId`, WhatsApp `phoneNumberId`, …), each present for its own kind. */
const SHOWN: Record<string, z.ZodType> = Object.assign({}, ...channelDefinitions().map((d) => d.credentials.shown));

export const ChannelSchema = z
  .object({
    id: z.string().openapi({ example: '3' }),
    kind: z.enum(channelKinds()),
    name: z.string(),
    active: z.boolean(),
    webhookUrl: z.string().openapi({ example: 'https://taskwire.example.com/webhooks/vk' }),
    settings: ChannelSettingsSchema,
    ...Object.fromEntries(Object.entries(SHOWN).map(([key, schema]) => [key, schema.optional()])),
    createdBy: z.string().nullable().openapi({ description: 'The configuring employee (rule 5)' }),
    createdAt: IsoTime,
    updatedAt: IsoTime,
  })
  .openapi('Channel');

// --- routes ----------------------------------------------------------------------------------

const channels = apiResource('/api/channels', 'channels', ChannelSchema);

const ChannelExists = z.object({ error: z.object({ code: z.literal('channel_exists'), message: z.string(), details: z.record(z.string(), z.unknown()).optional() }) });

const createChannelRoute = channels.create({
  summary: `Connect a channel: ${channelDefinitions().map((d) => d.label).join(', ')} (owner/admin)`,
  description:
    'The creator becomes the channel\'s configuring employee. Secrets are stored and never returned. ' +
    'Some channels check the credentials with the messenger first: refused, nothing is stored (`422 invalid_credentials`).',
  roles: MANAGERS,
  body: CreateChannelBody,
  answer: 'The channel (no secrets); point the channel\'s webhook at `webhookUrl`',
  errors: [422],
  responses: { 409: jsonResponse(ChannelExists, 'This channel (VK community, WhatsApp number, …) is already connected (`channel_exists`)') },
});

const listChannelsRoute = channels.list({
  summary: 'List channels',
  query: z.object({
    kind: z.enum(channelKinds()).optional(),
    active: z.enum(['true', 'false']).optional(),
  }),
  items: 'Channels, oldest first',
});

const getChannelRoute = channels.get({ summary: 'One channel', answer: 'The channel' });

const patchChannelRoute = channels.patch({
  summary: 'Rename, (de)activate, change settings or rotate credentials (owner/admin)',
  description: '`settings` is merged over the current settings (`receive` key by key; arrays are replaced).',
  roles: MANAGERS,
  body: PatchChannelBody,
  answer: 'The channel after the change',
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
  if (patch.sla?.escalateToIds?.length) {
    const missing = await missingEmployeeIds(db, patch.sla.escalateToIds);
    if (missing.length > 0) throw badRequest('settings.sla.escalateToIds', `no such employee: ${missing.join(', ')}`, { missing });
  }
}

function settingsPatch(input: z.infer<typeof ChannelSettingsInput> | undefined): ChannelSettingsPatch {
  if (!input) return {};
  const { taskTemplateId, extraAssigneeIds, sla, ...rest } = input;
  return {
    ...rest,
    ...(sla !== undefined ? { sla: slaSettingsOf(sla) } : {}),
    ...(taskTemplateId !== undefined ? { taskTemplateId: taskTemplateId === null ? null : idString(taskTemplateId) } : {}),
    ...(extraAssigneeIds !== undefined ? { extraAssigneeIds: [...new Set(extraAssigneeIds.map(idString))] } : {}),
  };
}

/** A messenger that refused the credentials: 422 `invalid_credentials`, and nothing is stored. */
async function refusedAs422<T>(check: () => Promise<T>): Promise<T> {
  try {
    return await check();
  } catch (err) {
    if (err instanceof ChannelCredentialsRefused) {
      throw new ApiError(422, 'invalid_credentials', err.message, err.field ? { field: err.field } : undefined);
    }
    throw err;
  }
}

export function registerChannelRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  const { db, config } = deps;

  app.openapi(createChannelRoute, async (c) => {
    const me = c.get('employee');
    const body = c.req.valid('json');
    const patch = settingsPatch(body.settings);
    await checkSettingsRefs(db, patch);
    const settings = mergeChannelSettings(DEFAULT_CHANNEL_SETTINGS, patch);

    // The kind's own fields: checked with the messenger where it can (nothing is stored when refused).
    const def = channelDefinition(body.kind);
    const { externalId, credentials } = await refusedAs422(() => def.credentials.prepare(body, { env: config }));
    try {
      const answer = await db.transaction().execute(async (trx) => {
        const inserted = await insertChannel(trx, {
          kind: body.kind,
          name: body.name,
          externalId,
          credentials,
          settings,
          createdBy: me.id,
          ...(body.active !== undefined ? { active: body.active } : {}),
        });
        const row = serializeChannel(inserted, config);
        // E.g. Telegram's setWebhook, whose URL names the channel: refused, the insert is rolled back.
        await refusedAs422(async () => def.credentials.afterCreate?.(inserted, { env: config, webhookUrl: row.webhookUrl }));
        await commitAnswer(c, trx, 201, row);
        return row;
      });
      forgetCachedChannels(db);
      deps.logger.info({ channelId: answer.id, kind: answer.kind, externalId, by: me.id }, 'channel created');
      return c.json(answer, 201);
    } catch (err) {
      if (err instanceof ChannelExistsError) {
        throw conflict('channel_exists', err.message, { kind: err.kind, [channelDefinition(err.kind).credentials.externalIdField]: err.externalId });
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
    const secrets = body as Record<string, unknown>;
    const patch = settingsPatch(body.settings);

    // Read-modify-write of the settings under a row lock: concurrent PATCHes don't lose each other's keys.
    const updated = await db.transaction().execute(async (trx) => {
      const current = await getChannel(trx, id, { forUpdate: true });
      if (!current) throw notFound('channel', id);

      const allowed = Object.keys(channelDefinition(current.kind).credentials.rotatable);
      for (const key of ALL_CREDENTIAL_KEYS) {
        if (secrets[key] !== undefined && !allowed.includes(key)) throw badRequest(key, `not a credential of a ${current.kind} channel`);
      }
      await checkSettingsRefs(trx, patch);

      const rotated = ALL_CREDENTIAL_KEYS.filter((k) => secrets[k] !== undefined);
      let credentials: ChannelCredentials | undefined;
      if (rotated.length > 0) {
        credentials = { ...current.credentials, kind: current.kind };
        for (const k of rotated) credentials[k] = idString(secrets[k] as string | number);
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
        { channelId: id, by: me.id, changed: Object.keys(body).filter((k) => !ALL_CREDENTIAL_KEYS.includes(k)), rotated },
        'channel updated',
      );
      const answer = serializeChannel(row, config);
      await commitAnswer(c, trx, 200, answer);
      return answer;
    });
    forgetCachedChannels(db); // after the commit: a delivery meanwhile must not keep the old row
    return c.json(updated, 200);
  });
}
