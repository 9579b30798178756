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
type Section = (typeof SECTIONS)[number];

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
 * Brings the kubeconfig in line with `desired`: writes (or rewrites) the entries this CLI owns,
 * removes the ones it wrote before that are no longer wanted, and leaves every other entry
 * exactly as it was (the document is edited in place, so their text does not change). An entry
 * with one of our names that we did not write is left alone and reported. The file is replaced
 * atomically, keeping its mode.
 */
export async function syncKubeconfig(
  file: string,
  desired: DesiredContext[],
  credential: CredentialCommand,
  previous: WrittenEntries | undefined,
): Promise<{ written: WrittenEntries; conflicts: string[] }> {
  const { doc, mode, text } = load(file);
  // Ownership is per section: our cluster `infra:prod` says nothing about a context of that name.
  const mine =
    previous && previous.file === file ? previous : { clusters: [], users: [], contexts: [] };
  const owned: Record<Section, Set<string>> = {
    clusters: new Set(mine.clusters),
    users: new Set(mine.users),
    contexts: new Set(mine.contexts),
  };
  const want: Record<Section, Map<string, unknown>> = {
    clusters: new Map(),
    users: new Map(),
    contexts: new Map(),
  };
  for (const c of desired) {
    const cluster = `infra:${c.destination}`;
    want.clusters.set(cluster, {
      name: cluster,
      cluster: {
        server: c.server,
        'certificate-authority-data': Buffer.from(c.ca).toString('base64'),
      },
    });
    want.users.set(cluster, {
      name: cluster,
      user: {
        exec: {
          apiVersion: 'client.authentication.k8s.io/v1',
          command: credential.command,
          args: credential.args(c.destination),
          interactiveMode: 'IfAvailable',
          provideClusterInfo: false,
        },
      },
    });
    want.contexts.set(c.name, {
      name: c.name,
      context: { cluster, user: cluster, ...(c.namespace ? { namespace: c.namespace } : {}) },
    });
  }

  const conflicts: string[] = [];
  const written: WrittenEntries = { file, clusters: [], users: [], contexts: [] };
  for (const name of SECTIONS) {
    const seq = section(doc, name);
    // Remove what we wrote earlier and no longer want (from the end, so indexes stay valid).
    const stale = seq.items
      .map((item, i) => ({ name: entryName(item), i }))
      .filter((e) => e.name !== undefined && owned[name].has(e.name) && !want[name].has(e.name))
      .sort((a, b) => b.i - a.i);
    for (const { i } of stale) seq.items.splice(i, 1);
    for (const [entry, value] of want[name]) {
      const index = seq.items.findIndex((item) => entryName(item) === entry);
      if (index >= 0 && !owned[name].has(entry)) {
        conflicts.push(entry);
        continue;
      }
      const node = doc.createNode(value);
      if (index >= 0) seq.items[index] = node;
      else seq.items.push(node);
      written[name].push(entry);
    }
  }
  const current = doc.get('current-context');
  if (typeof current === 'string' && owned.contexts.has(current) && !want.contexts.has(current))
    doc.set('current-context', '');
  await writeFileAtomic(file, serialize(doc, text), mode);
  return { written, conflicts };
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
