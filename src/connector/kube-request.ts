/** What a request to the kube-apiserver is about, as its audit log would say. */
export interface KubeRequest {
  /** The Kubernetes verb: get, list, watch, create, update, patch, delete, deletecollection. */
  verb: string;
  /** Resource requests only. */
  objectRef?: ObjectRef;
  /** Discovery (`/api`, `/apis/apps/v1`, `/version`, `/openapi/...`): not audited. */
  discovery: boolean;
}

export interface ObjectRef {
  resource: string;
  namespace?: string;
  name?: string;
  apiGroup?: string;
  apiVersion: string;
  subresource?: string;
}

// Subresources of a namespace that are not a resource inside it (`namespaces/web/status`).
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

const methodVerbs: Record<string, string> = {
  POST: 'create',
  PUT: 'update',
  PATCH: 'patch',
};

function isWatch(query: string): boolean {
  return /(?:^|&)watch=(?:true|1)(?:&|$)/.test(query);
}

/**
 * Parses a request as the kube-apiserver's request-info resolver does: `/api/v1/...` or
 * `/apis/<group>/<version>/...`, then `[namespaces/<ns>/]<resource>[/<name>[/<subresource>]]`;
 * the verb follows from the method, a name and `watch`. Anything else is a non-resource
 * request, whose verb is the lower-case method.
 */
export function parseKubeRequest(method: string, url: string): KubeRequest {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q + 1);
  const segments = path.split('/').filter((s) => s !== '');
  let parts: string[];
  let apiGroup: string;
  let apiVersion: string;
  if (segments[0] === 'api') {
    if (segments.length <= 2) return { verb: method.toLowerCase(), discovery: true };
    apiGroup = '';
    apiVersion = segments[1]!;
    parts = segments.slice(2);
  } else if (segments[0] === 'apis') {
    if (segments.length <= 3) return { verb: method.toLowerCase(), discovery: true };
    apiGroup = segments[1]!;
    apiVersion = segments[2]!;
    parts = segments.slice(3);
  } else {
    const discovery =
      segments.length === 0 || segments[0] === 'version' || segments[0] === 'openapi';
    return { verb: method.toLowerCase(), discovery };
  }

  // The deprecated `/watch/` prefix.
  let watch = isWatch(query);
  if (parts[0] === 'watch') {
    watch = true;
    parts = parts.slice(1);
  }
  let namespace: string | undefined;
  if (parts[0] === 'namespaces' && parts.length > 1) {
    namespace = parts[1];
    if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2]!)) parts = parts.slice(2);
  }
  const [resource = '', name, subresource] = parts.map((p) => decodeSegment(p));
  let verb: string;
  switch (method) {
    case 'GET':
    case 'HEAD':
      verb = watch ? 'watch' : name === undefined ? 'list' : 'get';
      break;
    case 'DELETE':
      verb = name === undefined ? 'deletecollection' : 'delete';
      break;
    default:
      verb = methodVerbs[method] ?? method.toLowerCase();
  }
  const objectRef: ObjectRef = { resource, apiVersion };
  if (namespace !== undefined) objectRef.namespace = decodeSegment(namespace);
  if (name !== undefined) objectRef.name = name;
  if (apiGroup !== '') objectRef.apiGroup = apiGroup;
  if (subresource !== undefined) objectRef.subresource = subresource;
  return { verb, objectRef, discovery: false };
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
