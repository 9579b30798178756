import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { TestClock } from '../../../test/clock.js';
import { engines, openTestDb } from '../../../test/engines.js';
import { createLogger } from '../../shared/logger.js';
import type { OpenDb } from '../data/db.js';
import { deleteStaleReplicas, listTunnels } from '../data/tunnels.js';
import type { TunnelRecord } from '../models.js';
import { REPLICA_LIVE_MS, ReplicaPresence } from './tunnels.js';

const quiet = createLogger({
  level: 'error',
  json: true,
  destination: new Writable({ write: (_c, _e, cb) => cb() }),
});

for (const engine of engines) {
  describe(`ReplicaPresence [${engine}]`, () => {
    let database: OpenDb;
    const clock = new TestClock();
    before(async () => {
      database = await openTestDb(engine);
    });
    after(() => database.close());

    it('records tunnels as they open and close; a replica forgotten by the others writes them again', async () => {
      const db = database.db;
      let held: TunnelRecord[] = [];
      const presence = new ReplicaPresence({ db, clock, log: quiet, held: () => held });
      const tunnel = (n: number): TunnelRecord => ({
        id: `tunnel-${engine}-${n}`,
        destination: `d${n}`,
        replicaId: presence.id,
        connectedAt: clock.now(),
      });
      const listed = async () =>
        (await listTunnels(db, clock.now() - REPLICA_LIVE_MS))
          .filter((t) => t.replicaId === presence.id)
          .map((t) => t.destination)
          .sort();

      held = Array.from({ length: 1200 }, (_, i) => tunnel(i));
      await presence.beat();
      assert.equal((await listed()).length, 1200);
      held = held.filter((t) => t.destination !== 'd7');
      await presence.beat();
      assert.ok(!(await listed()).includes('d7'));
      assert.equal((await listed()).length, 1199);

      // Silent past the live window: its tunnels stop counting, without any write.
      clock.advance(REPLICA_LIVE_MS + 1);
      assert.deepEqual(await listed(), []);
      // Forgotten by another replica's sweep, then back: everything it holds is there again.
      await deleteStaleReplicas(db, clock.now());
      held = [...held, tunnel(5000)];
      await presence.beat();
      assert.equal((await listed()).length, 1200);
      assert.ok((await listed()).includes('d5000'));

      await presence.stop();
      assert.deepEqual(await listed(), []);
    });
  });
}
