/**
 * Searching the lists at scale, in-process against the data layer, on both engines: a fresh
 * database seeded with 10,000 users (each in one or two of 500 groups), 10,000 grants and
 * 100,000 audit entries, then each query timed (after a warm-up) as the API runs it: a page of
 * 100 with its total count.
 *
 *   npx tsx bench/list-search.ts [users=10000] [audit=100000] [calls=50]
 *
 * Prints the median and p90 of each in milliseconds. PostgreSQL is a throwaway cluster from the
 * machine's binaries (test/postgres.ts).
 */
import { performance } from 'node:perf_hooks';
import { listAudit } from '../src/server/data/audit.js';
import type { Db } from '../src/server/data/db.js';
import { listGrants } from '../src/server/data/grants.js';
import { listGroups } from '../src/server/data/groups.js';
import { listUsers, summarizeUsers } from '../src/server/data/users.js';
import { engines, openTestDb } from '../test/engines.js';
import { machine } from './lib.js';

const userCount = Number(process.argv[2] ?? 10_000);
const auditCount = Number(process.argv[3] ?? 100_000);
const calls = Number(process.argv[4] ?? 50);
const groupCount = 500;

/** Inserts rows in batches (a statement has a bounded number of variables). */
async function insertAll<T extends object>(
  db: Db,
  table: 'users' | 'groups' | 'groupMembers' | 'grants' | 'auditLog',
  rows: T[],
): Promise<void> {
  const perRow = Object.keys(rows[0] ?? {}).length || 1;
  const batch = Math.floor(30_000 / perRow);
  for (let i = 0; i < rows.length; i += batch)
    await db
      .insertInto(table)
      .values(rows.slice(i, i + batch) as never)
      .execute();
}

async function seed(db: Db): Promise<void> {
  const now = Date.now();
  const users = Array.from({ length: userCount }, (_, i) => ({
    id: `usr_bench${i}`,
    name: `user-${i}@team-${i % 50}.example.com`,
    kind: 'user' as const,
    managedBy: 'api' as const,
    createdAt: now,
    updatedAt: now,
    lastSeenAt: null,
  }));
  await insertAll(db, 'users', users);
  await insertAll(
    db,
    'groups',
    Array.from({ length: groupCount }, (_, i) => ({
      id: `grp_bench${i}`,
      name: `Group ${i}`,
      managedBy: 'api' as const,
      createdAt: now,
      updatedAt: now,
    })),
  );
  await insertAll(
    db,
    'groupMembers',
    users.flatMap((u, i) =>
      [i % groupCount, (i * 7) % groupCount]
        .filter((g, k, all) => all.indexOf(g) === k)
        .map((g) => ({ groupId: `grp_bench${g}`, userId: u.id, source: 'api', createdAt: now })),
    ),
  );
  await insertAll(
    db,
    'grants',
    users.map((u, i) => ({
      id: `grt_bench${String(i).padStart(6, '0')}`,
      subjectKind: 'user' as const,
      subjectId: u.id,
      privilege: i % 10 === 0 ? 'edit' : 'view',
      resource: `cluster-${i % 20}`,
      destination: `cluster-${i % 20}`,
      expiresAt: null,
      managedBy: 'api' as const,
      createdBy: null,
      createdAt: now,
    })),
  );
  // The chain's hashes do not matter here; only the rows searched.
  await insertAll(
    db,
    'auditLog',
    Array.from({ length: auditCount }, (_, i) => ({
      seq: i + 1,
      at: now - (auditCount - i) * 1000,
      actorId: 'usr_admin',
      actorName: i % 100 === 0 ? 'ops@example.com' : 'admin@example.com',
      action: 'createGrant',
      targetKind: 'grant',
      targetId: `grt_bench${i}`,
      targetName: `user user-${i % userCount}@team-${i % 50}.example.com: view on cluster-${i % 20}`,
      sourceIp: '127.0.0.1',
      result: 'success',
      details: '{}',
      prevHash: '',
      hash: '',
    })),
  );
}

async function time(what: string, run: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < 5; i++) await run();
  const ms: number[] = [];
  let result: unknown;
  for (let i = 0; i < calls; i++) {
    const t = performance.now();
    result = await run();
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  const at = (q: number) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))]!.toFixed(2);
  const page = result as { items?: unknown[]; total?: number };
  const found = page.items ? ` (${page.items.length} shown of ${page.total ?? '?'})` : '';
  console.log(`  ${what.padEnd(58)} p50 ${at(0.5)} ms, p90 ${at(0.9)} ms${found}`);
}

console.log(`machine: ${machine()}`);
console.log(
  `${userCount} users, ${groupCount} groups, ${userCount} grants, ${auditCount} audit entries; ${calls} calls each`,
);
for (const engine of engines) {
  const database = await openTestDb(engine);
  try {
    const t = performance.now();
    await seed(database.db);
    console.log(`\n[${engine}] seeded in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const db = database.readDb;
    const page = { count: true, limit: 100 };
    await time('users: first page, no search', () => listUsers(db, page));
    await time("users: search 'USER-12' (many matches)", () =>
      listUsers(db, { ...page, search: 'USER-12' }),
    );
    await time("users: search 'user-9999@' (one match)", () =>
      listUsers(db, { ...page, search: 'user-9999@' }),
    );
    await time("users: search 'nobody' (no match)", () =>
      listUsers(db, { ...page, search: 'nobody' }),
    );
    await time("users: search '50%' (escaped, no match)", () =>
      listUsers(db, { ...page, search: '50%' }),
    );
    const first = await listUsers(db, page);
    await time('users: roles, groups, origin of a page of 100', () =>
      summarizeUsers(
        db,
        first.items.map((u) => u.id),
        Date.now(),
      ),
    );
    await time("groups: search 'group 4'", () => listGroups(db, { ...page, search: 'group 4' }));
    await time("grants: search 'user-12', role view", () =>
      listGrants(db, { ...page, activeAt: Date.now(), search: 'user-12', byPrivilege: 'view' }),
    );
    await time("audit: actor 'ops' (1 in 100 entries)", () =>
      listAudit(db, { limit: 100, byActorName: 'ops' }),
    );
    await time("audit: target 'user-9999@' (rare: scans the log)", () =>
      listAudit(db, { limit: 100, byTargetName: 'user-9999@' }),
    );
  } finally {
    await database.close();
  }
}
process.exit(0);
