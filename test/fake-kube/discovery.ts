/**
 * The Kubernetes project's published discovery documents (./discovery), served as they are, plus
 * the two forms they lack: the aggregated document for /api (built from api__v1.json) and the
 * legacy APIResourceList of groups that have no file (built from aggregated_v2.json). The same
 * lists tell the server which resources exist, their kind, scope and verbs.
 */
import { readFileSync, readdirSync } from 'node:fs';

interface APIResource {
  name: string;
  singularName: string;
  namespaced: boolean;
  kind: string;
  verbs: string[];
  group?: string;
  version?: string;
  shortNames?: string[];
  categories?: string[];
}

interface APIResourceList {
  kind: 'APIResourceList';
  apiVersion?: string;
  groupVersion: string;
  resources: APIResource[];
}

interface GroupKindVersion {
  group: string;
  version: string;
  kind: string;
}

interface ResourceDiscovery {
  resource: string;
  responseKind: GroupKindVersion;
  scope: 'Cluster' | 'Namespaced';
  singularResource: string;
  verbs: string[];
  shortNames?: string[];
  categories?: string[];
  subresources?: { subresource: string; responseKind: GroupKindVersion; verbs: string[] }[];
}

interface VersionDiscovery {
  version: string;
  resources: ResourceDiscovery[];
  freshness: string;
}

interface GroupDiscovery {
  metadata: { name?: string; creationTimestamp?: null };
  versions: VersionDiscovery[];
}

interface APIGroup {
  name: string;
  versions: { groupVersion: string; version: string }[];
  preferredVersion: { groupVersion: string; version: string };
}

const dir = new URL('./discovery/', import.meta.url);
const load = <T>(file: string): T => JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as T;

function toAggregated(list: APIResourceList): VersionDiscovery {
  const top = list.resources.filter((r) => !r.name.includes('/'));
  return {
    version: list.groupVersion.split('/').pop()!,
    resources: top.map((r) => {
      const subresources = list.resources
        .filter((s) => s.name.startsWith(`${r.name}/`))
        .map((s) => ({
          subresource: s.name.slice(r.name.length + 1),
          responseKind: { group: s.group ?? '', version: s.version ?? '', kind: s.kind },
          verbs: s.verbs,
        }));
      return {
        resource: r.name,
        responseKind: { group: '', version: '', kind: r.kind },
        scope: r.namespaced ? 'Namespaced' : 'Cluster',
        singularResource: r.singularName,
        verbs: r.verbs,
        ...(r.shortNames && { shortNames: r.shortNames }),
        ...(r.categories && { categories: r.categories }),
        ...(subresources.length && { subresources }),
      };
    }),
    freshness: 'Current',
  };
}

function toLegacy(groupVersion: string, v: VersionDiscovery): APIResourceList {
  const withGroup = (k: GroupKindVersion) =>
    k.group ? { group: k.group, version: k.version, kind: k.kind } : { kind: k.kind };
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion,
    resources: v.resources.flatMap((r) => [
      {
        name: r.resource,
        singularName: r.singularResource,
        namespaced: r.scope === 'Namespaced',
        ...withGroup(r.responseKind),
        verbs: r.verbs,
        ...(r.shortNames && { shortNames: r.shortNames }),
        ...(r.categories && { categories: r.categories }),
      },
      ...(r.subresources ?? []).map((s) => ({
        name: `${r.resource}/${s.subresource}`,
        singularName: '',
        namespaced: r.scope === 'Namespaced',
        ...withGroup(s.responseKind),
        verbs: s.verbs,
      })),
    ]),
  };
}

export class Discovery {
  /** GET /api and /apis, legacy form. */
  readonly api = load<object>('api.json');
  readonly apis = load<{ groups: APIGroup[] }>('apis.json');
  /** The aggregated documents' items, for /api and /apis. */
  readonly coreGroups: GroupDiscovery[];
  readonly groups: GroupDiscovery[];
  /** APIResourceList by groupVersion ("v1", "apps/v1"). */
  private readonly lists = new Map<string, APIResourceList>();

  constructor() {
    for (const file of readdirSync(dir).filter((f) => /^apis?__.*\.json$/.test(f))) {
      const list = load<APIResourceList>(file);
      this.lists.set(list.groupVersion, list);
    }
    this.groups = load<{ items: GroupDiscovery[] }>('aggregated_v2.json').items;
    for (const g of this.groups) {
      for (const v of g.versions) {
        const gv = `${g.metadata.name}/${v.version}`;
        if (!this.lists.has(gv)) this.lists.set(gv, toLegacy(gv, v));
      }
    }
    this.coreGroups = [
      { metadata: { creationTimestamp: null }, versions: [toAggregated(this.lists.get('v1')!)] },
    ];
  }

  resourceList(groupVersion: string): APIResourceList | undefined {
    return this.lists.get(groupVersion);
  }

  group(name: string): (APIGroup & { kind: string; apiVersion: string }) | undefined {
    const g = this.apis.groups.find((x) => x.name === name);
    return g && { kind: 'APIGroup', apiVersion: 'v1', ...g };
  }

  /** The resource (or `resource/subresource`) served at group/version, if any. */
  resource(group: string, version: string, name: string): APIResource | undefined {
    const list = this.lists.get(group ? `${group}/${version}` : version);
    return list?.resources.find((r) => r.name === name);
  }
}
