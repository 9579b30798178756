import type { AccessFeed } from '../api/destinations.js';
import type { z } from 'zod';
import type { TokenClaims } from './authenticate.js';

type Feed = z.infer<typeof AccessFeed>;
type Grant = Feed['grants'][number];
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
  users: Map<string, { name: string; groups: string[] }>;
  /** Sessions ended recently, with when the connector learnt it. */
  revokedSessions: Map<string, number>;
  /** Users removed recently: what ended their sessions, for the refusal to say. */
  removedUsers: Map<string, number>;
  /** Active grants here, by id. */
  grants: Map<string, Grant>;
  /** Grant ids by subject (user or group) id. */
  grantsOf: Map<string, string[]>;
  /** `<role>:<resource>` of each grant, by `user:<name>` or `group:<name>`. */
  grantsBySubject: Map<string, string[]>;
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

/** A user as the proxy impersonates them, or undefined when no header can carry the name. */
function userEntry(
  u: { name: string; groups: string[] },
  unsendable: string[],
): { name: string; groups: string[] } | undefined {
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

/** Adds a grant to the indexes (`grantsOf` lists are replaced, never changed in place). */
function addGrant(state: Pick<AccessState, 'grants' | 'grantsOf'>, g: Grant): void {
  state.grants.set(g.id, g);
  const subject = subjectOf(g);
  state.grantsOf.set(subject, [...(state.grantsOf.get(subject) ?? []), g.id]);
}

/** `grantsBySubject`'s entry for the subject of `g`, from `grantsOf`. */
function roles(state: Pick<AccessState, 'grants' | 'grantsOf'>, subject: string): string[] {
  return (state.grantsOf.get(subject) ?? []).map((id) => {
    const g = state.grants.get(id)!;
    return `${g.privilege}:${g.resource}`;
  });
}

/** The state a full answer or a whole snapshot gives, at `now`. */
export function accessState(feed: FullState, now = Date.now()): AccessState {
  const unsendable: string[] = [];
  const users = new Map<string, { name: string; groups: string[] }>();
  for (const u of feed.users) {
    const entry = userEntry(u, unsendable);
    if (entry) users.set(u.id, entry);
  }
  const state = { grants: new Map<string, Grant>(), grantsOf: new Map<string, string[]>() };
  for (const g of feed.grants) addGrant(state, g);
  const grantsBySubject = new Map<string, string[]>();
  for (const g of state.grants.values())
    if (!grantsBySubject.has(subjectKey(g)))
      grantsBySubject.set(subjectKey(g), roles(state, subjectOf(g)));
  return {
    updateIndex: feed.updateIndex,
    users,
    revokedSessions: new Map(feed.revokedSessions.map((id) => [id, now])),
    removedUsers: new Map(feed.removedUsers.map((id) => [id, now])),
    ...state,
    grantsBySubject,
    unsendable: [...new Set(unsendable)],
  };
}

/**
 * The state after a delta: `prev` is left as it was (open streams and RBAC compare the two).
 * The maps are copied (native copies, milliseconds at 100,000 entries) and only what the delta
 * names is recomputed.
 */
export function applyDelta(prev: AccessState, delta: Delta, now = Date.now()): AccessState {
  const unsendable: string[] = [];
  const users = new Map(prev.users);
  for (const id of delta.usersWithoutAccess) users.delete(id);
  for (const u of delta.users) {
    const entry = userEntry(u, unsendable);
    if (entry) users.set(u.id, entry);
    else users.delete(u.id);
  }
  const state = { grants: new Map(prev.grants), grantsOf: new Map(prev.grantsOf) };
  const grantsBySubject = new Map(prev.grantsBySubject);
  const removed: Grant[] = [];
  for (const subject of delta.subjects) {
    for (const id of state.grantsOf.get(subject) ?? []) {
      const g = state.grants.get(id)!;
      removed.push(g);
      state.grants.delete(id);
      grantsBySubject.delete(subjectKey(g));
    }
    state.grantsOf.delete(subject);
  }
  for (const g of delta.grants) {
    const old = state.grants.get(g.id);
    if (old) {
      // Listed under another subject than before: a grant's subject never changes, but a
      // delta must never leave an index pointing at nothing.
      removed.push(old);
      state.grantsOf.set(
        subjectOf(old),
        (state.grantsOf.get(subjectOf(old)) ?? []).filter((id) => id !== g.id),
      );
    }
    addGrant(state, g);
  }
  for (const g of delta.grants) grantsBySubject.set(subjectKey(g), roles(state, subjectOf(g)));
  const remember = (prevMap: Map<string, number>, added: string[]) => {
    const map = new Map<string, number>();
    for (const [id, at] of prevMap) if (now - at < ENDED_SESSION_MEMORY_MS) map.set(id, at);
    for (const id of added) if (!map.has(id)) map.set(id, now);
    return map;
  };
  return {
    updateIndex: delta.updateIndex,
    users,
    revokedSessions: remember(prev.revokedSessions, delta.revokedSessions),
    removedUsers: remember(prev.removedUsers, delta.removedUsers),
    ...state,
    grantsBySubject,
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
