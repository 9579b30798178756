import { createHmac } from 'node:crypto';
import type { Logger } from '../../shared/logger.js';
import type { Secret } from '../../shared/secrets.js';

/** Retries after a failed delivery: then it is dropped, with an error in the log. */
const RETRY_DELAYS_MS = [1000, 5000, 30_000];
const TIMEOUT_MS = 5000;

export interface WebhookConfig {
  url: string;
  secret: Secret;
}

/**
 * `Infra-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` with the shared
 * secret, so a receiver can check the sender and refuse replays of old deliveries.
 */
export function signWebhook(secret: string, body: string, at: number): string {
  const t = Math.floor(at / 1000);
  const mac = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
  return `t=${t},v1=${mac}`;
}

/**
 * Tells an outside system (chat, a pager) about access requests: each event is POSTed as JSON,
 * signed, and retried a few times when the receiver fails or cannot be reached. Deliveries run
 * in the background after the change committed; they never hold up or fail a request.
 */
export class WebhookSender {
  readonly #config: WebhookConfig | undefined;
  readonly #log: Logger;
  readonly #timers = new Set<NodeJS.Timeout>();
  #stopped = false;

  constructor(config: WebhookConfig | undefined, log: Logger) {
    this.#config = config;
    this.#log = log;
  }

  send(event: string, data: unknown): void {
    if (!this.#config || this.#stopped) return;
    const body = JSON.stringify({ event, at: new Date().toISOString(), data });
    void this.#deliver(this.#config, event, body, 0);
  }

  async #deliver(config: WebhookConfig, event: string, body: string, attempt: number) {
    let problem: string;
    try {
      const res = await fetch(config.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'infra-event': event,
          'infra-signature': signWebhook(config.secret.reveal(), body, Date.now()),
        },
        body,
        signal: AbortSignal.timeout(TIMEOUT_MS),
        redirect: 'error',
      });
      await res.body?.cancel();
      if (res.ok) return;
      problem = `answered ${res.status}`;
    } catch (err) {
      problem = (err as Error).message;
    }
    const delay = RETRY_DELAYS_MS[attempt];
    if (delay === undefined || this.#stopped) {
      this.#log.error({ event, problem }, 'gave up delivering an access request webhook');
      return;
    }
    this.#log.warn({ event, problem, attempt: attempt + 1 }, 'webhook delivery failed; retrying');
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      void this.#deliver(config, event, body, attempt + 1);
    }, delay);
    timer.unref();
    this.#timers.add(timer);
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
  }
}
