import { createRequire } from 'node:module';
import { pino, type Logger } from 'pino';
import type pinoPretty from 'pino-pretty';

export type { Logger };
export const logLevels = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof logLevels)[number];
export const logFormats = ['json', 'text'] as const;
export type LogFormat = (typeof logFormats)[number];

// Field names that hold secrets wherever they appear in a log object. Secret values in config
// are `Secret` objects and already print as <redacted>; this catches plain strings.
const SECRET_KEYS = [
  'password',
  'oldPassword',
  'accessKey',
  'secret',
  'clientSecret',
  'privateKey',
  'token',
  'refreshToken',
  'authorization',
  'cookie',
];

const redactPaths = [
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((k) => `*.${k}`),
  ...SECRET_KEYS.map((k) => `*.*.${k}`),
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
];

interface LoggerOptions {
  level: LogLevel;
  /** JSON lines for machines; human-readable when false. Default: text on a terminal, else JSON. */
  json?: boolean;
  destination?: NodeJS.WritableStream;
}

/** The process logger: structured JSON, secrets redacted, human-readable on a terminal. */
export function createLogger(options: LoggerOptions): Logger {
  const destination = options.destination ?? process.stdout;
  const tty = Boolean((destination as { isTTY?: boolean }).isTTY);
  const json = options.json ?? !tty;
  const base = {
    level: options.level,
    base: undefined,
    redact: { paths: redactPaths, censor: '<redacted>' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (json) return pino(base, destination);
  // Loaded only for text logs (~30 ms at start), synchronously so that this stays a plain call.
  const pretty = createRequire(import.meta.url)('pino-pretty') as typeof pinoPretty;
  return pino(
    base,
    // Colours only for a terminal: in a file they are escape codes.
    pretty({ destination, colorize: tty, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' }),
  );
}
