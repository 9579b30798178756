import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LayeredMap } from './layered-map.js';

describe('LayeredMap', () => {
  it('derives maps with entries changed and removed, leaving the one it came from as it was', () => {
    const a = new LayeredMap(
      new Map([
        ['x', 1],
        ['y', 2],
      ]),
    );
    const b = a.with([
      ['y', undefined],
      ['z', 3],
    ]);
    const c = b.with([
      ['x', 10],
      ['y', 20],
    ]);
    assert.deepEqual(
      [...a.entries()],
      [
        ['x', 1],
        ['y', 2],
      ],
    );
    assert.deepEqual([...b.entries()].sort(), [
      ['x', 1],
      ['z', 3],
    ]);
    assert.deepEqual([...c.entries()].sort(), [
      ['x', 10],
      ['y', 20],
      ['z', 3],
    ]);
    assert.equal(b.has('y'), false);
    assert.equal(b.get('y'), undefined);
    assert.equal(c.size, 3);
  });

  it('stays correct across flattening, after many changes', () => {
    let map = new LayeredMap<number, number>(new Map([[0, 0]]));
    const kept: LayeredMap<number, number>[] = [];
    for (let i = 1; i <= 3000; i++) {
      map = map.with([
        [i, i],
        [i - 1, undefined],
      ]);
      if (i % 1000 === 0) kept.push(map);
    }
    assert.deepEqual([...map.entries()], [[3000, 3000]]);
    assert.deepEqual(
      kept.map((m) => [...m.keys()]),
      [[1000], [2000], [3000]],
    );
  });
});
