// Frozen in time: imports nothing from the app.
import { type Kysely, sql } from 'kysely';

/**
 * Issue 12: a new person's profile is fetched by the worker outside the workflow
 * (worker/profile-enricher.ts). The identities still waiting for it (`profile.profilePending`) are
 * found by this index when a worker looks for look-ups that a stopped worker left unfinished.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index contact_identities_profile_pending on contact_identities (created_at) where (profile->>'profilePending') = 'true'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists contact_identities_profile_pending`.execute(db);
}
