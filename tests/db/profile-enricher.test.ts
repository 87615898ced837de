/**
 * Issue 12: new people's profiles fetched by the worker outside their workflows
 * (worker/profile-enricher.ts) — bounded attempts counted in the database, and the sweep that takes
 * up what a stopped worker left. The look-up itself is a stand-in here (the real one, with the fake
 * VK, is in tests/e2e/record-first.test.ts); the bookkeeping runs against real PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createLogger } from '../../runtime/logger.js';
import { PROFILE_ATTEMPTS, startProfileEnricher, type PendingProfile } from '../../worker/profile-enricher.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let t: TestDatabase;
let channelId: string;
let nextPeer = 1;
const logger = createLogger('silent');

beforeAll(async () => {
  t = await createTestDatabase();
  const ch = await t.db
    .insertInto('channels')
    .values({ kind: 'vk', name: 'Магазин', external_id: '218000001', credentials: JSON.stringify({}), settings: JSON.stringify({}) })
    .returning('id')
    .executeTakeFirstOrThrow();
  channelId = ch.id;
});

afterAll(async () => {
  await t?.drop();
});

/** A person recorded with a placeholder name, waiting for their profile; `ageSeconds` ago. */
async function waitingPerson(ageSeconds = 0): Promise<PendingProfile> {
  const peerId = String(nextPeer++);
  const contact = await t.db.insertInto('contacts').values({ name: `VK user ${peerId}` }).returning('id').executeTakeFirstOrThrow();
  await t.db
    .insertInto('contact_identities')
    .values({ contact_id: contact.id, channel_kind: 'vk', external_id: peerId, profile: JSON.stringify({ profilePending: true }), created_at: new Date(Date.now() - ageSeconds * 1000) })
    .execute();
  await t.db.insertInto('conversations').values({ channel_id: channelId, peer_id: peerId, contact_id: contact.id, workflow_id: `conversation/vk-218000001/${peerId}` }).execute();
  return { channelId, peerId };
}

async function profileOf(peerId: string) {
  const row = await t.db.selectFrom('contact_identities').select('profile').where('external_id', '=', peerId).executeTakeFirstOrThrow();
  return row.profile as Record<string, unknown>;
}

/** What the real look-up does when the profile came: the identity stops waiting. */
async function profileCame(peerId: string): Promise<void> {
  await sql`update contact_identities set profile = '{}'::jsonb where external_id = ${peerId}`.execute(t.db);
}

/** An enricher on the test database with `enrich` as its look-up; retries 5 ms apart, sweeps hourly unless told. */
function enricherWith(enrich: (c: PendingProfile) => Promise<unknown>, opts: { sweepIntervalMs?: number } = {}) {
  return startProfileEnricher({ db: t.db, logger, enrich, sweepIntervalMs: opts.sweepIntervalMs ?? 3_600_000, retryBaseMs: 5 });
}

async function until(check: () => Promise<boolean> | boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('the profile enricher', () => {
  it('a look-up that keeps failing is tried five times, counted in the row; then the placeholder stays', async () => {
    const person = await waitingPerson();
    const calls: string[] = [];
    const enricher = enricherWith(async (c) => {
      calls.push(c.peerId);
      throw new Error('VK internal error');
    });
    try {
      enricher.pending(person);
      enricher.pending(person); // asked twice while under way: one series of attempts
      await until(async () => (await profileOf(person.peerId)).profilePending === undefined, 'the wait to end');
      expect(calls).toEqual(Array(PROFILE_ATTEMPTS).fill(person.peerId));
      expect(await profileOf(person.peerId)).toEqual({ profileAttempts: PROFILE_ATTEMPTS });
      const contact = await t.db.selectFrom('contacts').select('name').where('name', '=', `VK user ${person.peerId}`).executeTakeFirst();
      expect(contact).toBeDefined();
    } finally {
      enricher.stop();
    }
  });

  it('a look-up that fails twice and then answers is done: two failures counted, no more calls', async () => {
    const person = await waitingPerson();
    let calls = 0;
    const enricher = enricherWith(async (c) => {
      if (++calls <= 2) throw new Error('timeout');
      await profileCame(c.peerId);
    });
    try {
      enricher.pending(person);
      await until(async () => (await profileOf(person.peerId)).profilePending === undefined, 'the profile');
      await new Promise((r) => setTimeout(r, 50));
      expect(calls).toBe(3);
    } finally {
      enricher.stop();
    }
  });

  it('at start every identity still waiting is taken up; later sweeps take those left waiting longer than the interval', async () => {
    const left = await waitingPerson(120);
    const recent = await waitingPerson(0);
    const asked: string[] = [];
    const enricher = enricherWith(async (c) => {
      asked.push(c.peerId);
      await profileCame(c.peerId);
    }, { sweepIntervalMs: 60_000 });
    try {
      // At start: both (a stopped worker may have left either).
      await until(() => asked.length === 2, 'both identities');
      expect(asked.sort()).toEqual([left.peerId, recent.peerId].sort());
      // Every interval: only the ones waiting longer than it (another worker may be asking for the rest).
      const fresh = await waitingPerson(0);
      const old = await waitingPerson(120);
      expect(await enricher.sweep()).toBe(1);
      await until(() => asked.length === 3, 'the one left waiting');
      expect(asked[2]).toBe(old.peerId);
      expect((await profileOf(fresh.peerId)).profilePending).toBe(true);
    } finally {
      enricher.stop();
    }
  });
});
