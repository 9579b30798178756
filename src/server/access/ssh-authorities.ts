import type { KeyObject } from 'node:crypto';
import type { Clock } from '../../shared/clock.js';
import { newId } from '../../shared/ids.js';
import type { Logger } from '../../shared/logger.js';
import { generateSshCa, loadSshCa } from '../../shared/ssh.js';
import type { Keyring } from '../crypto/keyring.js';
import type { Db } from '../data/db.js';
import { SSH_AUTHORITY_KEY } from '../data/sealed-columns.js';
import * as data from '../data/ssh.js';

/** The longest a user certificate lives; it is also cut at the grant's and the session's end. */
export const USER_CERTIFICATE_MAX_MS = 60 * 60_000;
/** Certificates start a minute in the past, for hosts whose clock is a little behind. */
export const BACKDATE_MS = 60_000;
/** Host certificates are renewed by the host agent at half of this, or after a CA rotation. */
export const HOST_CERTIFICATE_LIFETIME_MS = 7 * 24 * 3600_000;
/**
 * How long a retired authority stays trusted: a user CA while certificates it signed may be
 * valid; a host CA for a day, so known_hosts written before a rotation keep working while the
 * hosts fetch certificates from the new one.
 */
const RETIRED_TRUST_MS = { user: USER_CERTIFICATE_MAX_MS + 60_000, host: 24 * 3600_000 };

/**
 * The certificate authorities of this server: one signs users' certificates, one hosts'. Each
 * is made on first use; its private key is stored sealed with the data key. A rotation makes a
 * new one active while the old stays trusted for `RETIRED_TRUST_MS`.
 */
export class SshAuthorities {
  readonly #keyring: Keyring;
  readonly #clock: Clock;
  readonly #log: Logger;
  /** Private keys already unsealed, by authority id. */
  readonly #keys = new Map<string, KeyObject>();

  constructor(deps: { keyring: Keyring; clock: Clock; log: Logger }) {
    this.#keyring = deps.keyring;
    this.#clock = deps.clock;
    this.#log = deps.log;
  }

  /**
   * Public key lines of the trusted authorities of `purpose`, the active (newest) one first;
   * with `ensure`, one is made if there is none (a host trusts it before anyone is issued one).
   */
  async trusted(
    db: Db,
    purpose: 'user' | 'host',
    opts: { ensure?: boolean } = {},
  ): Promise<string[]> {
    if (opts.ensure) await this.signer(db, purpose);
    const rows = await data.listSshAuthorities(
      db,
      purpose,
      this.#clock.now() - RETIRED_TRUST_MS[purpose],
    );
    return rows.map((r) => r.publicKey).reverse();
  }

  /** The active authority of `purpose` (made now if there is none): what signs. */
  async signer(db: Db, purpose: 'user' | 'host'): Promise<KeyObject> {
    const rows = await data.listSshAuthorities(db, purpose, this.#clock.now());
    const active = rows.filter((r) => r.retiredAt === null).at(-1);
    if (!active) {
      await this.rotate(db, purpose);
      return this.signer(db, purpose);
    }
    let key = this.#keys.get(active.id);
    if (!key) {
      const context = SSH_AUTHORITY_KEY.context({ id: active.id });
      key = loadSshCa(await this.#keyring.openLatest(active.privateKey, context));
      this.#keys.set(active.id, key);
    }
    return key;
  }

  /** The public key line of the active authority of `purpose` (made now if there is none). */
  async activePublicKey(db: Db, purpose: 'user' | 'host'): Promise<string> {
    await this.signer(db, purpose);
    const rows = await data.listSshAuthorities(db, purpose, this.#clock.now());
    return rows.filter((r) => r.retiredAt === null).at(-1)!.publicKey;
  }

  /** Makes a new active authority of `purpose`; the old ones stay trusted a while. */
  async rotate(db: Db, purpose: 'user' | 'host'): Promise<string> {
    const now = this.#clock.now();
    const id = newId('sshAuthority', now);
    const ca = generateSshCa(`infra-${purpose}-ca-${id}`);
    await data.createSshAuthority(db, {
      id,
      purpose,
      publicKey: ca.publicKey,
      privateKey: this.#keyring.seal(ca.privateKey, SSH_AUTHORITY_KEY.context({ id })),
      createdAt: now,
      retiredAt: null,
    });
    await data.retireSshAuthorities(db, purpose, id, now);
    this.#log.info({ id, purpose }, 'new SSH certificate authority');
    return id;
  }
}
