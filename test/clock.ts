import type { Clock } from '../src/shared/clock.js';

/** A clock tests move by hand: starts at the real time, advances only when told. */
export class TestClock implements Clock {
  #now: number;
  constructor(start = Date.now()) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  advance(ms: number): void {
    this.#now += ms;
  }
}
