import { sql, type Kysely, type Transaction } from 'kysely';
import type { Channel, ChannelCredentials, ChannelKindColumn, ChannelSettings, Database } from '../schema.js';

type Q = Kysely<Database> | Transaction<Database>;

/** The contract's defaults; stored settings are always complete (defaults merged in at write time). */
export const DEFAULT_CHANNEL_SETTINGS: Readonly<ChannelSettings> = Object.freeze({
  taskTemplateId: null,
  extraAssigneeIds: [],
  createNewTaskIfNoActive: false,
  outgoingTasksOnlyOnReply: false,
  attachPublicationFiles: true,
  historyMessages: 10,
  undoSendSeconds: 0,
  receive: Object.freeze({
    messages: true,
    wallComments: true,
    photoComments: true,
    videoComments: true,
    boardComments: true,
    leadForms: true,
  }),
}) as Readonly<ChannelSettings>;

export type ChannelSettingsPatch = Partial<Omit<ChannelSettings, 'receive'>> & { receive?: Partial<ChannelSettings['receive']> };

/**
 * `patch` over `base` (defaults when absent): top-level keys replace, `receive` is merged key by key,
 * arrays are replaced. `undefined` leaves a value as it is; `null` is a value (taskTemplateId: null).
 */
export function mergeChannelSettings(base: Partial<ChannelSettings> | null | undefined, patch: ChannelSettingsPatch = {}): ChannelSettings {
  const from = { ...DEFAULT_CHANNEL_SETTINGS, ...defined(base ?? {}) } as ChannelSettings;
  const receive = { ...DEFAULT_CHANNEL_SETTINGS.receive, ...defined(from.receive ?? {}), ...defined(patch.receive ?? {}) };
  const { receive: _ignored, ...rest } = defined(patch);
  return { ...from, ...rest, extraAssigneeIds: [...(rest.extraAssigneeIds ?? from.extraAssigneeIds)], receive };
}

function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export class ChannelExistsError extends Error {
  constructor(readonly kind: ChannelKindColumn, readonly externalId: string) {
    super(`a ${kind} channel with id ${externalId} is already connected`);
    this.name = 'ChannelExistsError';
  }
}

function isUniqueViolation(err: unknown, constraint: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === '23505' &&
    (err as { constraint?: unknown }).constraint === constraint;
}

/** Throws ChannelExistsError when (kind, externalId) is taken. */
export async function insertChannel(
  db: Q,
  ch: {
    kind: ChannelKindColumn;
    name: string;
    externalId: string;
    credentials: ChannelCredentials;
    settings: ChannelSettings;
    createdBy: string | null;
    active?: boolean;
  },
): Promise<Channel> {
  try {
    return await db
      .insertInto('channels')
      .values({
        kind: ch.kind,
        name: ch.name,
        external_id: ch.externalId,
        credentials: JSON.stringify(ch.credentials),
        settings: JSON.stringify(ch.settings),
        created_by: ch.createdBy,
        active: ch.active ?? true,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  } catch (err) {
    if (isUniqueViolation(err, 'channels_kind_external_id_key')) throw new ChannelExistsError(ch.kind, ch.externalId);
    throw err;
  }
}

export async function getChannel(db: Q, id: string, opts: { forUpdate?: boolean } = {}): Promise<Channel | undefined> {
  if (!/^[1-9]\d{0,17}$/.test(id)) return undefined;
  let q = db.selectFrom('channels').selectAll().where('id', '=', id);
  if (opts.forUpdate) q = q.forUpdate();
  return q.executeTakeFirst();
}

export async function listChannels(db: Q, filter: { kind?: ChannelKindColumn; active?: boolean } = {}): Promise<Channel[]> {
  let q = db.selectFrom('channels').selectAll();
  if (filter.kind) q = q.where('kind', '=', filter.kind);
  if (filter.active !== undefined) q = q.where('active', '=', filter.active);
  return q.orderBy('id').execute();
}

/** What webhooks route by (VK group id, WhatsApp phone_number_id). Inactive channels are returned too. */
export async function findChannelByExternalId(db: Q, kind: ChannelKindColumn, externalId: string): Promise<Channel | undefined> {
  return db
    .selectFrom('channels')
    .selectAll()
    .where('kind', '=', kind)
    .where('external_id', '=', externalId)
    .executeTakeFirst();
}

/**
 * Channels of `kind` whose stored credential `field` equals `value` (WhatsApp's GET verification
 * finds its numbers by verify token); compare in constant time after.
 */
export async function findChannelsByCredential(db: Q, kind: ChannelKindColumn, field: string, value: string): Promise<Channel[]> {
  return db
    .selectFrom('channels')
    .selectAll()
    .where('kind', '=', kind)
    .where(sql<string>`credentials->>${field}`, '=', value)
    .execute();
}

export async function updateChannel(
  db: Q,
  id: string,
  patch: { name?: string; active?: boolean; settings?: ChannelSettings; credentials?: ChannelCredentials },
): Promise<Channel | undefined> {
  const values: Record<string, unknown> = { updated_at: new Date() };
  if (patch.name !== undefined) values.name = patch.name;
  if (patch.active !== undefined) values.active = patch.active;
  if (patch.settings !== undefined) values.settings = JSON.stringify(patch.settings);
  if (patch.credentials !== undefined) values.credentials = JSON.stringify(patch.credentials);
  return db.updateTable('channels').set(values).where('id', '=', id).returningAll().executeTakeFirst();
}
