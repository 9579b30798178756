import { Command } from 'commander';
import { productVersion } from '../shared/version.js';

/** The user-facing CLI. Returns the process exit code. */
export async function runCli(argv: string[]): Promise<number> {
  const program = new Command('infra')
    .description('Infra: one place to decide who may reach which infrastructure')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  program.command('server').description('Run the Infra server (see infra server --help)');
  program
    .command('connector')
    .description('Run the Kubernetes connector (see infra connector --help)');
  program
    .command('version')
    .description('Print the version of this client')
    .action(() => {
      process.stdout.write(`Client: ${productVersion}\n`);
    });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    return (err as { exitCode?: number }).exitCode ?? 1;
  }
}
