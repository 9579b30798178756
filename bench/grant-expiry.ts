/**
 * How late a temporary grant is removed after its expiry (the GrantExpiry timer, not the 30 s
 * sweep), on SQLite: grants expiring one after another over a few seconds, each removal's
 * audit time against its expiry. Removal records the change that wakes the connectors' feeds;
 * the feed and the connector add their own (small) delay on top, see the revocation numbers.
 *
 *   npx tsx bench/grant-expiry.ts [grants=50] [spreadMs=3000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { ChangeNotifier } from '../src/server/access/changes.js';
import { GrantExpiry } from '../src/server/access/grant-expiry.js';
import { listAudit } from '../src/server/data/audit.js';
import { openSqlite } from '../src/server/data/db.js';
import { createGrant } from '../src/server/data/grants.js';
import { migrate } from '../src/server/data/migrate.js';
import { createUser } from '../src/server/data/users.js';
import { systemClock } from '../src/shared/clock.js';
import { newId } from '../src/shared/ids.js';
import { createLogger } from '../src/shared/logger.js';
import { machine, percentiles } from './lib.js';

const count = Number(process.argv[2] ?? 50);
const spread = Number(process.argv[3] ?? 3000);
const dir = mkdtempSync(path.join(tmpdir(), 'infra-bench-expiry-'));
const log = createLogger({
  level: 'error',
  json: true,
  destination: new Writable({ write: (_c, _e, cb) => cb() }),
});
const database = openSqlite(path.join(dir, 'infra.db'));
const db = database.db;
await migrate(db);
const changes = new ChangeNotifier({ db, log });
await changes.start();
const expiry = new GrantExpiry({ db, clock: systemClock, log, changes });
await expiry.start();

const start = Date.now() + 500;
const user = await createUser(db, {
  id: newId('user'),
  name: 'b@example.com',
  managedBy: 'api',
  now: Date.now(),
});
const expiries = new Map<string, number>();
for (let i = 0; i < count; i++) {
  const id = newId('grant');
  const at = start + Math.round((spread * i) / count);
  expiries.set(id, at);
  await createGrant(db, {
    id,
    subject: { kind: 'user', id: user.id },
    privilege: `role-${i}`,
    resource: 'prod',
    expiresAt: at,
    managedBy: 'api',
    createdBy: null,
    now: Date.now(),
  });
  expiry.schedule(at);
}
await new Promise((r) => setTimeout(r, start + spread + 1000 - Date.now()));
const audit = await listAudit(db, { byAction: 'expireGrant', limit: count + 1 });
const lags = audit.items.map((e) => e.at - expiries.get(e.targetId!)!);
console.log(machine());
console.log(
  `removed ${audit.items.length} of ${count} grants; removal after expiry: ${percentiles(lags)}`,
);
expiry.stop();
changes.close();
await database.close();
rmSync(dir, { recursive: true, force: true });
