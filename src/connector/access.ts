import type { AccessFeed } from '../api/destinations.js';
import type { z } from 'zod';
import type { TokenClaims } from './authenticate.js';

type Feed = z.infer<typeof AccessFeed>;

/** Who may reach this cluster, as the last feed answer said. */
export interface AccessState {
  updateIndex: number;
  users: Map<string, { name: string; groups: string[] }>;
  revokedSessions: Set<string>;
  grants: Feed['grants'];
  /** Names dropped because no header can carry them (a control character): for the log. */
  unsendable: string[];
}

// A control character would end or split an `Impersonate-*` header.
const CONTROL = /\p{Cc}/u;

export function accessState(feed: Feed): AccessState {
  const unsendable: string[] = [];
  const users = new Map<string, { name: string; groups: string[] }>();
  for (const u of feed.users) {
    if (CONTROL.test(u.name)) {
      unsendable.push(`user ${u.name}`);
      continue;
    }
    // Kubernetes treats system: groups specially (system:masters is cluster-admin); an Infra
    // group of that name must never be impersonated.
    const groups = u.groups.filter((g) => {
      if (g.startsWith('system:')) return false;
      if (CONTROL.test(g)) unsendable.push(`group ${g}`);
      return !CONTROL.test(g);
    });
    users.set(u.id, { name: u.name, groups });
  }
  return {
    updateIndex: feed.updateIndex,
    users,
    revokedSessions: new Set(feed.revokedSessions),
    grants: feed.grants,
    unsendable: [...new Set(unsendable)],
  };
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
      message: 'your Infra session has ended; run `infra login`',
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
  groups: string[];
  close(): void;
}

/** The open streams, checked against every new access state. */
export class OpenStreams {
  readonly #streams = new Set<OpenStream>();

  add(stream: OpenStream): () => void {
    this.#streams.add(stream);
    return () => this.#streams.delete(stream);
  }

  get size(): number {
    return this.#streams.size;
  }

  /** Closes the streams whose holder lost access, or whose groups changed, under `state`. */
  review(state: AccessState, destination: string): number {
    let closed = 0;
    for (const stream of this.#streams) {
      const decision = decide(state, stream.claims, destination);
      const sameGroups =
        decision.allowed && decision.groups.join('\n') === stream.groups.join('\n');
      if (!decision.allowed || !sameGroups) {
        this.#streams.delete(stream);
        stream.close();
        closed++;
      }
    }
    return closed;
  }

  closeAll(): void {
    for (const stream of this.#streams) stream.close();
    this.#streams.clear();
  }
}
