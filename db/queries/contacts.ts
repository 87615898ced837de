import { sql, type Kysely, type Transaction } from 'kysely';
import type { ChannelKindColumn, Contact, Database } from '../schema.js';

type Q = Kysely<Database> | Transaction<Database>;

export interface ContactWithIdentities {
  contact: Contact;
  identities: Array<{ channelKind: ChannelKindColumn; externalId: string }>;
}

/** Digits only: `+7 (916) 123-45-67` → `79161234567`. */
export function normalizePhone(raw: string): string {
  return raw.replace(/\D/g, '');
}

async function withIdentities(db: Q, contacts: Contact[]): Promise<ContactWithIdentities[]> {
  if (contacts.length === 0) return [];
  const rows = await db
    .selectFrom('contact_identities')
    .select(['contact_id', 'channel_kind', 'external_id'])
    .where('contact_id', 'in', contacts.map((c) => c.id))
    .orderBy('id')
    .execute();
  return contacts.map((contact) => ({
    contact,
    identities: rows
      .filter((r) => String(r.contact_id) === String(contact.id))
      .map((r) => ({ channelKind: r.channel_kind, externalId: r.external_id })),
  }));
}

export async function getContactWithIdentities(db: Q, id: string): Promise<ContactWithIdentities | undefined> {
  if (!/^[1-9]\d{0,17}$/.test(id)) return undefined;
  const contact = await db.selectFrom('contacts').selectAll().where('id', '=', id).executeTakeFirst();
  return contact ? (await withIdentities(db, [contact]))[0] : undefined;
}

/**
 * Contacts whose phone (compared digits-only) or identity in a channel whose person ids are phone
 * numbers (`phoneKinds`: WhatsApp's wa_id, digits) equals `phone`, oldest first.
 */
export async function findContactsByPhone(db: Q, phone: string, phoneKinds: ChannelKindColumn[]): Promise<ContactWithIdentities[]> {
  const digits = normalizePhone(phone);
  if (!digits) return [];
  const contacts = await db
    .selectFrom('contacts')
    .selectAll()
    .where((eb) =>
      eb.or([
        sql<boolean>`regexp_replace(contacts.phone, '\\D', '', 'g') = ${digits}`,
        ...(phoneKinds.length
          ? [eb('id', 'in', eb.selectFrom('contact_identities').select('contact_id').where('channel_kind', 'in', phoneKinds).where('external_id', '=', digits))]
          : []),
      ]),
    )
    .orderBy('id')
    .limit(20)
    .execute();
  return withIdentities(db, contacts);
}
