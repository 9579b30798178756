import { z } from 'zod';
import { Email, Time } from './common.js';
import { endpoint } from './endpoint.js';
import { routes } from './routes.js';

const Password = z
  .string()
  .min(1, 'must not be empty')
  .max(1024, 'must be at most 1024 characters');

export const LoginResponse = z
  .object({
    userID: z.string(),
    name: z.string(),
    accessKey: z.string().describe('The session key for API clients; browsers get it as a cookie'),
    expires: Time,
    passwordUpdateRequired: z
      .boolean()
      .describe('The password was one-time: change it (PUT /api/users/self) before anything else'),
  })
  .meta({ id: 'LoginResponse' });
export type LoginResponse = z.infer<typeof LoginResponse>;

export const login = endpoint({
  ...routes.login,
  summary: 'Start a session with a password, an access key or a provider login',
  tag: 'Sessions',
  auth: 'public',
  input: z
    .object({
      passwordCredentials: z.object({ name: Email, password: Password }).strict().optional(),
      accessKey: z
        .string()
        .min(1, 'must not be empty')
        .max(100)
        .optional()
        .describe('Exchange an access key for a session'),
      oidc: z
        .object({
          state: z.string().min(1, 'must not be empty').max(200),
          code: z.string().min(1, 'must not be empty').max(4096),
        })
        .strict()
        .optional()
        .describe('Finish a provider login: the state and code the provider redirected with'),
    })
    .strict()
    .refine(
      (v) =>
        [v.passwordCredentials, v.accessKey, v.oidc].filter((x) => x !== undefined).length === 1,
      {
        path: ['passwordCredentials'],
        message: 'give exactly one of passwordCredentials, accessKey or oidc',
      },
    ),
  output: LoginResponse,
});

export const logout = endpoint({
  ...routes.logout,
  summary: 'End the calling session',
  tag: 'Sessions',
  auth: 'session',
  duringPasswordChange: true,
  input: z.object({}).strict(),
  output: undefined,
});

export const getSetup = endpoint({
  ...routes.getSetup,
  summary: 'Whether the first admin still has to be created',
  tag: 'Sessions',
  auth: 'public',
  input: z.object({}).strict(),
  output: z.object({ required: z.boolean() }),
});

export const setup = endpoint({
  ...routes.setup,
  summary: 'Create the first admin with the setup token from the server log',
  tag: 'Sessions',
  auth: 'public',
  input: z
    .object({
      token: z.string().min(1, 'must not be empty').max(100),
      name: Email,
      password: Password,
    })
    .strict(),
  output: LoginResponse,
});

export const getSettings = endpoint({
  ...routes.getSettings,
  summary: 'Server settings clients need: the password policy, the TLS certificate to pin',
  tag: 'Sessions',
  auth: 'public',
  input: z.object({}).strict(),
  output: z
    .object({
      passwordRequirements: z.object({ minLength: z.number().int(), maxLength: z.number().int() }),
      tls: z
        .object({
          fingerprint: z
            .string()
            .describe('SHA-256 fingerprint of the certificate served now (AB:CD:…), to pin'),
          source: z
            .enum(['generated', 'configured', 'acme'])
            .describe('generated: self-signed by the server, so clients must pin it'),
        })
        .describe("This server's TLS certificate (public: every TLS handshake shows it)"),
    })
    .meta({ id: 'Settings' }),
});
