import { createWriteStream, type WriteStream } from 'node:fs';
import type { Logger } from '../../shared/logger.js';
import type { Keyring } from '../crypto/keyring.js';
import type { KubeEventRecord } from '../models.js';

/** Where stored events are also written, one JSON line each, for a SIEM to collect. */
export type KubeAuditExport =
  { kind: 'none' } | { kind: 'stdout' } | { kind: 'file'; path: string };

/**
 * What the kube-audit operations need besides the database: the keyring that seals recordings
 * and the export of events as JSON lines.
 */
export class KubeAuditStore {
  readonly keyring: Keyring;
  readonly #out: NodeJS.WritableStream | undefined;
  readonly #file: WriteStream | undefined;

  constructor(deps: { keyring: Keyring; export: KubeAuditExport; log: Logger }) {
    this.keyring = deps.keyring;
    if (deps.export.kind === 'file') {
      this.#file = createWriteStream(deps.export.path, { flags: 'a', mode: 0o600 });
      const path = deps.export.path;
      this.#file.on('error', (err) =>
        deps.log.error({ err, path }, 'cannot write the Kubernetes audit export file'),
      );
      this.#out = this.#file;
    } else if (deps.export.kind === 'stdout') {
      this.#out = process.stdout;
    }
  }

  /** Writes newly stored events to the export, if one is configured. */
  exportEvents(events: readonly KubeEventRecord[]): void {
    if (!this.#out || events.length === 0) return;
    this.#out.write(events.map((e) => `${JSON.stringify(e.event)}\n`).join(''));
  }

  async close(): Promise<void> {
    const file = this.#file;
    if (file) await new Promise<void>((resolve) => file.end(resolve));
  }
}
