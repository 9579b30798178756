import type { Logger } from '../shared/logger.js';
import { run } from './sshd.js';

/** The comment (GECOS) of accounts this agent made: whose they are, and for which destination. */
function comment(userId: string, destination: string): string {
  return `${userId},managed by infra for ${destination}`;
}

interface PasswdEntry {
  login: string;
  gecos: string;
}

async function passwd(): Promise<PasswdEntry[]> {
  const out = await run('getent', ['passwd']);
  return out
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [login = '', , , , gecos = ''] = line.split(':');
      return { login, gecos };
    });
}

/**
 * The local accounts of Infra users on this host. Only accounts whose comment says this agent
 * made them (for this destination) are ever changed or removed; a login name that belongs to
 * another account is left alone and its user is refused (logged).
 */
export class Accounts {
  readonly #destination: string;
  readonly #shell: string;
  readonly #adminGroup: string;
  readonly #log: Logger;
  /** Logins already reported as taken, so the log says it once. */
  readonly #reported = new Set<string>();

  constructor(deps: { destination: string; shell: string; adminGroup: string; log: Logger }) {
    this.#destination = deps.destination;
    this.#shell = deps.shell;
    this.#adminGroup = deps.adminGroup;
    this.#log = deps.log;
  }

  /** login → user id of the accounts this agent manages. */
  async managed(): Promise<Map<string, string>> {
    const suffix = `,managed by infra for ${this.#destination}`;
    const out = new Map<string, string>();
    for (const e of await passwd()) {
      if (e.gecos.endsWith(suffix)) out.set(e.login, e.gecos.slice(0, -suffix.length));
    }
    return out;
  }

  /**
   * Makes the accounts of these users (login → user id, admins), and sets who is in the admin
   * group. Returns the logins that can be used (those taken by another account are not).
   */
  async ensure(
    users: Array<{ login: string; userId: string; admin: boolean }>,
    managed: Map<string, string>,
  ): Promise<Set<string>> {
    const usable = new Set<string>();
    const all = new Map((await passwd()).map((e) => [e.login, e.gecos]));
    for (const u of users) {
      const gecos = all.get(u.login);
      if (gecos === undefined) {
        await run('useradd', [
          '--comment',
          comment(u.userId, this.#destination),
          '--create-home',
          '--shell',
          this.#shell,
          // No password: logins are by certificate only ('!' would lock the account).
          '--password',
          '*',
          u.login,
        ]);
        this.#log.info({ login: u.login, user: u.userId }, 'created the account of a granted user');
      } else if (managed.get(u.login) !== u.userId) {
        if (!this.#reported.has(u.login))
          this.#log.error(
            { login: u.login, user: u.userId },
            'an account with this login name exists and is not this Infra user: the user cannot log in here until it is renamed or removed',
          );
        this.#reported.add(u.login);
        continue;
      }
      usable.add(u.login);
    }
    await this.#setAdmins(
      users.filter((u) => u.admin && usable.has(u.login)).map((u) => u.login),
      [...managed.keys(), ...usable],
    );
    return usable;
  }

  async #setAdmins(admins: string[], ours: string[]): Promise<void> {
    let members: string[];
    try {
      const line = (await run('getent', ['group', this.#adminGroup])).trim();
      members = (line.split(':')[3] ?? '').split(',').filter(Boolean);
    } catch {
      if (admins.length > 0)
        this.#log.error({ group: this.#adminGroup }, 'the admin group does not exist: no sudo');
      return;
    }
    for (const login of admins) {
      if (!members.includes(login)) await run('usermod', ['-a', '-G', this.#adminGroup, login]);
    }
    for (const login of ours) {
      if (members.includes(login) && !admins.includes(login))
        await run('gpasswd', ['-d', login, this.#adminGroup]);
    }
  }

  /** Ends every process of the account (its SSH sessions among them). */
  async endSessions(login: string): Promise<void> {
    await run('pkill', ['--signal', 'KILL', '--uid', login]).catch(() => {});
  }

  /** Ends the account's processes and removes it with its home directory. */
  async remove(login: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      await this.endSessions(login);
      try {
        await run('userdel', ['--remove', login]);
        this.#log.info({ login }, 'removed the account of a user whose access ended');
        return;
      } catch (err) {
        // userdel refuses while a process of the user runs (one that started in between).
        if (attempt >= 10) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
}
