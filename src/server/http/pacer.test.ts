import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Pacer } from './pacer.js';

const nextTurn = () => new Promise((r) => setImmediate(r));

describe('the pacer', () => {
  it('lets a few callers through per turn of the event loop, the rest in order later', async () => {
    const pacer = new Pacer(3);
    const through: number[] = [];
    const all = Array.from({ length: 8 }, (_, i) => pacer.turn().then(() => through.push(i)));
    await Promise.resolve();
    assert.deepEqual(through, [0, 1, 2]);
    await nextTurn();
    assert.deepEqual(through, [0, 1, 2, 3, 4, 5]);
    await nextTurn();
    await Promise.all(all);
    assert.deepEqual(through, [0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('lets callers through at once again after a quiet turn', async () => {
    const pacer = new Pacer(1);
    await pacer.turn();
    await nextTurn();
    let passed = false;
    void pacer.turn().then(() => (passed = true));
    await Promise.resolve();
    assert.equal(passed, true);
  });
});
