import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { YAMLSeq, isMap, isSeq, parseDocument, type Document } from 'yaml';
import { writeFileAtomic } from '../shared/files.js';
import type { WrittenEntries } from './state.js';

/** The kubeconfig kubectl uses: the first file in KUBECONFIG, or ~/.kube/config. */
export function kubeconfigPath(env: NodeJS.ProcessEnv): string {
  const first = env.KUBECONFIG?.split(path.delimiter).find((p) => p !== '');
  return first ?? path.join(env.HOME ?? homedir(), '.kube', 'config');
}

/** A context this CLI writes: one per cluster and per granted namespace. */
export interface DesiredContext {
  /** `infra:prod` or `infra:prod:web`. */
  name: string;
  destination: string;
  namespace?: string;
  /** The connector's URL and CA. */
  server: string;
  ca: string;
}

/** How kubectl runs this CLI for credentials. */
export interface CredentialCommand {
  command: string;
  args: (destination: string) => string[];
}

const SECTIONS = ['clusters', 'users', 'contexts'] as const;
export type Section = (typeof SECTIONS)[number];

/** Something the sync did not do as asked, or did to an entry someone changed. */
export type KubeconfigNotice =
  /**
   * These contexts were not written: the entries listed have the names Infra would use but Infra
   * did not write them, so a context of Infra's would use (or be) someone else's entry.
   */
  | { kind: 'not-written'; contexts: string[]; entries: Array<{ section: Section; name: string }> }
  /** An entry Infra wrote had been changed since: it was rewritten, or removed if no longer wanted. */
  | { kind: 'changed'; section: Section; name: string; removed: boolean };

/**
 * Serializes the way the file was written: compact or indented sequences (kubectl writes
 * compact ones), and no re-folding of long lines (certificates), so untouched entries keep their
 * exact text.
 */
function serialize(doc: Document, original: string): string {
  const indented = /^\S[^\n]*:\n {2}- /m.test(original) && !/^\S[^\n]*:\n- /m.test(original);
  return doc.toString({ indentSeq: indented, lineWidth: 0 });
}

function load(file: string): { doc: Document; mode: number; text: string } {
  let text = '';
  let mode = 0o600;
  try {
    text = readFileSync(file, 'utf8');
    mode = statSync(file).mode & 0o777;
  } catch {
    // No kubeconfig yet: start one.
  }
  const doc = parseDocument(text.trim() === '' ? 'apiVersion: v1\nkind: Config\n' : text);
  if (doc.errors.length > 0) {
    throw new Error(
      `${file} is not valid YAML (${doc.errors[0]!.message.split('\n')[0]}); fix or move it, then run the command again`,
    );
  }
  if (!isMap(doc.contents)) throw new Error(`${file} is not a kubeconfig (not a YAML mapping)`);
  return { doc, mode, text };
}

function section(doc: Document, name: Section): YAMLSeq {
  const existing = doc.get(name);
  if (isSeq(existing)) return existing;
  const seq = new YAMLSeq();
  doc.set(name, seq);
  return seq;
}

function entryName(item: unknown): string | undefined {
  return isMap(item) ? (item.get('name') as string | undefined) : undefined;
}

/**
 * What an entry means, whatever wrote the file last: kubectl rewrites the whole file when it
 * changes any entry, reordering keys and adding empty fields (`env: null`), and that is no edit.
 */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, v]) => v !== null && v !== '' && !(typeof v === 'object' && isEmpty(v)))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => [k, canonical(v)]),
  );
}

function isEmpty(value: object): boolean {
  return Array.isArray(value) ? value.length === 0 : Object.keys(value).length === 0;
}

const digest = (value: unknown) =>
  createHash('sha256')
    .update(JSON.stringify(canonical(value)))
    .digest('base64url');

function clusterEntry(name: string, c: DesiredContext) {
  return {
    name,
    cluster: {
      server: c.server,
      'certificate-authority-data': Buffer.from(c.ca).toString('base64'),
    },
  };
}

function userEntry(name: string, destination: string, credential: CredentialCommand) {
  return {
    name,
    user: {
      exec: {
        apiVersion: 'client.authentication.k8s.io/v1',
        command: credential.command,
        args: credential.args(destination),
        interactiveMode: 'IfAvailable',
        // kubectl then tells the plugin which server the token is for (exec-cluster.ts).
        provideClusterInfo: true,
      },
    },
  };
}

/**
 * Brings the kubeconfig in line with `desired`: writes (or rewrites) the entries this CLI owns,
 * removes the ones it wrote before that are no longer wanted, and leaves every other entry
 * exactly as it was (the document is edited in place, so their text does not change).
 *
 * A context is written only when the context, cluster and user entries it consists of are all
 * Infra's (or free): an entry with one of Infra's names that Infra did not write is left alone,
 * and the contexts that would use it are not written (kubectl would send Infra's token to
 * someone else's server, or use someone else's credentials). An entry Infra wrote that was
 * changed since stays Infra's: it is rewritten. Both are reported. The file is replaced
 * atomically, keeping its mode.
 */
export async function syncKubeconfig(
  file: string,
  desired: DesiredContext[],
  credential: CredentialCommand,
  previous: WrittenEntries | undefined,
): Promise<{ written: WrittenEntries; notices: KubeconfigNotice[] }> {
  const { doc, mode, text } = load(file);
  // Ownership is per section: our cluster `infra:prod` says nothing about a context of that name.
  const mine = previous && previous.file === file ? previous : undefined;
  const owned: Record<Section, Set<string>> = {
    clusters: new Set(mine?.clusters),
    users: new Set(mine?.users),
    contexts: new Set(mine?.contexts),
  };
  const seqs = {
    clusters: section(doc, 'clusters'),
    users: section(doc, 'users'),
    contexts: section(doc, 'contexts'),
  };
  const find = (name: Section, entry: string) =>
    seqs[name].items.flatMap((item, i) => (entryName(item) === entry ? [i] : []));
  const foreign = (name: Section, entry: string) =>
    !owned[name].has(entry) && find(name, entry).length > 0;

  const notices: KubeconfigNotice[] = [];
  const want: Record<Section, Map<string, unknown>> = {
    clusters: new Map(),
    users: new Map(),
    contexts: new Map(),
  };
  const byDestination = new Map<string, DesiredContext[]>();
  for (const c of desired)
    byDestination.set(c.destination, [...(byDestination.get(c.destination) ?? []), c]);
  for (const [destination, contexts] of byDestination) {
    const name = `infra:${destination}`;
    const shared = (['clusters', 'users'] as const).filter((s) => foreign(s, name));
    if (shared.length > 0) {
      notices.push({
        kind: 'not-written',
        contexts: contexts.map((c) => c.name),
        entries: [
          ...shared.map((s) => ({ section: s, name })),
          ...contexts
            .filter((c) => foreign('contexts', c.name))
            .map((c) => ({ section: 'contexts' as const, name: c.name })),
        ],
      });
      continue;
    }
    for (const c of contexts) {
      if (foreign('contexts', c.name)) {
        notices.push({
          kind: 'not-written',
          contexts: [c.name],
          entries: [{ section: 'contexts', name: c.name }],
        });
        continue;
      }
      want.contexts.set(c.name, {
        name: c.name,
        context: { cluster: name, user: name, ...(c.namespace ? { namespace: c.namespace } : {}) },
      });
      want.clusters.set(name, clusterEntry(name, c));
      want.users.set(name, userEntry(name, destination, credential));
    }
  }

  const digests: Record<string, string> = {};
  const written: WrittenEntries = { file, clusters: [], users: [], contexts: [], digests };
  for (const name of SECTIONS) {
    const seq = seqs[name];
    // Our entries and the free names we want; never anyone else's (see `foreign` above).
    for (const entry of new Set([...owned[name], ...want[name].keys()])) {
      const at = find(name, entry);
      const value = want[name].get(entry);
      if (owned[name].has(entry) && at.length > 0) {
        // A second entry of the same name would win in kubectl; a changed digest is an edit.
        const before = mine?.digests?.[`${name}/${entry}`];
        const item = seq.items[at[0]!] as { toJSON(): unknown };
        if (at.length > 1 || (before !== undefined && digest(item.toJSON()) !== before))
          notices.push({
            kind: 'changed',
            section: name,
            name: entry,
            removed: value === undefined,
          });
      }
      for (const i of [...at].reverse()) seq.items.splice(i, 1);
      if (value === undefined) continue;
      seq.items.splice(at[0] ?? seq.items.length, 0, doc.createNode(value));
      written[name].push(entry);
      digests[`${name}/${entry}`] = digest(value);
    }
  }
  const current = doc.get('current-context');
  if (typeof current === 'string' && owned.contexts.has(current) && !want.contexts.has(current))
    doc.set('current-context', '');
  await writeFileAtomic(file, serialize(doc, text), mode);
  return { written, notices };
}

/** Removes the entries this CLI wrote (logout). */
export async function removeKubeconfigEntries(previous: WrittenEntries | undefined): Promise<void> {
  if (!previous) return;
  await syncKubeconfig(previous.file, [], { command: '', args: () => [] }, previous);
}

/** Sets kubectl's current context; the context must be one of ours. */
export async function useContext(
  file: string,
  name: string,
  owned: WrittenEntries | undefined,
): Promise<boolean> {
  if (!owned || owned.file !== file || !owned.contexts.includes(name)) return false;
  const { doc, mode, text } = load(file);
  doc.set('current-context', name);
  await writeFileAtomic(file, serialize(doc, text), mode);
  return true;
}
