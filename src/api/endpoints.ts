import {
  createAccessKey,
  deleteAccessKey,
  deleteAccessKeys,
  listAccessKeys,
} from './access-keys.js';
import {
  cancelAccessRequest,
  createAccessRequest,
  createRequestPolicy,
  deleteRequestPolicy,
  getAccessRequest,
  listAccessRequests,
  listRequestPolicies,
  reviewAccessRequest,
  updateRequestPolicy,
} from './access-requests.js';
import { exportAudit, listAudit, verifyAudit } from './audit.js';
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
import { explainAccess } from './explain.js';
import { createGrant, deleteGrant, getGrant, listGrants, updateGrants } from './grants.js';
import { createGroup, deleteGroup, getGroup, listGroups, updateGroupUsers } from './groups.js';
import { getSettings, getSetup, login, logout, setup } from './login.js';
import {
  approveDevice,
  createDeviceRequest,
  createProvider,
  deleteProvider,
  getDeviceStatus,
  getProvider,
  listProviders,
  createScimKey,
  startProviderLogin,
  updateProvider,
} from './providers.js';
import {
  createSshCertificate,
  createSshHostCertificate,
  rotateSshAuthority,
  syncSshHost,
} from './ssh.js';
import {
  createKubeEvents,
  createKubeRecordingChunk,
  getKubeRecording,
  listKubeEvents,
  listKubeRecordings,
} from './kube-audit.js';
import { getOpenApi, getVersion } from './system.js';
import { createUser, deleteUser, getUser, listUsers, updateUser } from './users.js';

/** Every API operation by name. The name is the operation's name in every layer. */
export const endpoints = {
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
  exportAudit,
  listDestinations,
  getDestination,
  createDestination,
  updateDestination,
  deleteDestination,
  getAccessFeed,
  createToken,
  getJwks,
  rotateSigningKey,
  createSshCertificate,
  createSshHostCertificate,
  syncSshHost,
  rotateSshAuthority,
  listProviders,
  getProvider,
  createProvider,
  updateProvider,
  deleteProvider,
  startProviderLogin,
  createDeviceRequest,
  getDeviceStatus,
  approveDevice,
  createScimKey,
  explainAccess,
  listRequestPolicies,
  createRequestPolicy,
  updateRequestPolicy,
  deleteRequestPolicy,
  listAccessRequests,
  getAccessRequest,
  createAccessRequest,
  reviewAccessRequest,
  cancelAccessRequest,
  createKubeEvents,
  listKubeEvents,
  createKubeRecordingChunk,
  listKubeRecordings,
  getKubeRecording,
};

export type Endpoints = typeof endpoints;
export type OperationName = keyof Endpoints;
