// Frozen in time: imports nothing from the app.
import { type Kysely, sql } from 'kysely';

/**
 * Channel kinds are the folders registered in channels/index.ts, validated where they come in (the
 * API): the database no longer lists them, so a new messenger needs no migration.
 */
export async function up(db: Kysely<any>): Promise<void> {
  // The CHECK 0001 put on channels.kind (PostgreSQL named it <table>_<column>_check).
  await sql`alter table channels drop constraint if exists channels_kind_check`.execute(db);
  // A kind is a short lowercase name ('vk', 'whatsapp', 'telegram'): nothing else is a kind.
  await sql`alter table channels add constraint channels_kind_name check (kind ~ '^[a-z][a-z0-9_-]{0,31}$')`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table channels drop constraint if exists channels_kind_name`.execute(db);
  await sql`alter table channels add constraint channels_kind_check check (kind in ('vk', 'whatsapp'))`.execute(db);
}
