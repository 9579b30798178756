import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isId, newId } from './ids.js';

describe('newId', () => {
  it('makes prefixed 24-character lower-case base32 ids', () => {
    const id = newId('user');
    assert.match(id, /^usr_[0-9a-z]{24}$/);
    assert.ok(isId(id, 'user'));
    assert.doesNotMatch(id.slice(4), /[ilou]/);
  });

  it('sorts ids of a kind by creation time', () => {
    const ids = [0, 1, 1000, 1_700_000_000_000, 2 ** 47].map((t) => newId('grant', t));
    assert.deepEqual([...ids].sort(), ids);
  });

  it('does not repeat, even within one millisecond', () => {
    const seen = new Set(Array.from({ length: 10_000 }, () => newId('accessKey', 42)));
    assert.equal(seen.size, 10_000);
  });

  it('rejects ids of another kind and text that is not an id', () => {
    assert.equal(isId(newId('group'), 'user'), false);
    const body = newId('user').slice(4);
    for (const text of [
      '',
      'usr_',
      `usr_${body}x`,
      `USR_${body}`,
      `usr_${body.toUpperCase()}`,
      `usr_${'i'.repeat(24)}`,
      body,
    ]) {
      assert.equal(isId(text, 'user'), false, text);
    }
  });
});
