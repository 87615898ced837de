/**
 * Record first, enrich later (issue 12), outside the workflow: a new person whose profile costs a
 * channel call (VK `users.get`) is recorded with a placeholder name, and this worker-side service
 * fetches the profile — batched across conversations by `enrichContact` (activities/contacts.ts) —
 * and renames the contact and its tasks. The conversation run neither waits for it nor hears of it:
 * no activity, workflow task or memo change per new person (the memo follows the name with the
 * person's next recorded message).
 *
 * Nothing is lost when the worker stops mid-look-up: what is still waiting is in the database
 * (`contact_identities.profile.profilePending`, indexed); a worker takes up every identity still
 * waiting when it starts, and those left waiting longer than `sweepIntervalMs` that often. A look-up that fails is tried again after
 * 1, 2, 4 and 8 s; after five failed attempts (counted in the database, so a restart does not
 * reset them) the placeholder stays for good. A refusal by the channel (a deleted account, a token
 * without the right) ends the wait at once (enrichContact). Two workers asking for the same person
 * is harmless: the rename is conditional on the placeholder.
 */
import { sql } from 'kysely';
import type { Db } from '../db/index.js';
import type { Logger } from '../runtime/logger.js';

/** Attempts per person before the placeholder stays for good. */
export const PROFILE_ATTEMPTS = 5;

export interface PendingProfile {
  channelId: string;
  peerId: string;
}

export interface ProfileEnricherOptions {
  db: Db;
  logger: Logger;
  /** One look-up (activities/contacts.ts `enrichContact`): idempotent; throws when it should be tried again. */
  enrich: (contact: PendingProfile) => Promise<unknown>;
  /** How often to look for identities left waiting (and how long one waits before it counts as left). */
  sweepIntervalMs: number;
  /** The first retry's delay, doubled for each next one (1 s). */
  retryBaseMs?: number;
}

export interface ProfileEnricher {
  /** A contact was just created with a placeholder name (after its transaction committed). */
  pending(contact: PendingProfile): void;
  /**
   * Takes up identities waiting longer than `olderThanMs` (default `sweepIntervalMs`, as every
   * `sweepIntervalMs`; at start: all of them). Resolves with how many.
   */
  sweep(olderThanMs?: number): Promise<number>;
  stop(): void;
}

export function startProfileEnricher({ db, logger, enrich, sweepIntervalMs, retryBaseMs = 1000 }: ProfileEnricherOptions): ProfileEnricher {
  const inFlight = new Set<string>();
  /** Wakes a look-up waiting to be tried again (on stop: it ends; the next worker's sweep takes it up). */
  const retryWaits = new Set<() => void>();
  let stopped = false;

  function pending(contact: PendingProfile): void {
    const key = `${contact.channelId}:${contact.peerId}`;
    if (stopped || inFlight.has(key)) return;
    inFlight.add(key);
    void attempt(contact).finally(() => inFlight.delete(key));
  }

  /** Tries until the profile came, the channel refused it, or the attempts ran out. */
  async function attempt(contact: PendingProfile): Promise<void> {
    for (;;) {
      try {
        await enrich(contact);
        return;
      } catch (err) {
        if (stopped) return; // the next worker's sweep takes it up
        const attempts = await failed(contact).catch((dbErr: unknown) => {
          logger.warn({ ...contact, err: String(dbErr) }, 'could not count a failed profile look-up; a later sweep tries again');
          return PROFILE_ATTEMPTS;
        });
        if (attempts === undefined) return; // not waiting any more (named meanwhile)
        if (attempts >= PROFILE_ATTEMPTS) {
          logger.warn({ ...contact, attempts, err: String(err) }, 'the profile could not be fetched; the contact keeps its placeholder name');
          return;
        }
        await new Promise<void>((resolve) => {
          const wake = () => {
            clearTimeout(t);
            retryWaits.delete(wake);
            resolve();
          };
          const t = setTimeout(wake, retryBaseMs * 2 ** (attempts - 1));
          t.unref();
          retryWaits.add(wake);
        });
        if (stopped) return;
      }
    }
  }

  /**
   * Counts a failed attempt; the last one ends the wait (the placeholder stays). Returns the
   * attempts so far, or undefined when the identity no longer waits for a profile.
   */
  async function failed({ channelId, peerId }: PendingProfile): Promise<number | undefined> {
    const r = await sql<{ attempts: number }>`
      update contact_identities i
         set profile = case
               when coalesce((i.profile->>'profileAttempts')::int, 0) + 1 >= ${PROFILE_ATTEMPTS}
                 then (i.profile - 'profilePending') || jsonb_build_object('profileAttempts', coalesce((i.profile->>'profileAttempts')::int, 0) + 1)
               else i.profile || jsonb_build_object('profileAttempts', coalesce((i.profile->>'profileAttempts')::int, 0) + 1)
             end
        from channels ch
       where ch.id = ${channelId} and i.channel_kind = ch.kind and i.external_id = ${peerId}
         and (i.profile->>'profilePending') = 'true'
      returning (i.profile->>'profileAttempts')::int as attempts`.execute(db);
    return r.rows[0]?.attempts;
  }

  async function sweep(olderThanMs = sweepIntervalMs): Promise<number> {
    const r = await sql<{ channel_id: string; peer_id: string }>`
      select v.channel_id::text as channel_id, v.peer_id
        from contact_identities i
        join conversations v on v.contact_id = i.contact_id and v.peer_id = i.external_id
        join channels ch on ch.id = v.channel_id and ch.kind = i.channel_kind
       where (i.profile->>'profilePending') = 'true'
         and i.created_at < now() - make_interval(secs => ${olderThanMs / 1000})
       order by i.created_at
       limit 1000`.execute(db);
    for (const row of r.rows) pending({ channelId: row.channel_id, peerId: row.peer_id });
    if (r.rows.length) logger.info({ count: r.rows.length }, 'profile look-ups left unfinished are taken up again');
    return r.rows.length;
  }

  /** A sweep that fails (the database away) is only logged: the next one looks again. */
  function sweepLater(olderThanMs?: number): void {
    void sweep(olderThanMs).catch((err: unknown) => logger.warn({ err: String(err) }, 'looking for unfinished profile look-ups failed; trying again later'));
  }
  const sweepTimer = setInterval(() => sweepLater(), sweepIntervalMs);
  sweepTimer.unref();
  // At start, everything still waiting: what a stopped worker left is taken up at once. (Another
  // worker may be asking for some of them right now: harmless, the rename is conditional.)
  sweepLater(0);

  return {
    pending,
    sweep,
    stop() {
      stopped = true;
      clearInterval(sweepTimer);
      for (const wake of [...retryWaits]) wake();
    },
  };
}
