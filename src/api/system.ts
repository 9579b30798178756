import { z } from 'zod';
import { endpoint } from './endpoint.js';
import { routes } from './routes.js';

export const Version = z
  .object({
    version: z.string().describe('Server version'),
    apiVersion: z.string().describe('Newest API version the server speaks (Infra-Version header)'),
  })
  .meta({ id: 'Version' });
export type Version = z.infer<typeof Version>;

export const getVersion = endpoint({
  ...routes.getVersion,
  summary: 'Get the server and API versions',
  tag: 'System',
  auth: 'public',
  input: z.object({}).strict(),
  output: Version,
});

export const getOpenApi = endpoint({
  ...routes.getOpenApi,
  summary: 'Get this OpenAPI document',
  tag: 'System',
  auth: 'public',
  input: z.object({}).strict(),
  output: z.record(z.string(), z.unknown()),
});
