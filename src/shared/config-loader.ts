import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { parseDuration } from './duration.js';

/** Thrown for any configuration problem; the message is one sentence that names the key. */
export class ConfigError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConfigError';
  }
}

type LeafKind = 'string' | 'number' | 'boolean' | 'list';

/** A settable value in a config schema: `addr.https`, read from env and flags too. */
interface ConfigLeaf {
  path: string[];
  kind: LeafKind;
  description?: string;
}

interface ZodInternals {
  _zod: { def: Record<string, unknown> & { type: string } };
  description?: string;
}

/** Lists the leaves of an object schema, looking through defaults, optionals and pipes. */
export function configLeaves(schema: z.ZodType, prefix: string[] = []): ConfigLeaf[] {
  const s = schema as unknown as ZodInternals;
  const def = s._zod.def;
  switch (def.type) {
    case 'default':
    case 'prefault':
    case 'optional':
    case 'nullable':
      return configLeaves(def.innerType as z.ZodType, prefix).map((leaf) => ({
        ...leaf,
        description: leaf.description ?? s.description,
      }));
    case 'pipe':
      return configLeaves(
        ((def.in as ZodInternals)._zod.def.type === 'transform' ? def.out : def.in) as z.ZodType,
        prefix,
      );
    case 'object':
      return Object.entries(def.shape as Record<string, z.ZodType>).flatMap(([key, child]) =>
        configLeaves(child, [...prefix, key]),
      );
    // Free-form maps (a key provider's `config`) are checked by a refinement: file only.
    case 'record':
      return [];
    case 'array': {
      // Lists of objects (users, grants) are too rich for a flag or a variable: file only.
      const element = (def.element as ZodInternals)._zod.def.type;
      if (element === 'object' || element === 'pipe') return [];
      return [{ path: prefix, kind: 'list', description: s.description }];
    }
    case 'number':
      return [{ path: prefix, kind: 'number', description: s.description }];
    case 'boolean':
      return [{ path: prefix, kind: 'boolean', description: s.description }];
    default:
      return [{ path: prefix, kind: 'string', description: s.description }];
  }
}

/** The words of a camel-case name; an acronym is one word (`connectionsPerIP`: connections, per, ip). */
function words(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(' ');
}

/** `addr.https` → `ADDR_HTTPS`; `limits.connectionsPerIP` → `LIMITS_CONNECTIONS_PER_IP`. */
function envName(prefix: string, leaf: string[]): string {
  return `${prefix}_${leaf.flatMap(words).join('_').toUpperCase()}`;
}

/** `addr.https` → `addr-https`; `limits.connectionsPerIP` → `limits-connections-per-ip`. */
export function flagName(leaf: string[]): string {
  return leaf.flatMap(words).join('-');
}

export interface ConfigSources {
  /** Path of the YAML file, if any. */
  file?: string;
  env: NodeJS.ProcessEnv;
  /** Flag values by leaf path (`addr.https`), as parsed from the command line. */
  flags: Record<string, string | boolean | string[]>;
}

type Layer = { value: Record<string, unknown>; origin: Map<string, string> };

function coerce(leaf: ConfigLeaf, raw: string): unknown {
  switch (leaf.kind) {
    case 'boolean':
      if (/^(true|1|yes)$/i.test(raw)) return true;
      if (/^(false|0|no)$/i.test(raw)) return false;
      return raw; // let the schema report it
    case 'number':
      return raw.trim() !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw;
    case 'list':
      return raw === ''
        ? []
        : raw
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s !== '');
    default:
      return raw;
  }
}

function setPath(target: Record<string, unknown>, p: string[], value: unknown): void {
  let node = target;
  for (const key of p.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[p.at(-1)!] = value;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>) {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    out[k] = isPlainObject(v) && isPlainObject(out[k]) ? deepMerge(out[k], v) : v;
  }
  return out;
}

function fileLayer(file: string): Layer {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}; check the path given to --config-file`,
      { cause: err },
    );
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const first = doc.errors[0];
  if (first) {
    const line = first.linePos?.[0];
    const where = line ? ` at line ${line.line}, column ${line.col}` : '';
    throw new ConfigError(
      `config file ${file} is not valid YAML${where}: ${first.message.split(' at line ')[0]}`,
    );
  }
  const value: unknown = doc.toJS() ?? {};
  if (!isPlainObject(value)) {
    throw new ConfigError(`config file ${file} must hold a YAML mapping (key: value lines)`);
  }
  const origin = new Map<string, string>();
  const walk = (obj: Record<string, unknown>, prefix: string[]) => {
    for (const [k, v] of Object.entries(obj)) {
      const p = [...prefix, k];
      origin.set(p.join('.'), `config file ${file}`);
      if (isPlainObject(v)) walk(v, p);
    }
  };
  walk(value, []);
  return { value, origin };
}

/**
 * Builds the raw configuration object from its sources and validates it with `schema`.
 *
 * Precedence, lowest first: the schema's defaults, the YAML file, `<envPrefix>_*` environment
 * variables, then flags. Unknown keys, unknown `<envPrefix>_*` variables and bad values throw a
 * ConfigError naming the key, where its value came from, and what is expected.
 */
export function loadConfigLayers<S extends z.ZodType>(
  schema: S,
  envPrefix: string,
  sources: ConfigSources,
  ignoredEnv: readonly string[] = [],
): z.output<S> {
  const leaves = configLeaves(schema);
  const layers: Layer[] = [];
  if (sources.file) layers.push(fileLayer(sources.file));

  const envLayer: Layer = { value: {}, origin: new Map() };
  const byEnv = new Map(leaves.map((l) => [envName(envPrefix, l.path), l]));
  for (const [name, raw] of Object.entries(sources.env)) {
    if (!name.startsWith(`${envPrefix}_`) || raw === undefined || ignoredEnv.includes(name)) {
      continue;
    }
    const leaf = byEnv.get(name);
    if (!leaf) {
      throw new ConfigError(
        `unknown environment variable ${name}; settings are named like ${envName(envPrefix, ['addr', 'https'])} (see docs/configuration.md)`,
      );
    }
    setPath(envLayer.value, leaf.path, coerce(leaf, raw));
    envLayer.origin.set(leaf.path.join('.'), `environment variable ${name}`);
  }
  layers.push(envLayer);

  const flagLayer: Layer = { value: {}, origin: new Map() };
  const byPath = new Map(leaves.map((l) => [l.path.join('.'), l]));
  for (const [key, raw] of Object.entries(sources.flags)) {
    const leaf = byPath.get(key);
    if (!leaf) throw new ConfigError(`unknown flag --${flagName(key.split('.'))}`);
    setPath(flagLayer.value, leaf.path, typeof raw === 'string' ? coerce(leaf, raw) : raw);
    flagLayer.origin.set(key, `flag --${flagName(leaf.path)}`);
  }
  layers.push(flagLayer);

  let merged: Record<string, unknown> = {};
  const origin = new Map<string, string>();
  for (const layer of layers) {
    merged = deepMerge(merged, layer.value);
    for (const [k, v] of layer.origin) origin.set(k, v);
  }

  const result = schema.safeParse(merged);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const keys = issue.code === 'unrecognized_keys' ? issue.keys : [undefined];
  const p = [...issue.path.map(String), ...(keys[0] ? [keys[0]] : [])];
  const key = p.join('.') || '(top level)';
  const from = origin.get(key) ?? originOfParent(origin, p);
  const where = from ? ` (from ${from})` : '';
  if (issue.code === 'unrecognized_keys') {
    const known = objectKeysAt(schema, issue.path.map(String));
    throw new ConfigError(
      `unknown setting ${key}${where}; known settings here: ${known.join(', ')}`,
    );
  }
  throw new ConfigError(`invalid setting ${key}${where}: ${issue.message}`);
}

/** The keys of the object schema at `path` (array elements are looked through). */
function objectKeysAt(schema: z.ZodType, path: string[]): string[] {
  const def = (schema as unknown as ZodInternals)._zod.def;
  switch (def.type) {
    case 'default':
    case 'prefault':
    case 'optional':
    case 'nullable':
      return objectKeysAt(def.innerType as z.ZodType, path);
    case 'pipe':
      return objectKeysAt(
        ((def.in as ZodInternals)._zod.def.type === 'transform' ? def.out : def.in) as z.ZodType,
        path,
      );
    case 'array':
      return objectKeysAt(
        def.element as z.ZodType,
        /^\d+$/.test(path[0] ?? '') ? path.slice(1) : path,
      );
    case 'object': {
      const shape = def.shape as Record<string, z.ZodType>;
      if (path.length === 0) return Object.keys(shape);
      const child = shape[path[0]!];
      return child ? objectKeysAt(child, path.slice(1)) : [];
    }
    default:
      return [];
  }
}

function originOfParent(origin: Map<string, string>, p: string[]): string | undefined {
  for (let i = p.length - 1; i > 0; i--) {
    const o = origin.get(p.slice(0, i).join('.'));
    if (o) return o;
  }
  return undefined;
}

/** Expands a leading `~` to the home directory and makes the path absolute. */
export function expandPath(p: string, home: string = homedir()): string {
  const expanded = p === '~' ? home : p.startsWith('~/') ? path.join(home, p.slice(2)) : p;
  return path.resolve(expanded);
}

/** A duration setting such as `72h` or `1h30m`, parsed to milliseconds. */
export const durationSetting = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `"${text}" is not a duration; use forms like 30s, 5m, 72h`,
    });
    return z.NEVER;
  }
  return ms;
});

/** A listen address: `host:port`, `:port` (all interfaces) or `[::1]:port`. */
export interface ListenAddress {
  host: string;
  port: number;
}

const ADDRESS = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]*)):(\d{1,5})$/;

export function parseListenAddress(text: string): ListenAddress | undefined {
  const m = ADDRESS.exec(text.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: m[1] ?? m[2] ?? '', port };
}

/** A listen address setting; the empty string turns the listener off. */
export const addressSetting = z.string().transform((text, ctx) => {
  if (text.trim() === '') return undefined;
  const addr = parseListenAddress(text);
  if (!addr) {
    ctx.addIssue({
      code: 'custom',
      message: `"${text}" is not a listen address; use host:port such as 127.0.0.1:4443, or :4443 for all interfaces`,
    });
    return z.NEVER;
  }
  return addr;
});

/** How long a connection may take over each phase, and how many one address may hold. */
export interface ConnectionLimits {
  /** Open connections one client address may hold; 0 is no limit. */
  connectionsPerIP: number;
  /** Milliseconds for the TLS handshake. */
  handshakeTimeout: number;
  /** Milliseconds for a request's headers to arrive, the first request's included. */
  headersTimeout: number;
  /** Milliseconds a connection may wait, idle, for its next request. */
  idleTimeout: number;
}

const timeoutSetting = durationSetting.refine(
  (ms) => ms > 0 && ms <= 600_000,
  'must be more than 0 and at most 10m',
);

/**
 * The `limits` of a listener. They bound connections that do nothing (a handshake or headers
 * that never come, keep-alive between requests), never how long a request may run: long polls
 * and kubectl streams go on for as long as they need.
 */
export function connectionLimitsSetting(defaults: { idleTimeout: string }) {
  return z
    .object({
      connectionsPerIP: z
        .number()
        .int()
        .min(0)
        .max(1_000_000)
        .default(256)
        .describe('Open connections one client address may hold; 0 is no limit'),
      handshakeTimeout: timeoutSetting.prefault('10s').describe('Time for the TLS handshake'),
      headersTimeout: timeoutSetting
        .prefault('30s')
        .describe("Time for a request's headers, the first request's included"),
      idleTimeout: timeoutSetting
        .prefault(defaults.idleTimeout)
        .describe('Close a connection that waits this long for its next request'),
    })
    .strict()
    .prefault({});
}

/** A setting that holds PEM text or the path of a PEM file (relative to `base`): the PEM. */
export async function readPemOrPath(setting: string, value: string, base: string): Promise<string> {
  if (value.trimStart().startsWith('-----BEGIN')) return value;
  const file = path.resolve(base, expandPath(value));
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `${setting}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'}); give PEM text or a readable file path`,
      { cause: err },
    );
  }
}
