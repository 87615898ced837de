/**
 * Rows → the contract's JSON: camelCase, ids as strings, times as ISO-8601 UTC.
 * Channel answers never carry credentials: the serializer reads only non-secret columns.
 */
import { channelDefinition } from '../channels/index.js';
import type { Channel, ChannelSettings, Employee, QuickReply, Role, TaskTemplate } from '../db/schema.js';
import type { ContactWithIdentities } from '../db/queries/contacts.js';
import type { Config } from '../runtime/config.js';
import type { SlaSettings } from '../workflows/shared/sla-calendar.js';

export const iso = (d: Date | string): string => (d instanceof Date ? d : new Date(d)).toISOString();
export const isoOrNull = (d: Date | string | null | undefined): string | null => (d == null ? null : iso(d));
const str = (v: string | number | bigint): string => String(v);

export interface EmployeeJson {
  id: string;
  name: string;
  role: Role;
  email?: string;
  createdAt: string;
}
export function serializeEmployee(e: Employee): EmployeeJson {
  return { id: str(e.id), name: e.name, role: e.role, ...(e.email ? { email: e.email } : {}), createdAt: iso(e.created_at) };
}

export function serializeTemplate(t: TaskTemplate) {
  const creator =
    t.creator.type === 'employee' ? { type: 'employee' as const, employeeId: str(t.creator.employeeId ?? '') } : { type: 'channelOwner' as const };
  return {
    id: str(t.id),
    name: t.name,
    creator,
    assigneeIds: (t.assignee_ids ?? []).map(str),
    customFields: (t.custom_fields ?? []).map((f) => ({ name: f.name, type: f.type })),
    createdBy: t.created_by === null ? null : str(t.created_by),
    createdAt: iso(t.created_at),
  };
}

/** `PUBLIC_URL` (no trailing slash), else `http://HOST:PORT`. */
export function publicBaseUrl(config: Pick<Config, 'PUBLIC_URL' | 'HOST' | 'PORT'>): string {
  if (config.PUBLIC_URL) return config.PUBLIC_URL.replace(/\/+$/, '');
  const host = config.HOST.includes(':') && !config.HOST.startsWith('[') ? `[${config.HOST}]` : config.HOST;
  return `http://${host}:${config.PORT}`;
}

/** Where the channel's messenger posts its events (Telegram's URL names the channel). */
export function webhookUrl(config: Pick<Config, 'PUBLIC_URL' | 'HOST' | 'PORT'>, channel: Pick<Channel, 'id' | 'kind'>): string {
  return `${publicBaseUrl(config)}${channelDefinition(channel.kind).webhook.path(channel)}`;
}

function serializeSettings(s: ChannelSettings): Omit<ChannelSettings, 'sla'> & { sla?: SlaSettings; undoSendSeconds: number } {
  return {
    taskTemplateId: s.taskTemplateId == null ? null : str(s.taskTemplateId),
    extraAssigneeIds: (s.extraAssigneeIds ?? []).map(str),
    createNewTaskIfNoActive: s.createNewTaskIfNoActive,
    outgoingTasksOnlyOnReply: s.outgoingTasksOnlyOnReply,
    attachPublicationFiles: s.attachPublicationFiles,
    historyMessages: s.historyMessages,
    undoSendSeconds: s.undoSendSeconds ?? 0,
    ...(s.sla ? { sla: s.sla } : {}),
    receive: { ...s.receive },
  };
}

/**
 * `{id, kind, name, active, webhookUrl, settings}` plus the channel's public identifiers, as its
 * definition shows them (VK `groupId`; WhatsApp `phoneNumberId`, `wabaId`). Never a secret.
 */
export function serializeChannel(ch: Channel, config: Pick<Config, 'PUBLIC_URL' | 'HOST' | 'PORT'>) {
  const ids = channelDefinition(ch.kind).credentials.show(ch);
  return {
    id: str(ch.id),
    kind: ch.kind,
    name: ch.name,
    active: ch.active,
    webhookUrl: webhookUrl(config, ch),
    settings: serializeSettings(ch.settings),
    ...ids,
    createdBy: ch.created_by === null ? null : str(ch.created_by),
    createdAt: iso(ch.created_at),
    updatedAt: iso(ch.updated_at),
  };
}

export function serializeContact({ contact, identities }: ContactWithIdentities) {
  return {
    id: str(contact.id),
    name: contact.name,
    ...(contact.phone ? { phone: contact.phone } : {}),
    identities: identities.map((i) => ({ channelKind: i.channelKind, externalId: i.externalId })),
    createdAt: iso(contact.created_at),
  };
}

export function serializeQuickReply(q: QuickReply) {
  return {
    id: str(q.id),
    title: q.title,
    text: q.text,
    createdBy: q.created_by === null ? null : str(q.created_by),
    createdAt: iso(q.created_at),
    updatedAt: iso(q.updated_at),
  };
}
