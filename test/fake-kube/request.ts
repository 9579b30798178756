/**
 * How the apiserver reads a request before any handler runs: the request info the authorizer
 * sees (verb, resource, subresource, name, namespace) and content negotiation of the response.
 */
import type { IncomingMessage } from 'node:http';
import type { Attributes } from './rbac.js';
import { badRequest, StatusError } from './status.js';
import type { IncludeObject } from './tables.js';

/** k8s.io/apiserver/pkg/endpoints/request.RequestInfoFactory.NewRequestInfo. */
export function requestInfo(method: string, url: URL): Omit<Attributes, 'user'> {
  // Go's URL.Path is percent-decoded: `infra%3Aview` names `infra:view`.
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    throw badRequest(`invalid URL escape in ${url.pathname}`);
  }
  const info = {
    resourceRequest: false,
    path,
    verb: method.toLowerCase(),
    apiGroup: '',
    apiVersion: '',
    resource: '',
    subresource: '',
    name: '',
    namespace: '',
  };
  const trimmed = path.replace(/^\/+|\/+$/g, '');
  let parts = trimmed ? trimmed.split('/') : [];
  if (parts.length < 3 || (parts[0] !== 'api' && parts[0] !== 'apis')) return info;
  if (parts[0] === 'apis') {
    if (parts.length < 4) return info;
    info.apiGroup = parts[1]!;
    parts = parts.slice(1);
  }
  info.resourceRequest = true;
  info.apiVersion = parts[1]!;
  parts = parts.slice(2);
  if (parts[0] === 'watch' || parts[0] === 'proxy') {
    if (parts.length < 2) {
      throw badRequest(`unable to determine kind and namespace from url, ${url}`);
    }
    info.verb = parts[0];
    parts = parts.slice(1);
  } else {
    const verbs: Record<string, string> = {
      POST: 'create',
      GET: 'get',
      HEAD: 'get',
      PUT: 'update',
      PATCH: 'patch',
      DELETE: 'delete',
    };
    info.verb = verbs[method] ?? '';
  }
  if (parts[0] === 'namespaces' && parts.length > 1) {
    info.namespace = parts[1]!;
    // …unless what follows is one of the namespace's own subresources.
    if (parts.length > 2 && parts[2] !== 'status' && parts[2] !== 'finalize') {
      parts = parts.slice(2);
    }
  }
  if (parts.length >= 3 && info.verb !== 'proxy') info.subresource = parts[2]!;
  info.name = parts[1] ?? '';
  info.resource = parts[0] ?? '';
  const q = url.searchParams;
  if (!info.name && info.verb === 'get') {
    info.verb = isTrue(q.get('watch')) ? 'watch' : 'list';
    const byName = /^metadata\.name==?([^,]+)$/.exec(q.get('fieldSelector') ?? '');
    if (byName) info.name = byName[1]!;
  }
  if (!info.name && info.verb === 'delete') info.verb = 'deletecollection';
  return info;
}

/** strconv.ParseBool's true values. */
export const isTrue = (v: string | null) =>
  v !== null && ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v);

/** Accept, split into media types, highest q first. */
export function mediaTypes(accept: string | undefined) {
  return (accept || 'application/json')
    .split(',')
    .map((part) => {
      const [type = '', ...rest] = part.split(';').map((s) => s.trim());
      const params = Object.fromEntries(rest.map((p) => p.split('=').map((s) => s.trim())));
      return { type: type.toLowerCase(), params, q: Number(params.q ?? 1) };
    })
    .filter((m) => m.q > 0)
    .sort((a, b) => b.q - a.q);
}

export const isJson = (type: string) => ['application/json', 'application/*', '*/*'].includes(type);

export const notAcceptable = () =>
  new StatusError(
    406,
    'NotAcceptable',
    'only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf',
  );

type Output =
  | { as: 'Object' }
  | { as: 'Table' | 'PartialObjectMetadata'; apiVersion: string; includeObject: IncludeObject };

/** The representation the client asked for (server-side printing, metadata only, or objects). */
export function output(req: IncomingMessage, url: URL): Output {
  for (const m of mediaTypes(req.headers.accept)) {
    if (!isJson(m.type)) continue;
    if (!m.params.as) return { as: 'Object' };
    if (m.params.g !== 'meta.k8s.io' || !['v1', 'v1beta1'].includes(m.params.v ?? '')) continue;
    const apiVersion = `meta.k8s.io/${m.params.v}`;
    const includeObject = (url.searchParams.get('includeObject') ?? 'Metadata') as IncludeObject;
    if (m.params.as === 'Table') return { as: 'Table', apiVersion, includeObject };
    if (m.params.as.startsWith('PartialObjectMetadata')) {
      return { as: 'PartialObjectMetadata', apiVersion, includeObject };
    }
  }
  throw notAcceptable();
}
