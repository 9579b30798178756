/**
 * Server-side printing (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`): the columns of
 * the apiserver's printers for the kinds the fake keeps, and its default Name / Created At
 * columns for the rest.
 */
import type { KubeObject } from './store.js';

interface Column {
  name: string;
  type: string;
  format?: string;
  priority?: number;
}
type Printer = { columns: Column[]; cells(o: KubeObject): unknown[] };

const NONE = '<none>';
const name: Column = { name: 'Name', type: 'string', format: 'name' };
const age: Column = { name: 'Age', type: 'string' };
const wide = (n: string): Column => ({ name: n, type: 'string', priority: 1 });

/** k8s.io/apimachinery/pkg/util/duration.HumanDuration. */
function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < -1) return '<invalid>';
  if (s < 0) return '0s';
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 ? `${m}m${s % 60}s` : `${m}m`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 ? `${h}h${m % 60}m` : `${h}h`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (h < 24 * 8) return h % 24 ? `${d}d${h % 24}h` : `${d}d`;
  if (h < 24 * 365 * 2) return `${d}d`;
  const y = Math.floor(d / 365);
  if (h < 24 * 365 * 8) return d % 365 ? `${y}y${d % 365}d` : `${y}y`;
  return `${y}y`;
}

const ageOf = (o: KubeObject) =>
  humanDuration(Date.now() - Date.parse(o.metadata.creationTimestamp ?? ''));

interface Subject {
  kind: string;
  name: string;
  namespace?: string;
}
const subjects = (o: KubeObject, kind: string) => {
  const names = ((o.subjects as Subject[] | undefined) ?? [])
    .filter((s) => s.kind === kind)
    .map((s) => (kind === 'ServiceAccount' ? `${s.namespace ?? ''}/${s.name}` : s.name));
  return names.length ? names.join(', ') : '';
};
const binding: Printer = {
  columns: [
    name,
    { name: 'Role', type: 'string' },
    age,
    wide('Users'),
    wide('Groups'),
    wide('ServiceAccounts'),
  ],
  cells: (o) => {
    const ref = o.roleRef as { kind: string; name: string };
    return [
      o.metadata.name,
      `${ref.kind}/${ref.name}`,
      ageOf(o),
      subjects(o, 'User'),
      subjects(o, 'Group'),
      subjects(o, 'ServiceAccount'),
    ];
  },
};

interface PodStatus {
  phase?: string;
  podIP?: string;
  nominatedNodeName?: string;
  containerStatuses?: { ready?: boolean; restartCount?: number }[];
}

const createdAt: Printer = {
  columns: [name, { name: 'Created At', type: 'date' }],
  cells: (o) => [o.metadata.name, o.metadata.creationTimestamp],
};

const printers: Record<string, Printer> = {
  '/pods': {
    columns: [
      name,
      { name: 'Ready', type: 'string' },
      { name: 'Status', type: 'string' },
      { name: 'Restarts', type: 'string' },
      age,
      wide('IP'),
      wide('Node'),
      wide('Nominated Node'),
      wide('Readiness Gates'),
    ],
    cells: (o) => {
      const status = (o.status ?? {}) as PodStatus;
      const containers = ((o.spec as { containers?: unknown[] } | undefined)?.containers ?? [])
        .length;
      const statuses = status.containerStatuses ?? [];
      return [
        o.metadata.name,
        `${statuses.filter((c) => c.ready).length}/${containers}`,
        status.phase ?? 'Pending',
        statuses.reduce((n, c) => n + (c.restartCount ?? 0), 0),
        ageOf(o),
        status.podIP ?? NONE,
        (o.spec as { nodeName?: string } | undefined)?.nodeName ?? NONE,
        status.nominatedNodeName ?? NONE,
        NONE,
      ];
    },
  },
  '/namespaces': {
    columns: [name, { name: 'Status', type: 'string' }, age],
    cells: (o) => [
      o.metadata.name,
      (o.status as { phase?: string } | undefined)?.phase ?? '',
      ageOf(o),
    ],
  },
  '/secrets': {
    columns: [name, { name: 'Type', type: 'string' }, { name: 'Data', type: 'string' }, age],
    cells: (o) => [o.metadata.name, o.type, Object.keys(o.data ?? {}).length, ageOf(o)],
  },
  '/configmaps': {
    columns: [name, { name: 'Data', type: 'string' }, age],
    cells: (o) => [
      o.metadata.name,
      Object.keys(o.data ?? {}).length + Object.keys(o.binaryData ?? {}).length,
      ageOf(o),
    ],
  },
  'rbac.authorization.k8s.io/rolebindings': binding,
  'rbac.authorization.k8s.io/clusterrolebindings': binding,
};

export type IncludeObject = 'None' | 'Metadata' | 'Object';

/** A meta.k8s.io Table of `objects`; watch events after the first omit the column definitions. */
export function table(
  store: string,
  objects: KubeObject[],
  opts: {
    apiVersion: string;
    resourceVersion: string;
    includeObject: IncludeObject;
    noHeaders?: boolean;
    full: (o: KubeObject) => KubeObject;
  },
) {
  const printer = printers[store] ?? createdAt;
  return {
    kind: 'Table',
    apiVersion: opts.apiVersion,
    metadata: { resourceVersion: opts.resourceVersion },
    columnDefinitions: opts.noHeaders
      ? null
      : printer.columns.map((c) => ({
          name: c.name,
          type: c.type,
          format: c.format ?? '',
          description: '',
          priority: c.priority ?? 0,
        })),
    rows: objects.map((o) => ({
      cells: printer.cells(o),
      object:
        opts.includeObject === 'None'
          ? undefined
          : opts.includeObject === 'Object'
            ? opts.full(o)
            : { kind: 'PartialObjectMetadata', apiVersion: opts.apiVersion, metadata: o.metadata },
    })),
  };
}
