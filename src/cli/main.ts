import type { Writable } from 'node:stream';
import { Command, CommanderError, Option } from 'commander';
import { productVersion } from '../shared/version.js';
import { CliError, type CliIO } from './io.js';
import { OUTPUT_FORMATS, type OutputFormat } from './output.js';

export interface RunOptions {
  stdout?: Writable;
  stderr?: Writable;
  env?: NodeJS.ProcessEnv;
  /** Whether a person is at a terminal (prompts allowed); default: stdin and stdout are TTYs. */
  interactive?: boolean;
}

/** Adds an example to a command's --help. */
function example(cmd: Command, text: string): Command {
  return cmd.addHelpText('after', `\nExample:\n  ${text}\n`);
}

/** What commands that create or change something can print: no `name`, it would hide secrets. */
/** `--destination`, the API's word, still accepted (unlisted) where `--cluster` is the option. */
function destinationAlias(): Option {
  return new Option('--destination <name>', 'Older name of --cluster').hideHelp();
}

/** Options with `--cluster` (or its older name) as the API's `destination`. */
function clusterOption<T extends { cluster?: string; destination?: string }>(opts: T): T {
  return { ...opts, destination: opts.cluster ?? opts.destination };
}

const RESULT_FORMATS: readonly OutputFormat[] = ['table', 'json', 'yaml'];

/**
 * Adds kubectl's `-o/--output` (validated: anything else is a usage error naming the choices),
 * and `--format`, its older spelling; `-o` wins when both are given.
 */
function output(cmd: Command, formats: readonly OutputFormat[] = OUTPUT_FORMATS): Command {
  return cmd
    .addOption(
      new Option('-o, --output <format>', 'Output format').choices(formats).default('table'),
    )
    .addOption(new Option('--format <format>', 'Same as --output').choices(formats).hideHelp())
    .hook('preAction', (self) => {
      if (self.getOptionValueSource('output') === 'default' && self.opts().format)
        self.setOptionValue('output', self.opts().format);
    });
}

function buildProgram(io: CliIO): Command {
  const program = new Command('infra')
    .description('Infra: one place to decide who may reach which infrastructure')
    .version(productVersion, '--version', 'Print the version of this client')
    .option('--non-interactive', 'Never prompt; fail with a sentence instead')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .showHelpAfterError('(run with --help for usage)');
  program.hook('preAction', () => {
    if (program.opts().nonInteractive) io.interactive = false;
  });

  example(
    program
      .command('login [server]')
      .description('Log in to an Infra server and write kubeconfig contexts for your clusters')
      .option('--key <key>', 'Log in with an access key (also INFRA_ACCESS_KEY)')
      .option('--user <email>', 'Your email, for password login')
      .option('--provider <name>', 'Log in through an identity provider')
      .option('--device', 'With --provider: approve the login from a browser on another device')
      .option('--skip-tls-verify', 'Do not check the server certificate (unsafe)')
      .option('--tls-trusted-cert <pem-or-path>', 'Trust this CA or certificate for the server')
      .option(
        '--tls-trusted-fingerprint <sha256>',
        "Trust the server's certificate with this SHA-256 fingerprint",
      )
      .action(async (server: string | undefined, opts) =>
        (await import('./commands/login.js')).login(io, server, opts),
      ),
    'infra login infra.example.com:4443',
  );
  example(
    program
      .command('logout [server]')
      .description('End your session and remove the kubeconfig entries Infra wrote')
      .option('--all', 'Log out of every server')
      .option('--clear', 'Also forget the server')
      .action(async (server: string | undefined, opts) =>
        (await import('./commands/session.js')).logout(io, server, opts),
      ),
    'infra logout --all',
  );
  example(
    output(
      program
        .command('list')
        .alias('ls')
        .description('List the clusters and namespaces you can reach, with your roles'),
    ).action(async (opts) => (await import('./commands/session.js')).list(io, opts)),
    'infra list',
  );
  example(
    program
      .command('use <cluster>')
      .description('Switch kubectl to a cluster, or to a namespace with cluster.namespace')
      .action(async (target: string) => (await import('./commands/session.js')).use(io, target)),
    'infra use prod.web',
  );
  output(program.command('about').description('Show who you are logged in as, and where')).action(
    async (opts) => (await import('./commands/session.js')).about(io, opts),
  );
  program
    .command('version')
    .description('Show the client and server versions')
    .action(async () => (await import('./commands/session.js')).version(io));
  program
    .command('tokens <destination>')
    .description('Print a credential for kubectl (used by the kubeconfig Infra writes)')
    .option('--server <url>', 'The Infra server')
    .action(async (destination: string, opts: { server?: string }) => {
      const code = await (
        await import('./tokens-entry.js')
      ).runTokens([...(opts.server ? ['--server', opts.server] : []), destination], io.env);
      if (code !== 0) throw new CliError('', code);
    });

  program
    .command('ssh <host> [command...]')
    .description(
      'Log in to an SSH host with a short-lived certificate (`infra ssh HOST -- COMMAND` runs a command)',
    )
    .option('--refresh-only', 'Only renew the certificate if needed (for ~/.ssh/config)')
    .action(async (host: string, command: string[], opts: { refreshOnly?: boolean }) =>
      (await import('./commands/ssh.js')).ssh(io, host, command, opts),
    );
  program
    .command('ssh-config')
    .description('Print a ~/.ssh/config snippet so plain `ssh HOST` works for your SSH hosts')
    .action(async () => (await import('./commands/ssh.js')).sshConfig(io));

  const admin = () => import('./commands/admin.js');

  const users = program.command('users').description('Manage users (admins)');
  output(
    example(
      users.command('add <email>').description('Add a user with a one-time password'),
      'infra users add alice@example.com',
    ),
    RESULT_FORMATS,
  ).action(async (email: string, opts) => (await admin()).users.add(io, email, opts));
  output(users.command('list').alias('ls').description('List users')).action(async (opts) =>
    (await admin()).users.list(io, opts),
  );
  example(
    users.command('edit <email>').description("Change your password, or reset someone's (admins)"),
    'infra users edit alice@example.com --password',
  )
    .option('--password', 'Set a new password')
    .action(async (email: string, opts) => (await admin()).users.edit(io, email, opts));
  users
    .command('remove <email>')
    .alias('rm')
    .description('Remove a user, with their keys and grants')
    .option('--force', 'Succeed even if the user does not exist')
    .action(async (email: string, opts) => (await admin()).users.remove(io, email, opts));

  const groups = program.command('groups').description('Manage groups (admins)');
  example(
    groups.command('add <name>').description('Add a group'),
    'infra groups add oncall',
  ).action(async (name: string) => (await admin()).groups.add(io, name));
  output(groups.command('list').alias('ls').description('List groups')).action(async (opts) =>
    (await admin()).groups.list(io, opts),
  );
  groups
    .command('remove <name>')
    .alias('rm')
    .description('Remove a group, with its grants')
    .option('--force', 'Succeed even if the group does not exist')
    .action(async (name: string, opts) => (await admin()).groups.remove(io, name, opts));
  example(
    groups.command('adduser <email> <group>').description('Add a user to a group'),
    'infra groups adduser alice@example.com oncall',
  ).action(async (email: string, group: string) =>
    (await admin()).groups.adduser(io, email, group),
  );
  groups
    .command('removeuser <email> <group>')
    .alias('rmuser')
    .description('Remove a user from a group')
    .action(async (email: string, group: string) =>
      (await admin()).groups.removeuser(io, email, group),
    );

  const grants = program.command('grants').description('Manage who may reach what (admins)');
  example(
    grants
      .command('add <subject> <resource>')
      .description('Grant a role on a cluster (prod), a namespace (prod.web) or infra'),
    'infra grants add alice@example.com prod.web --role edit',
  )
    .option('-g, --group', 'The subject is a group')
    .option('--role <role>', 'The role', 'connect')
    .option('--force', 'Skip checking that the cluster, namespace and role exist')
    .action(async (subject: string, resource: string, opts) =>
      (await admin()).grants.add(io, subject, resource, opts),
    );
  output(grants.command('list').alias('ls').description('List grants'))
    .option('--cluster <name>', 'Grants on this cluster and its namespaces')
    .addOption(destinationAlias())
    .option('--user <email>', "A user's grants")
    .option('--group <name>', "A group's grants")
    .option('--role <role>', 'Only this role')
    .option('--inherited', "With --user: also the grants of the user's groups")
    .action(async (opts) => (await admin()).grants.list(io, clusterOption(opts)));
  grants
    .command('remove <subject> <resource>')
    .alias('rm')
    .description('Revoke grants')
    .option('-g, --group', 'The subject is a group')
    .option('--role <role>', 'Only this role')
    .option('--force', 'Succeed even if there is nothing to revoke')
    .action(async (subject: string, resource: string, opts) =>
      (await admin()).grants.remove(io, subject, resource, opts),
    );

  const keys = program.command('keys').description('Manage access keys');
  const keyAdd = example(
    keys.command('add').description('Create an access key (yours, a user’s, or the connector’s)'),
    'infra keys add --connector --cluster prod',
  )
    .option('--user <email>', 'For this user (admins)')
    .option('--connector', 'For the connector system user (admins)')
    .option(
      '--cluster <name>',
      'With --connector: the one cluster the key may register (else its first registration)',
    )
    .addOption(destinationAlias())
    .option('--name <name>', 'Key name')
    .option('--expiry <duration>', 'Lifetime, such as 720h')
    .option('--inactivity-timeout <duration>', 'End the key after this long unused');
  output(keyAdd, RESULT_FORMATS).action(async (opts) =>
    (await admin()).keys.add(io, clusterOption(opts)),
  );
  output(keys.command('list').alias('ls').description('List access keys'))
    .option('--user <email>', "A user's keys")
    .option('--all', "Everyone's keys (admins)")
    .option('--show-expired', 'Include expired keys')
    .action(async (opts) => (await admin()).keys.list(io, opts));
  keys
    .command('remove <name>')
    .alias('rm')
    .description('Delete access keys by name')
    .option('--user <email>', "A user's key (admins)")
    .action(async (name: string, opts) => (await admin()).keys.remove(io, name, opts));

  // People say clusters (the dashboard does too); the API's word, destinations, stays an alias.
  const clusters = program
    .command('clusters')
    .alias('destinations')
    .description('Connected clusters and SSH hosts (also: infra destinations)');
  output(clusters.command('list').alias('ls').description('List clusters and hosts')).action(
    async (opts) => (await admin()).destinations.list(io, opts),
  );
  clusters
    .command('remove <name>')
    .alias('rm')
    .description('Remove a cluster or host (admins)')
    .option('--force', 'Succeed even if it does not exist')
    .action(async (name: string, opts) => (await admin()).destinations.remove(io, name, opts));

  const kubeAudit = () => import('./commands/kube-audit.js');
  const audit = program.command('audit').description('What people did (admins and auditors)');
  example(
    output(
      audit
        .command('kube')
        .description(
          'Requests to clusters through Infra, newest first (yours, unless admin or auditor)',
        )
        .option('--user <email>', 'Requests of this user')
        .option('--cluster <name>', 'Requests to this cluster')
        .option('--namespace <name>', 'In this namespace')
        .option('--verb <verb>', 'get, list, watch, create, update, patch, delete, ...')
        .option('--resource <resource>', 'pods, secrets, deployments, ...')
        .option('--status <code>', 'HTTP status, such as 403')
        .option('--since <time>', 'From this time (RFC 3339), or this long ago (2h, 3d)')
        .option('--until <time>', 'Until this time, or this long ago')
        .option('--limit <n>', 'At most this many', '100'),
    ).action(async (opts) => (await kubeAudit()).kubeEvents(io, opts)),
    'infra audit kube --user alice@example.com --cluster prod --since 1d',
  );
  const recordings = program
    .command('recordings')
    .description('Recorded kubectl exec and attach sessions');
  output(
    recordings
      .command('list')
      .alias('ls')
      .description('List recorded sessions, newest first')
      .option('--user <email>', 'Sessions of this user')
      .option('--cluster <name>', 'Sessions on this cluster')
      .option('--namespace <name>', 'In this namespace')
      .option('--limit <n>', 'At most this many', '100'),
  ).action(async (opts) => (await kubeAudit()).listRecordings(io, opts));
  example(
    recordings
      .command('play <id>')
      .description('Play a session in this terminal, as it happened')
      .option('--speed <n>', 'Play this many times faster', '1')
      .addOption(new Option('-o, --output <format>', 'Print it instead').choices(['json', 'yaml']))
      .action(async (id: string, opts) => (await kubeAudit()).playRecording(io, id, opts)),
    'infra recordings play 1b4e28ba-2fa1-41d2-883f-0016d3cca427 --speed 4',
  );

  const providers = program
    .command('providers')
    .description('Manage identity providers: Okta, Azure AD, Google, any OIDC (admins)');
  const providerCommands = () => import('./commands/providers.js');
  const providerSettings = (cmd: Command) =>
    output(cmd, RESULT_FORMATS)
      .option('--url <url>', 'The issuer, such as https://example.okta.com')
      .option('--client-id <id>', 'The client (application) id')
      .option(
        '--client-secret-ref <ref>',
        'Have the server read the secret at each login, such as env:OKTA_CLIENT_SECRET',
      )
      .option('--scopes <list>', 'Scopes, comma separated')
      .option('--groups-claim <claim>', 'The claim that lists group names (default groups)')
      .option('--api-url <url>', 'Azure: Microsoft Graph; Google: the Directory API')
      .option('--domain-admin-email <email>', 'Google: the Workspace admin to read groups as')
      .option('--service-account-key-file <path>', 'Google: the service account key JSON');
  example(
    providerSettings(
      providers
        .command('add <name>')
        .description(
          'Add a provider; the client secret is asked for, or read from INFRA_PROVIDER_CLIENT_SECRET',
        )
        .option('--kind <kind>', 'okta, azure, google or oidc'),
    ),
    'infra providers add okta --kind okta --url https://example.okta.com --client-id 0oa1b2c3',
  ).action(async (name: string, opts) => (await providerCommands()).providers.add(io, name, opts));
  output(providers.command('list').alias('ls').description('List identity providers')).action(
    async (opts) => (await providerCommands()).providers.list(io, opts),
  );
  providerSettings(
    providers
      .command('edit <name>')
      .description('Change a provider’s settings; what you do not pass stays')
      .option('--client-secret', 'Set a new client secret (asked for)'),
  ).action(async (name: string, opts) => (await providerCommands()).providers.edit(io, name, opts));
  example(
    output(
      providers
        .command('scim-key <name>')
        .description(
          'Create a SCIM token for the provider to provision users and groups (shown once)',
        )
        .option('--expiry <duration>', 'Lifetime (default 8760h, one year)'),
      RESULT_FORMATS,
    ),
    'infra providers scim-key okta',
  ).action(async (name: string, opts) =>
    (await providerCommands()).providers.scimKey(io, name, opts),
  );
  providers
    .command('remove <name>')
    .alias('rm')
    .description('Remove a provider: its sessions end and the groups it synced are dropped')
    .option('--force', 'Succeed even if it does not exist')
    .action(async (name: string, opts) =>
      (await providerCommands()).providers.remove(io, name, opts),
    );

  const requestCommands = () => import('./commands/requests.js');
  example(
    output(
      program
        .command('explain <user> <destination>')
        .description(
          'Why a user has (or lacks) access to a cluster or namespace, and what would give it',
        )
        .option('--verb <verb>', 'A Kubernetes verb to check, such as create')
        .option('--resource <resource>', 'The resource for --verb, such as pods/exec'),
    ).action(async (user: string, destination: string, opts) =>
      (await requestCommands()).explainAccess(io, user, destination, opts),
    ),
    'infra explain alice@example.com prod.web --verb create --resource pods/exec',
  );
  const collect = (value: string, previous: string[] = []) => [...previous, value];
  const request = program
    .command('request')
    .description('Ask for temporary access, and review what others ask for');
  example(
    request
      .command('create <destination>')
      .description('Ask for a role on a cluster or namespace for a while')
      .option('--role <role>', 'The role, such as edit')
      .option('--for <duration>', 'How long, such as 1h (default 1h)')
      .option('--reason <text>', 'Why (an incident, a ticket)')
      .option('--policy <name>', 'The request policy to ask under'),
    'infra request create prod.web --role edit --for 1h --reason "INC-123"',
  ).action(async (destination: string, opts) =>
    (await requestCommands()).requests.create(io, destination, opts),
  );
  output(request.command('list').alias('ls').description('List your requests'))
    .option('--review', 'The requests waiting for your review')
    .option('--all', "Everyone's requests (admins)")
    .option('--state <state>', 'pending, approved, denied, expired or cancelled')
    .action(async (opts) => (await requestCommands()).requests.list(io, opts));
  example(
    request
      .command('review <id>')
      .description('Approve or deny a request (never your own)')
      .option('--approve', 'Approve it')
      .option('--deny', 'Deny it')
      .option('--comment <text>', 'A note for the requester'),
    'infra request review req_0123 --approve --comment "go ahead"',
  ).action(async (id: string, opts) => (await requestCommands()).requests.review(io, id, opts));
  request
    .command('cancel <id>')
    .description('Withdraw a pending request, or end the access it gave')
    .action(async (id: string) => (await requestCommands()).requests.cancel(io, id));

  const policies = program
    .command('policies')
    .description('Manage what may be requested, by whom, approved by whom (admins)');
  /** A policy's rules as options; `defaults` says what an option left out means. */
  const policyRules = (cmd: Command, defaults: (text: string) => string) =>
    cmd
      .option('--role <pattern>', 'A role that may be requested (repeat)', collect)
      .option('--resource <pattern>', 'Where, such as prod.* (repeat)', collect)
      .option('--requester <email>', 'A user who may ask (repeat)', collect)
      .option('--requester-group <name>', 'A group whose members may ask (repeat)', collect)
      .option('--approver <email>', 'A user who may approve (repeat)', collect)
      .option('--approver-group <name>', 'A group whose members may approve (repeat)', collect)
      .option('--approvals <n>', defaults('Approvals needed (default 1)'))
      .option('--max-duration <duration>', defaults('Longest access asked for (default 1h)'))
      .option(
        '--pending-expiry <duration>',
        defaults('Undecided requests expire after (default 1h)'),
      )
      .option('--reason-required', 'Requests must give a reason');
  example(
    policyRules(policies.command('add <name>').description('Add a request policy'), (text) => text),
    "infra policies add prod-oncall --role edit --resource 'prod.*' --requester-group oncall --approver-group sre",
  ).action(async (name: string, opts) => (await requestCommands()).policies.add(io, name, opts));
  example(
    policyRules(
      policies
        .command('edit <name>')
        .alias('update')
        .description(
          'Change a request policy; what you do not pass stays (a repeated option replaces its list)',
        ),
      (text) => text.replace(/ \(default .*\)$/, ''),
    ).option('--no-reason-required', 'Requests need not give a reason'),
    'infra policies edit prod-oncall --approver-group sre --approver-group security --approvals 2',
  ).action(async (name: string, opts) => (await requestCommands()).policies.edit(io, name, opts));
  output(policies.command('list').alias('ls').description('List request policies')).action(
    async (opts) => (await requestCommands()).policies.list(io, opts),
  );
  policies
    .command('remove <name>')
    .alias('rm')
    .description('Remove a request policy')
    .action(async (name: string) => (await requestCommands()).policies.remove(io, name));

  example(
    program
      .command('completion <shell>')
      .description('Print a completion script for bash, zsh or fish')
      .action(async (shell: string) =>
        (await import('./commands/completion.js')).completion(io, shell),
      ),
    'source <(infra completion bash)   # zsh: the same; fish: infra completion fish | source',
  );
  program.command('server').description('Run the Infra server (see infra server --help)');
  program
    .command('connector')
    .description('Run the Kubernetes connector (see infra connector --help)');
  return program;
}

/**
 * Help requests, made plain for commander: `infra help users list` becomes `infra users list
 * --help` (commander would show the help of `users`), and help for a command that does not exist
 * (`infra help lgoin`, `infra logn --help`) is dropped, so that commander says "unknown command
 * 'lgoin'" with its "did you mean" and exits 2 rather than printing the top-level help.
 */
function normalizeHelp(program: Command, argv: string[]): string[] {
  const helpWords = new Set<number>();
  const withoutHelp = () =>
    argv.filter((a, i) => a !== '--help' && a !== '-h' && !helpWords.has(i));
  let cmd = program;
  for (const [i, word] of argv.entries()) {
    if (word.startsWith('-')) continue;
    if (cmd.commands.length === 0) break;
    if (word === 'help') {
      helpWords.add(i);
      continue;
    }
    const sub = cmd.commands.find((c) => c.name() === word || c.aliases().includes(word));
    if (!sub) return withoutHelp();
    cmd = sub;
  }
  return helpWords.size > 0 ? [...withoutHelp(), '--help'] : argv;
}

/**
 * The user-facing CLI. Returns the exit code: 0 success, 1 an error (one sentence with the fix
 * on stderr), 2 a usage error.
 */
export async function runCli(argv: string[], options: RunOptions = {}): Promise<number> {
  const io: CliIO = {
    stdout: options.stdout ?? process.stdout,
    stderr: options.stderr ?? process.stderr,
    env: options.env ?? process.env,
    interactive: options.interactive ?? Boolean(process.stdin.isTTY && process.stdout.isTTY),
  };
  const program = buildProgram(io);
  // What the completion scripts run on TAB: words, not options, so it bypasses the parser.
  if (argv[0] === '__complete') {
    const { candidates } = await import('./commands/completion.js');
    for (const word of candidates(program, argv.slice(1), io.env)) io.stdout.write(`${word}\n`);
    return 0;
  }
  try {
    await program.parseAsync(normalizeHelp(program, argv), { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (
        err.code === 'commander.helpDisplayed' ||
        err.code === 'commander.version' ||
        err.code === 'commander.help'
      )
        return 0;
      return 2;
    }
    // A command failed: it loaded the API client already (explain's), so this costs nothing.
    const e = err instanceof CliError ? err : (await import('./context.js')).explain(err);
    if (e.message) io.stderr.write(`infra: ${e.message}\n`);
    return e.exitCode;
  }
}
