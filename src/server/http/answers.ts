import type { Clock } from '../../shared/clock.js';

/** How long an answer is reused when nothing announces a change (see AnswerCache). */
const ANSWER_MS = 1000;
/** Answers kept at once (a page of 100 users is about 18 KB). */
const ANSWERS = 256;

interface Kept {
  status: number;
  body: string;
  generation: number;
  until: number;
}

/**
 * The JSON text of recent answers to the busiest reads, by access key and URL, so that the same
 * page asked again by the same caller is not read and written again. An answer is reused only
 * while the change generation it was read in is current (any write committed here, or announced
 * by another replica, ends it) and for at most a second, which bounds what nothing announces:
 * a last-seen time, a grant expiring, a user created on another replica.
 */
export class AnswerCache {
  readonly #changes: { readonly generation: number };
  readonly #clock: Clock;
  readonly #kept = new Map<string, Kept>();

  constructor(deps: { changes: { readonly generation: number }; clock: Clock }) {
    this.#changes = deps.changes;
    this.#clock = deps.clock;
  }

  /** The generation to read an answer in: pass it to `keep`. */
  get generation(): number {
    return this.#changes.generation;
  }

  find(key: string): { status: number; body: string } | undefined {
    const kept = this.#kept.get(key);
    if (!kept) return undefined;
    if (kept.generation === this.#changes.generation && this.#clock.now() < kept.until) return kept;
    this.#kept.delete(key);
    return undefined;
  }

  /** Keeps an answer read in `generation`, unless a change came meanwhile. */
  keep(key: string, generation: number, status: number, body: string): void {
    if (generation !== this.#changes.generation) return;
    if (this.#kept.size >= ANSWERS) this.#kept.delete(this.#kept.keys().next().value!);
    this.#kept.set(key, { status, body, generation, until: this.#clock.now() + ANSWER_MS });
  }
}
