import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { connect, type TLSSocket } from 'node:tls';

export const root = path.resolve(import.meta.dirname, '..');

/** Stops the script with a sentence when what a benchmark needs is missing. */
export function requireBuildAndWrk(): void {
  if (!existsSync(path.join(root, 'dist/infra.mjs'))) {
    console.error('run `npm run build` first');
    process.exit(1);
  }
  if (spawnSync('wrk', ['--version']).error) {
    console.error('wrk is not installed: apt-get install wrk');
    process.exit(1);
  }
}

export function machine(): string {
  return `${cpus().length} x ${cpus()[0]?.model}, node ${process.version}`;
}

/** Starts the built server (`bin/infra.cjs server ...`) and resolves with its HTTPS URL. */
export async function startBuiltServer(
  args: string[],
): Promise<{ url: string; process: ChildProcess; stop(): Promise<void> }> {
  // INFRA_BENCH_PROFILE=<dir> writes a CPU profile of the server there when it stops.
  const profile = process.env.INFRA_BENCH_PROFILE;
  // INFRA_BENCH_NODE_ARGS="--trace-gc ..." passes options to the server's node.
  const nodeArgs = process.env.INFRA_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const child = spawn(
    process.execPath,
    [
      ...nodeArgs,
      ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : []),
      path.join(root, 'bin/infra.cjs'),
      'server',
      '--addr-https',
      '127.0.0.1:0',
      '--addr-metrics',
      '',
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    // INFRA_BENCH_SERVER_OUT=<file> keeps the server's output there (with --trace-gc above, its
    // garbage collections).
    const copy = process.env.INFRA_BENCH_SERVER_OUT;
    child.stdout!.on('data', (d: Buffer) => {
      if (copy) appendFileSync(copy, d);
      out += d.toString();
      const m = /listening on (https:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on('exit', () => reject(new Error(`server exited: ${out}`)));
  });
  return {
    url,
    process: child,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.on('exit', r));
    },
  };
}

function run(args: string[]): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn('wrk', args);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', () => resolve(out.trim()));
  });
}

/**
 * Runs wrk (after a 2 s warm-up) and returns its report. Asynchronous, so servers running in this
 * process keep answering while it runs.
 */
export async function wrk(
  url: string,
  options: {
    seconds: number;
    connections: number;
    headers?: string[];
    body?: string;
    /** Called after the warm-up, as the measured run starts. */
    onStart?: () => void;
  },
): Promise<string> {
  const args = ['-t1', `-c${options.connections}`, '--latency'];
  for (const h of options.headers ?? []) args.push('-H', h);
  if (options.body !== undefined) {
    const script = path.join(tmpdir(), `wrk-${process.pid}.lua`);
    writeFileSync(
      script,
      `wrk.method = "POST"\nwrk.body = ${JSON.stringify(options.body)}\nwrk.headers["Content-Type"] = "application/json"\n`,
    );
    args.push('-s', script);
  }
  await run([...args, '-d2s', url]);
  options.onStart?.();
  return run([...args, `-d${options.seconds}s`, url]);
}

/**
 * CPU time a process has used so far, in milliseconds (Linux: /proc; 10 ms resolution), so that
 * a benchmark can divide a server's CPU by the requests it answered: unlike requests per second,
 * that does not depend on what else the machine runs.
 */
export function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime, the 14th and 15th fields, in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** p50, p90 and p99 of a list of milliseconds. */
export function percentiles(ms: number[]): string {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!.toFixed(1);
  return `p50 ${at(50)} ms, p90 ${at(90)} ms, p99 ${at(99)} ms (n=${sorted.length})`;
}

export interface Answer {
  status: number;
  body: string;
  /** When it arrived: milliseconds on `performance.timeOrigin + performance.now()`. */
  at: number;
}

/**
 * One keep-alive HTTPS connection speaking just enough HTTP/1.1 for these requests (answers with
 * Content-Length), so that this process spends little of the two cores it shares with the server.
 */
export class Connection {
  readonly #socket: TLSSocket;
  readonly #host: string;
  #buffer = '';
  #pending: { resolve(a: Answer): void; reject(e: Error): void } | undefined;

  private constructor(socket: TLSSocket, host: string) {
    this.#socket = socket;
    this.#host = host;
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.#buffer += d;
      this.#parse();
    });
    socket.on('error', (e) => this.#pending?.reject(e));
    socket.on('close', () => this.#pending?.reject(new Error('connection closed')));
  }

  static open(url: string): Promise<Connection> {
    const u = new URL(url);
    return new Promise((resolve, reject) => {
      const socket = connect({ host: u.hostname, port: Number(u.port), rejectUnauthorized: false });
      socket.once('secureConnect', () => resolve(new Connection(socket, u.host)));
      socket.once('error', reject);
    });
  }

  #parse(): void {
    const end = this.#buffer.indexOf('\r\n\r\n');
    if (end < 0 || !this.#pending) return;
    const head = this.#buffer.slice(0, end);
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    // The answers are ASCII JSON: characters are bytes.
    if (this.#buffer.length < end + 4 + length) return;
    const answer = {
      status: Number(head.slice(9, 12)),
      body: this.#buffer.slice(end + 4, end + 4 + length),
      at: performance.timeOrigin + performance.now(),
    };
    this.#buffer = this.#buffer.slice(end + 4 + length);
    const pending = this.#pending;
    this.#pending = undefined;
    pending.resolve(answer);
  }

  get(path: string, key?: string): Promise<Answer> {
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject };
      const auth = key ? `Authorization: Bearer ${key}\r\n` : '';
      this.#socket.write(`GET ${path} HTTP/1.1\r\nHost: ${this.#host}\r\n${auth}\r\n`);
    });
  }

  close(): void {
    this.#socket.destroy();
  }
}
