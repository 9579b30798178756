import { getOpenApi, getVersion } from './system.js';

/** Every API operation by name. The name is the operation's name in every layer. */
export const endpoints = {
  getVersion,
  getOpenApi,
};

export type Endpoints = typeof endpoints;
export type OperationName = keyof Endpoints;
