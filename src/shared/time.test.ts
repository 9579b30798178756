import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toIsoString } from './time.js';

describe('toIsoString', () => {
  it('matches Date#toISOString', () => {
    const samples = [
      0,
      1,
      999,
      1000,
      59_999,
      86_399_999,
      86_400_000,
      951_782_400_000,
      Date.now(),
      253_402_300_799_999,
    ];
    for (let i = 0; i < 2000; i++) samples.push(Math.floor(Math.random() * 253_402_300_799_999));
    for (const ms of samples) assert.equal(toIsoString(ms), new Date(ms).toISOString(), String(ms));
  });

  it('falls back for times outside years 1970-9999', () => {
    for (const ms of [-1, -86_400_001, 253_402_300_800_000, 1.5]) {
      assert.equal(toIsoString(ms), new Date(ms).toISOString());
    }
  });
});
