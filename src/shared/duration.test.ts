import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration, parseDuration } from './duration.js';

describe('parseDuration', () => {
  const cases: Array<[string, number | undefined]> = [
    ['720h', 720 * 3_600_000],
    ['1h30m', 5_400_000],
    ['90s', 90_000],
    ['500ms', 500],
    ['1.5h', 5_400_000],
    ['2d', 172_800_000],
    ['0', 0],
    ['', undefined],
    ['h', undefined],
    ['10', undefined],
    ['5 minutes', undefined],
    ['1h 30m', undefined],
    ['-5m', undefined],
  ];
  for (const [text, expected] of cases) {
    it(`reads ${JSON.stringify(text)} as ${expected}`, () => {
      assert.equal(parseDuration(text), expected);
    });
  }

  it('round-trips through formatDuration', () => {
    for (const ms of [0, 500, 90_000, 5_400_000, 720 * 3_600_000, 3_723_004]) {
      assert.equal(parseDuration(formatDuration(ms)), ms);
    }
    assert.equal(formatDuration(72 * 3_600_000), '72h');
  });
});
