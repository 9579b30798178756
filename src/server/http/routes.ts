import type { Handlers } from './route.js';
import { getOpenApi, getVersion } from './system.js';

/** The handler for every endpoint in `api/endpoints.ts`, by operation name. */
export const handlers: Handlers = {
  getVersion,
  getOpenApi,
};
