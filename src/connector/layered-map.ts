const GONE: unique symbol = Symbol('gone');

/**
 * A read-only map that is cheap to derive from: `with` gives a new map with a few entries
 * changed, in time proportional to the changes since the last flattening, and leaves this one as
 * it was (open streams compare the access state before and after a change). Changes sit in a
 * layer over a shared base; once the layer holds an eighth of the base (at least 1024 entries),
 * the next map is flattened, so reads stay two lookups and the copies a change costs stay small.
 */
export class LayeredMap<K, V> {
  readonly #base: ReadonlyMap<K, V>;
  readonly #top: ReadonlyMap<K, V | typeof GONE>;

  constructor(
    base: ReadonlyMap<K, V> = new Map(),
    top: ReadonlyMap<K, V | typeof GONE> = new Map(),
  ) {
    this.#base = base;
    this.#top = top;
  }

  get(key: K): V | undefined {
    const top = this.#top.get(key);
    if (top === GONE) return undefined;
    return top !== undefined ? top : this.#base.get(key);
  }

  has(key: K): boolean {
    return this.get(key) !== undefined;
  }

  *entries(): IterableIterator<[K, V]> {
    for (const entry of this.#base) if (!this.#top.has(entry[0])) yield entry;
    for (const [key, value] of this.#top) if (value !== GONE) yield [key, value];
  }

  *keys(): IterableIterator<K> {
    for (const [key] of this.entries()) yield key;
  }

  *values(): IterableIterator<V> {
    for (const [, value] of this.entries()) yield value;
  }

  /** Counts the entries: proportional to the map's size. */
  get size(): number {
    let n = 0;
    const entries = this.entries();
    while (!entries.next().done) n++;
    return n;
  }

  /** A map with `changes` made (undefined: the key removed); this one is left as it was. */
  with(changes: Iterable<[K, V | undefined]>): LayeredMap<K, V> {
    const top = new Map<K, V | typeof GONE>(this.#top);
    for (const [key, value] of changes) top.set(key, value === undefined ? GONE : value);
    if (top.size < Math.max(1024, this.#base.size / 8)) return new LayeredMap(this.#base, top);
    const flat = new Map<K, V>();
    for (const [key, value] of this.#base) if (!top.has(key)) flat.set(key, value);
    for (const [key, value] of top) if (value !== GONE) flat.set(key, value);
    return new LayeredMap(flat);
  }
}
