import {
  createAccessKey,
  deleteAccessKey,
  deleteAccessKeys,
  listAccessKeys,
} from './access-keys.js';
import { listAudit, verifyAudit } from './audit.js';
import {
  createDestination,
  createToken,
  deleteDestination,
  getAccessFeed,
  getDestination,
  getJwks,
  listDestinations,
  rotateSigningKey,
  updateDestination,
} from './destinations.js';
import { createGrant, deleteGrant, getGrant, listGrants, updateGrants } from './grants.js';
import { createGroup, deleteGroup, getGroup, listGroups, updateGroupUsers } from './groups.js';
import {
  approveDevice,
  createDeviceRequest,
  createProvider,
  deleteProvider,
  getDeviceStatus,
  getProvider,
  listProviders,
  startProviderLogin,
  updateProvider,
} from './providers.js';
import type { Handlers } from './route.js';
import { getSettings, getSetup, login, logout, setup } from './sessions.js';
import {
  createKubeEvents,
  createKubeRecordingChunk,
  getKubeRecording,
  listKubeEvents,
  listKubeRecordings,
} from './kube-audit.js';
import { getOpenApi, getVersion } from './system.js';
import { createUser, deleteUser, getUser, listUsers, updateUser } from './users.js';

/** The handler for every endpoint in `api/endpoints.ts`, by operation name. */
export const handlers: Handlers = {
  getVersion,
  getOpenApi,
  getSettings,
  getSetup,
  setup,
  login,
  logout,
  listUsers,
  createUser,
  getUser,
  updateUser,
  deleteUser,
  listGroups,
  createGroup,
  getGroup,
  deleteGroup,
  updateGroupUsers,
  listGrants,
  getGrant,
  createGrant,
  deleteGrant,
  updateGrants,
  listAccessKeys,
  createAccessKey,
  deleteAccessKey,
  deleteAccessKeys,
  listAudit,
  verifyAudit,
  listDestinations,
  getDestination,
  createDestination,
  updateDestination,
  deleteDestination,
  getAccessFeed,
  createToken,
  getJwks,
  rotateSigningKey,
  listProviders,
  getProvider,
  createProvider,
  updateProvider,
  deleteProvider,
  startProviderLogin,
  createDeviceRequest,
  getDeviceStatus,
  approveDevice,
  createKubeEvents,
  listKubeEvents,
  createKubeRecordingChunk,
  listKubeRecordings,
  getKubeRecording,
};
