import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isId, newId } from './ids.js';

describe('newId', () => {
  it('makes 24-character lower-case base32 ids', () => {
    const id = newId();
    assert.match(id, /^[0-9a-z]{24}$/);
    assert.ok(isId(id));
    assert.doesNotMatch(id, /[ilou]/);
  });

  it('sorts ids by creation time', () => {
    const ids = [0, 1, 1000, 1_700_000_000_000, 2 ** 47].map((t) => newId(t));
    assert.deepEqual([...ids].sort(), ids);
  });

  it('does not repeat, even within one millisecond', () => {
    const seen = new Set(Array.from({ length: 10_000 }, () => newId(42)));
    assert.equal(seen.size, 10_000);
  });

  it('rejects text that is not an id', () => {
    for (const text of [
      '',
      'abc',
      `${newId()}x`,
      newId().toUpperCase(),
      'i'.repeat(24),
      "0000000000000000000000'1",
    ]) {
      assert.equal(isId(text), false, text);
    }
  });
});
