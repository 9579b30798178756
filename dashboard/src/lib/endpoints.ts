import type { OperationName } from '../../../src/api/endpoints.js';
import type { HttpMethod } from '../../../src/api/endpoint.js';

/**
 * Method and path of every API operation. The zod contract in src/api is the source of truth,
 * but importing its values would bundle the server's validation code into the browser; the
 * dashboard's test checks this table against it.
 */
export const endpointRoutes = {
  getVersion: ['GET', '/api/version'],
  getOpenApi: ['GET', '/api/openapi.json'],
  getSettings: ['GET', '/api/settings'],
  getSetup: ['GET', '/api/setup'],
  setup: ['POST', '/api/setup'],
  login: ['POST', '/api/login'],
  logout: ['POST', '/api/logout'],
  listUsers: ['GET', '/api/users'],
  createUser: ['POST', '/api/users'],
  getUser: ['GET', '/api/users/:id'],
  updateUser: ['PUT', '/api/users/:id'],
  deleteUser: ['DELETE', '/api/users/:id'],
  listGroups: ['GET', '/api/groups'],
  createGroup: ['POST', '/api/groups'],
  getGroup: ['GET', '/api/groups/:id'],
  deleteGroup: ['DELETE', '/api/groups/:id'],
  updateGroupUsers: ['PATCH', '/api/groups/:id/users'],
  listGrants: ['GET', '/api/grants'],
  getGrant: ['GET', '/api/grants/:id'],
  createGrant: ['POST', '/api/grants'],
  deleteGrant: ['DELETE', '/api/grants/:id'],
  updateGrants: ['PATCH', '/api/grants'],
  listAccessKeys: ['GET', '/api/access-keys'],
  createAccessKey: ['POST', '/api/access-keys'],
  deleteAccessKey: ['DELETE', '/api/access-keys/:id'],
  deleteAccessKeys: ['DELETE', '/api/access-keys'],
  listAudit: ['GET', '/api/audit'],
  verifyAudit: ['GET', '/api/audit/verify'],
  listDestinations: ['GET', '/api/destinations'],
  getDestination: ['GET', '/api/destinations/:id'],
  createDestination: ['POST', '/api/destinations'],
  updateDestination: ['PUT', '/api/destinations/:id'],
  deleteDestination: ['DELETE', '/api/destinations/:id'],
  getAccessFeed: ['GET', '/api/feed'],
  createToken: ['POST', '/api/tokens'],
  getJwks: ['GET', '/.well-known/jwks.json'],
  rotateSigningKey: ['POST', '/api/signing-keys/rotate'],
  listProviders: ['GET', '/api/providers'],
  getProvider: ['GET', '/api/providers/:id'],
  createProvider: ['POST', '/api/providers'],
  updateProvider: ['PUT', '/api/providers/:id'],
  deleteProvider: ['DELETE', '/api/providers/:id'],
  startProviderLogin: ['POST', '/api/providers/:id/authorize'],
  createDeviceRequest: ['POST', '/api/device'],
  getDeviceStatus: ['POST', '/api/device/status'],
  approveDevice: ['POST', '/api/device/approve'],
} as const satisfies Record<OperationName, readonly [HttpMethod, string]>;

/** The API version this dashboard was written for (sent as `Infra-Version`). */
export const API_VERSION = '0.1.0';
