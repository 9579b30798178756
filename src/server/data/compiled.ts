import type { Compilable, CompiledQuery } from 'kysely';
import type { Db } from './db.js';
import { isPostgres } from './engine.js';

/** Stands for a named parameter while a query is compiled; its value is bound at each run. */
class Slot {
  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }
}

/** Stand-ins for every parameter: `p.limit` is the slot named `limit`. */
const slots = new Proxy({} as Record<string, Slot>, {
  get: (_target, name) => new Slot(String(name)),
});

/**
 * A query built and compiled by Kysely once per engine and shape, then run with each call's
 * values: building the query tree, renaming its columns and compiling it cost more than running
 * the small indexed queries the API makes. `build` gets stand-ins for the parameters (`p.limit`)
 * in place of values, so it must pass them through untouched; anything that changes the SQL
 * text (which filters are present) belongs in `shape`.
 */
export function compiledOnce<S extends object, P extends object, R>(
  build: (db: Db, p: P, shape: S) => Compilable<R>,
): (db: Db, shape: S, params: P) => Promise<R[]> {
  const cache = new Map<string, CompiledQuery<R>>();
  return async (db, shape, params) => {
    let key = isPostgres(db) ? 'pg' : 'sqlite';
    for (const [name, on] of Object.entries(shape)) if (on) key += `,${name}`;
    let compiled = cache.get(key);
    if (!compiled) {
      compiled = build(db, slots as unknown as P, shape).compile();
      cache.set(key, compiled);
    }
    const parameters = compiled.parameters.map((v) =>
      v instanceof Slot ? (params as Record<string, unknown>)[v.name] : v,
    );
    // Through the same executor as any query: the database's fault handling and the
    // snake_case to camelCase renaming of the rows apply.
    const result = await db.executeQuery<R>({ ...compiled, parameters });
    return result.rows;
  };
}
