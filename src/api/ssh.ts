import { z } from 'zod';
import { Time } from './common.js';
import { endpoint } from './endpoint.js';
import { DestinationName } from './grants.js';
import { routes } from './routes.js';

const SshRole = z
  .enum(['connect', 'admin'])
  .describe('connect: log in; admin: log in with sudo and forwarding');

export const SshCertificate = z
  .object({
    certificate: z.string().describe('The user certificate, as a line for a -cert.pub file'),
    serial: z.string().describe('Its serial (decimal); ending the session revokes it'),
    login: z.string().describe('The account to log in as'),
    principal: z.string(),
    role: SshRole,
    expires: Time,
    host: z.object({
      name: z.string().describe('The destination name: the host certificate names it'),
      address: z.string().describe('host:port of sshd'),
      authorities: z
        .array(z.string())
        .describe('Host CA public keys to trust for this host (@cert-authority in known_hosts)'),
    }),
  })
  .meta({ id: 'SshCertificate' });
export type SshCertificate = z.infer<typeof SshCertificate>;

export const createSshCertificate = endpoint({
  ...routes.createSshCertificate,
  summary:
    'Get a short-lived SSH user certificate for a host you hold connect or admin on (at most 1 h, never past the grant or the session)',
  tag: 'SSH',
  auth: 'session',
  input: z
    .object({
      destination: DestinationName,
      publicKey: z.string().max(16_384).describe('Your public key, as an OpenSSH line'),
    })
    .strict(),
  output: SshCertificate,
});

export const SshHostState = z
  .object({
    users: z.array(
      z.object({
        id: z.string(),
        name: z.string(),
        login: z.string(),
        principal: z.string(),
        role: SshRole,
      }),
    ),
    userAuthorities: z.array(z.string()).describe('User CA public keys to trust (newest first)'),
    revokedSerials: z
      .array(z.string())
      .describe('Serials of unexpired certificates of ended sessions or removed users'),
    hostAuthority: z
      .string()
      .describe('The host CA that signs now: a host certificate from another is to be renewed'),
  })
  .meta({ id: 'SshHostState' });

export const syncSshHost = endpoint({
  ...routes.syncSshHost,
  summary:
    'What an SSH host applies: who may log in and as whom, the user CAs, the revoked serials (host agents call this)',
  tag: 'SSH',
  auth: { roles: ['admin', 'connector'] },
  input: z.object({ destination: DestinationName }).strict(),
  output: SshHostState,
});

export const createSshHostCertificate = endpoint({
  ...routes.createSshHostCertificate,
  summary: 'A host certificate for the host key the destination registered (host agents call this)',
  tag: 'SSH',
  auth: { roles: ['admin', 'connector'] },
  input: z.object({ destination: DestinationName }).strict(),
  output: z.object({ certificate: z.string(), expires: Time }),
});

export const rotateSshAuthority = endpoint({
  ...routes.rotateSshAuthority,
  summary:
    'Start signing with a new user or host CA (the old one stays trusted while what it signed may be in use)',
  tag: 'SSH',
  auth: { roles: ['admin'] },
  input: z.object({ purpose: z.enum(['user', 'host']) }).strict(),
  output: z.object({ id: z.string(), trusted: z.array(z.string()) }),
});
