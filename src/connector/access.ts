import type { AccessFeed } from '../api/destinations.js';
import type { z } from 'zod';
import type { TokenClaims } from './authenticate.js';
import { LayeredMap } from './layered-map.js';

type Feed = z.infer<typeof AccessFeed>;
export type Grant = Feed['grants'][number];
/** The whole state at a destination, as a full answer or the pages of a snapshot give it. */
export type FullState = Pick<
  Feed,
  'updateIndex' | 'grants' | 'users' | 'revokedSessions' | 'removedUsers'
>;
/** What changed since an index, as the incremental feed's delta says it. */
export type Delta = FullState & { subjects: string[]; usersWithoutAccess: string[] };

/**
 * How long an ended session is remembered: past a destination token's lifetime (5 minutes) and
 * the server's own margin, its tokens have expired anyway.
 */
export const ENDED_SESSION_MEMORY_MS = 7 * 60_000;

/** Who may reach this cluster, as the feed's snapshot and the deltas since said. */
export interface AccessState {
  updateIndex: number;
  users: LayeredMap<string, UserEntry>;
  /** Sessions ended recently, with when the connector learnt it. */
  revokedSessions: Map<string, number>;
  /** Users removed recently: what ended their sessions, for the refusal to say. */
  removedUsers: Map<string, number>;
  /** Active grants here, by id. */
  grants: LayeredMap<string, Grant>;
  /** Grant ids by subject (user or group) id. */
  grantsOf: LayeredMap<string, string[]>;
  /** `<role>:<resource>` of each grant, by `user:<name>` or `group:<name>`. */
  grantsBySubject: LayeredMap<string, string[]>;
  /** Names dropped because no header can carry them (a control character): for the log. */
  unsendable: string[];
  /**
   * The grants a delta removed and added, to bring RBAC up to date without reading every
   * grant; undefined for a state from a snapshot.
   */
  change?: { removed: Grant[]; added: Grant[] };
}

// A control character would end or split an `Impersonate-*` header.
const CONTROL = /\p{Cc}/u;

interface UserEntry {
  name: string;
  groups: string[];
}

/** A user as the proxy impersonates them, or undefined when no header can carry the name. */
function userEntry(u: UserEntry, unsendable: string[]): UserEntry | undefined {
  if (CONTROL.test(u.name)) {
    unsendable.push(`user ${u.name}`);
    return undefined;
  }
  // Kubernetes treats system: groups specially (system:masters is cluster-admin); an Infra
  // group of that name must never be impersonated.
  const groups = u.groups.filter((g) => {
    if (g.startsWith('system:')) return false;
    if (CONTROL.test(g)) unsendable.push(`group ${g}`);
    return !CONTROL.test(g);
  });
  return { name: u.name, groups };
}

const subjectKey = (g: Grant) => (g.userName ? `user:${g.userName}` : `group:${g.groupName ?? ''}`);
const subjectOf = (g: Grant) => g.user ?? g.group ?? subjectKey(g);

/** The state a full answer or a whole snapshot gives, at `now`. */
export function accessState(feed: FullState, now = Date.now()): AccessState {
  const unsendable: string[] = [];
  const users = new Map<string, UserEntry>();
  for (const u of feed.users) {
    const entry = userEntry(u, unsendable);
    if (entry) users.set(u.id, entry);
  }
  const grants = new Map<string, Grant>();
  const grantsOf = new Map<string, string[]>();
  const grantsBySubject = new Map<string, string[]>();
  for (const g of feed.grants) {
    grants.set(g.id, g);
    const list = grantsOf.get(subjectOf(g));
    if (list) list.push(g.id);
    else grantsOf.set(subjectOf(g), [g.id]);
    const roles = grantsBySubject.get(subjectKey(g));
    if (roles) roles.push(`${g.privilege}:${g.resource}`);
    else grantsBySubject.set(subjectKey(g), [`${g.privilege}:${g.resource}`]);
  }
  return {
    updateIndex: feed.updateIndex,
    users: new LayeredMap(users),
    revokedSessions: new Map(feed.revokedSessions.map((id) => [id, now])),
    removedUsers: new Map(feed.removedUsers.map((id) => [id, now])),
    grants: new LayeredMap(grants),
    grantsOf: new LayeredMap(grantsOf),
    grantsBySubject: new LayeredMap(grantsBySubject),
    unsendable: [...new Set(unsendable)],
  };
}

/** Reads through a map's pending changes (undefined: removed) to the map. */
function pending<K, V>(map: LayeredMap<K, V>) {
  const changes = new Map<K, V | undefined>();
  return {
    changes,
    get: (key: K) => (changes.has(key) ? changes.get(key) : map.get(key)),
    set: (key: K, value: V | undefined) => changes.set(key, value),
  };
}

/** Sessions ended, with those learnt of `now` added and those past any token's life dropped. */
function remember(prev: Map<string, number>, added: string[], now: number): Map<string, number> {
  const map = new Map<string, number>();
  for (const [id, at] of prev) if (now - at < ENDED_SESSION_MEMORY_MS) map.set(id, at);
  for (const id of added) if (!map.has(id)) map.set(id, now);
  return map;
}

/**
 * The state after a delta, in time proportional to what the delta names: `prev` is left as it
 * was (open streams compare the two), and the new state shares everything else with it.
 */
export function applyDelta(prev: AccessState, delta: Delta, now = Date.now()): AccessState {
  const unsendable: string[] = [];
  const users = pending(prev.users);
  for (const id of delta.usersWithoutAccess) users.set(id, undefined);
  for (const u of delta.users) users.set(u.id, userEntry(u, unsendable));
  const grants = pending(prev.grants);
  const grantsOf = pending(prev.grantsOf);
  const grantsBySubject = pending(prev.grantsBySubject);
  const removed: Grant[] = [];
  const touched = new Map<string, string>();
  for (const subject of delta.subjects) {
    for (const id of grantsOf.get(subject) ?? []) {
      const g = grants.get(id);
      if (!g) continue;
      removed.push(g);
      grants.set(id, undefined);
      touched.set(subject, subjectKey(g));
    }
    grantsOf.set(subject, undefined);
  }
  for (const g of delta.grants) {
    const old = grants.get(g.id);
    if (old && subjectOf(old) !== subjectOf(g)) {
      // A grant's subject never changes, but an index must never point at nothing.
      removed.push(old);
      const ids = (grantsOf.get(subjectOf(old)) ?? []).filter((id) => id !== g.id);
      grantsOf.set(subjectOf(old), ids.length > 0 ? ids : undefined);
      touched.set(subjectOf(old), subjectKey(old));
    }
    grants.set(g.id, g);
    const ids = grantsOf.get(subjectOf(g)) ?? [];
    if (!ids.includes(g.id)) grantsOf.set(subjectOf(g), [...ids, g.id]);
    touched.set(subjectOf(g), subjectKey(g));
  }
  for (const [subject, key] of touched) {
    const roles = (grantsOf.get(subject) ?? []).map((id) => {
      const g = grants.get(id)!;
      return `${g.privilege}:${g.resource}`;
    });
    grantsBySubject.set(key, roles.length > 0 ? roles : undefined);
  }
  return {
    updateIndex: delta.updateIndex,
    users: prev.users.with(users.changes),
    revokedSessions: remember(prev.revokedSessions, delta.revokedSessions, now),
    removedUsers: remember(prev.removedUsers, delta.removedUsers, now),
    grants: prev.grants.with(grants.changes),
    grantsOf: prev.grantsOf.with(grantsOf.changes),
    grantsBySubject: prev.grantsBySubject.with(grantsBySubject.changes),
    unsendable: [...new Set(unsendable)],
    change: { removed, added: delta.grants },
  };
}

/**
 * What a user holds here under `state`, as comparable items: their groups and the grants to
 * them or to those groups. Empty for a user with no access.
 */
function holdings(state: AccessState, userId: string): Set<string> {
  const user = state.users.get(userId);
  const held = new Set<string>();
  if (!user) return held;
  for (const g of state.grantsBySubject.get(`user:${user.name}`) ?? []) held.add(`grant ${g}`);
  for (const group of user.groups) {
    held.add(`group ${group}`);
    for (const g of state.grantsBySubject.get(`group:${group}`) ?? []) held.add(`grant ${g}`);
  }
  return held;
}

export type Decision =
  | { allowed: true; user: string; groups: string[] }
  | { allowed: false; status: 401 | 403 | 503; message: string };

/**
 * Decides, from live data, whether the holder of a verified token may use this cluster now: the
 * token only proves who they are. A session that ended is refused at once (401), as is a user
 * who no longer holds any grant here (403); groups come from the feed, not from the token.
 */
export function decide(
  state: AccessState | undefined,
  claims: TokenClaims,
  destination: string,
): Decision {
  if (!state) {
    return {
      allowed: false,
      status: 503,
      message: 'the connector has not heard from the Infra server yet; try again shortly',
    };
  }
  if (state.revokedSessions.has(claims.sessionId)) {
    return {
      allowed: false,
      status: 401,
      // Logging in again cannot help someone whose user was removed.
      message: state.removedUsers.has(claims.userId)
        ? 'your Infra user was removed by an admin; ask an Infra admin if you still need access'
        : 'your Infra session has ended; run `infra login`',
    };
  }
  const user = state.users.get(claims.userId);
  if (!user) {
    return {
      allowed: false,
      status: 403,
      message: `you have no access to ${destination}; ask an Infra admin for a grant, then run \`infra login\``,
    };
  }
  return { allowed: true, user: user.name, groups: user.groups };
}

/** A request that stays open (watch, logs -f, exec, port-forward), closed when access ends. */
interface OpenStream {
  claims: TokenClaims;
  close(): void;
}

/** Held by streams opened before any RBAC sync: the cluster's bindings were unknown then. */
const UNSYNCED = 'unsynced';

/**
 * The open streams. A stream is closed when its holder's access ends (at once: the connector
 * refuses them itself) or shrinks in any way: a grant, group or membership gone, a role
 * lowered, a grant expired. The cluster's authorizer decides what a stream may do, so a
 * reduction closes every stream of that user here, and only once the reduced grants are
 * written to RBAC, so that a watch or `logs -f` that reconnects is authorized afresh.
 */
export class OpenStreams {
  readonly #streams = new Map<OpenStream, Set<string>>();
  /** The last state written to the cluster's RBAC in full. */
  #synced: AccessState | undefined;

  /**
   * Tracks a stream opened under `state`. It holds what that state gives its user and, while
   * RBAC catches up, what the last synced state gave: the cluster may have allowed it either.
   */
  add(stream: OpenStream, state: AccessState): () => void {
    const held = holdings(state, stream.claims.userId);
    if (this.#synced) for (const h of holdings(this.#synced, stream.claims.userId)) held.add(h);
    else held.add(UNSYNCED);
    this.#streams.set(stream, held);
    return () => this.#streams.delete(stream);
  }

  get size(): number {
    return this.#streams.size;
  }

  #close(stream: OpenStream): void {
    this.#streams.delete(stream);
    stream.close();
  }

  /** Closes, under a new `state`, the streams whose holder may not use this cluster at all. */
  closeRefused(state: AccessState, destination: string): number {
    let closed = 0;
    for (const stream of this.#streams.keys()) {
      if (!decide(state, stream.claims, destination).allowed) {
        this.#close(stream);
        closed++;
      }
    }
    return closed;
  }

  /**
   * Closes, once `synced` has been written to RBAC (`complete`) or tried, the streams that held
   * something neither `synced` nor the newest state (`latest`) gives their user.
   */
  closeReduced(synced: AccessState, latest: AccessState, complete: boolean): number {
    if (complete) this.#synced = synced;
    const now = new Map<string, Set<string>>();
    let closed = 0;
    for (const [stream, held] of this.#streams) {
      const userId = stream.claims.userId;
      let allowed = now.get(userId);
      if (!allowed) {
        allowed = holdings(synced, userId);
        for (const h of holdings(latest, userId)) allowed.add(h);
        now.set(userId, allowed);
      }
      if ([...held].some((h) => !allowed.has(h))) {
        this.#close(stream);
        closed++;
      }
    }
    return closed;
  }

  closeAll(): void {
    for (const stream of this.#streams.keys()) stream.close();
    this.#streams.clear();
  }
}
