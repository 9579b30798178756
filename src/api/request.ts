import { pathParams, type HttpMethod } from './endpoint.js';

/**
 * The HTTP request of a call to an operation, as every client makes it (the typed client, the
 * dashboard): path parameters are taken from the input; the rest goes in the query for GET and
 * DELETE (a value left out when undefined, null or empty; arrays as repeated keys) or in a JSON
 * body otherwise. No zod here, so the dashboard can bundle it.
 */
export function apiRequest(
  route: { method: HttpMethod; path: string },
  input: Record<string, unknown>,
): { method: HttpMethod; path: string; body?: string } {
  const rest = { ...input };
  let path = route.path;
  for (const param of pathParams(route.path)) {
    path = path.replace(`:${param}`, encodeURIComponent(String(rest[param])));
    delete rest[param];
  }
  if (route.method !== 'GET' && route.method !== 'DELETE')
    return { method: route.method, path, body: JSON.stringify(rest) };
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(rest)) {
    if (value === undefined || value === null || value === '') continue;
    for (const v of Array.isArray(value) ? value : [value]) query.append(key, String(v));
  }
  const text = query.toString();
  return { method: route.method, path: text ? `${path}?${text}` : path };
}
