import { readFileSync } from 'node:fs';
import { listAll, type ApiClient } from '../../api/client.js';
import { ProviderKind, type ProviderDetails } from '../../api/providers.js';
import { CliError, withClient, type CliIO } from '../context.js';
import { printList, printValue, type OutputFormat } from '../output.js';

/** The environment variable a script can put the client secret in (never a flag: shell history). */
export const CLIENT_SECRET_ENV = 'INFRA_PROVIDER_CLIENT_SECRET';
const KINDS: readonly string[] = ProviderKind.options;

export interface ProviderOpts {
  kind?: string;
  url?: string;
  clientId?: string;
  clientSecret?: boolean;
  clientSecretRef?: string;
  scopes?: string;
  groupsClaim?: string;
  apiUrl?: string;
  domainAdminEmail?: string;
  serviceAccountKeyFile?: string;
  output: OutputFormat;
}

async function providerByName(client: ApiClient, name: string) {
  const [p] = (await client.listProviders({ name })).items;
  if (!p) throw new CliError(`No provider named ${name}; \`infra providers list\` shows them`);
  return p;
}

/**
 * The client secret, from `INFRA_PROVIDER_CLIENT_SECRET` or a hidden prompt; undefined when none
 * is asked for. A reference (`--client-secret-ref env:NAME`) is read by the server instead.
 */
async function clientSecret(io: CliIO, wanted: boolean): Promise<string | undefined> {
  // Only when a secret is wanted: a variable left over from `add` must not replace it on `edit`.
  if (!wanted) return undefined;
  const fromEnv = io.env[CLIENT_SECRET_ENV];
  if (fromEnv) return fromEnv;
  if (!io.interactive)
    throw new CliError(
      `No terminal to ask for the client secret: set ${CLIENT_SECRET_ENV} or pass --client-secret-ref`,
    );
  const { password } = await import('@inquirer/prompts');
  return password({ message: 'Client secret:', mask: true });
}

function fields(opts: ProviderOpts) {
  return {
    ...(opts.scopes !== undefined && {
      scopes: opts.scopes.split(/[\s,]+/).filter((s) => s !== ''),
    }),
    ...(opts.groupsClaim !== undefined && { groupsClaim: opts.groupsClaim }),
    ...(opts.apiUrl !== undefined && { apiURL: opts.apiUrl }),
    ...(opts.domainAdminEmail !== undefined && { domainAdminEmail: opts.domainAdminEmail }),
    ...(opts.serviceAccountKeyFile !== undefined && {
      serviceAccountKey: readKeyFile(opts.serviceAccountKeyFile),
    }),
  };
}

function readKeyFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`Cannot read the service account key ${file}: ${(err as Error).message}`);
  }
}

function printAdded(io: CliIO, p: ProviderDetails, verb: string): void {
  io.stderr.write(
    `${verb} provider ${p.name} (${p.kind}, ${p.url})\n` +
      `Register these redirect URIs with the provider:\n${p.redirectURIs.map((u) => `  ${u}\n`).join('')}`,
  );
}

export const providers = {
  async add(io: CliIO, name: string, opts: ProviderOpts) {
    if (!opts.kind || !KINDS.includes(opts.kind))
      throw new CliError(`Pass --kind: one of ${KINDS.join(', ')}`, 2);
    if (!opts.url)
      throw new CliError('Pass --url: the issuer, such as https://example.okta.com', 2);
    if (!opts.clientId) throw new CliError('Pass --client-id', 2);
    const secret = opts.clientSecretRef ? undefined : await clientSecret(io, true);
    const created = await withClient(io, (c) =>
      c.createProvider({
        name,
        kind: opts.kind as ProviderKind,
        url: opts.url!,
        clientID: opts.clientId!,
        ...(opts.clientSecretRef !== undefined
          ? { clientSecretRef: opts.clientSecretRef }
          : { clientSecret: secret }),
        ...fields(opts),
      }),
    );
    if (opts.output === 'json' || opts.output === 'yaml')
      return printValue(io.stdout, opts.output, created);
    printAdded(io, created, 'Added');
  },

  async list(io: CliIO, opts: ProviderOpts) {
    const items = await withClient(io, (c) => listAll(c.listProviders, {}));
    printList(io.stdout, opts.output, items, {
      headers: ['Name', 'Kind', 'URL', 'Managed by'],
      row: (p) => [p.name, p.kind, p.url, p.managedBy],
      name: (p) => p.name,
      empty:
        'No identity providers; add one with `infra providers add NAME --kind okta|azure|google|oidc --url ISSUER --client-id ID`',
    });
  },

  /** Changes the given settings; the rest, secrets included, stay as they are. */
  async edit(io: CliIO, name: string, opts: ProviderOpts) {
    const secret = opts.clientSecretRef ? undefined : await clientSecret(io, !!opts.clientSecret);
    const updated = await withClient(io, async (c) => {
      const current = await c.getProvider({ id: (await providerByName(c, name)).id });
      return c.updateProvider({
        id: current.id,
        name: current.name,
        kind: current.kind,
        url: opts.url ?? current.url,
        clientID: opts.clientId ?? current.clientID,
        scopes: current.scopes,
        groupsClaim: current.groupsClaim,
        ...(current.apiURL !== null && { apiURL: current.apiURL }),
        ...(current.domainAdminEmail !== null && { domainAdminEmail: current.domainAdminEmail }),
        ...(opts.clientSecretRef !== undefined && { clientSecretRef: opts.clientSecretRef }),
        ...(secret !== undefined && { clientSecret: secret }),
        ...fields(opts),
      });
    });
    if (opts.output === 'json' || opts.output === 'yaml')
      return printValue(io.stdout, opts.output, updated);
    printAdded(io, updated, 'Updated');
  },

  /**
   * Creates a SCIM token for the provider: printed once on stdout (the details on stderr), for
   * the identity provider's provisioning settings.
   */
  async scimKey(io: CliIO, name: string, opts: { expiry?: string; output: OutputFormat }) {
    const key = await withClient(io, async (c) =>
      c.createScimKey({ id: (await providerByName(c, name)).id, expiry: opts.expiry }),
    );
    if (opts.output === 'json' || opts.output === 'yaml')
      return printValue(io.stdout, opts.output, key);
    io.stderr.write(
      `Created SCIM token ${key.name} for provider ${name}, expiring ${key.expires}
` +
        `SCIM base URL: ${key.url}
` +
        `Give both to ${name}'s provisioning settings (docs/scim.md); the token is shown only now, and \`infra keys remove ${key.name} --user scim\` ends it.
`,
    );
    io.stdout.write(`${key.accessKey}
`);
  },

  async remove(io: CliIO, name: string, opts: { force?: boolean }) {
    await withClient(io, async (c) => {
      const [p] = (await c.listProviders({ name })).items;
      if (!p) {
        if (opts.force) return;
        throw new CliError(`No provider named ${name}; nothing removed`);
      }
      await c.deleteProvider({ id: p.id });
    });
    io.stderr.write(`Removed provider ${name}; the sessions that came through it have ended\n`);
  },
};
