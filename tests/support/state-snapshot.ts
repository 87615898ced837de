/**
 * What taskwire has stored, cheaply: per application table its row count and a checksum of its
 * rows (any insert, update or delete changes it), plus the names of the files under FILES_DIR.
 * The fuzz test compares snapshots around every refused request: a 4xx must store nothing.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'kysely';
import type { Db } from '../../db/index.js';

export interface StateSnapshot {
  tables: Record<string, { rows: number; checksum: string }>;
  files: string[];
}

/**
 * The application's tables. Excluded: the migration bookkeeping, and `idempotent_requests` — the
 * record of each request and its answer (so that a retry with the same key gets the same answer,
 * a refusal included), not a change the request made.
 */
export async function applicationTables(db: Db): Promise<string[]> {
  const rows = await sql<{ name: string }>`
    select table_name as name from information_schema.tables
    where table_schema = 'public' and table_type = 'BASE TABLE' and table_name not like 'kysely_%'
      and table_name <> 'idempotent_requests'
    order by table_name`.execute(db);
  return rows.rows.map((r) => r.name);
}

export async function takeSnapshot(db: Db, tables: string[], filesDir: string): Promise<StateSnapshot> {
  const query = tables
    .map((t) => `select '${t}' as name, count(*)::int as rows, coalesce(sum(hashtext(x::text)::bigint), 0)::text as checksum from "${t}" x`)
    .join(' union all ');
  const [result, files] = await Promise.all([sql.raw<{ name: string; rows: number; checksum: string }>(query).execute(db), listFiles(filesDir)]);
  const out: StateSnapshot['tables'] = {};
  for (const r of result.rows) out[r.name] = { rows: r.rows, checksum: r.checksum };
  return { tables: out, files };
}

/** What changed from `a` to `b`, for a person ('' when nothing did). */
export function snapshotDiff(a: StateSnapshot, b: StateSnapshot): string {
  const changes: string[] = [];
  for (const [name, x] of Object.entries(b.tables)) {
    const y = a.tables[name];
    if (!y) changes.push(`${name}: new table`);
    else if (y.rows !== x.rows) changes.push(`${name}: ${y.rows} → ${x.rows} rows`);
    else if (y.checksum !== x.checksum) changes.push(`${name}: rows changed`);
  }
  const before = new Set(a.files);
  const added = b.files.filter((f) => !before.has(f));
  const removed = a.files.filter((f) => !b.files.includes(f));
  if (added.length) changes.push(`files added: ${added.slice(0, 3).join(', ')}${added.length > 3 ? '…' : ''}`);
  if (removed.length) changes.push(`files removed: ${removed.slice(0, 3).join(', ')}`);
  return changes.join('; ');
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}
