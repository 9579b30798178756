/**
 * The `infra` binary. `infra server` and `infra connector` run the long-lived processes; every
 * other command is the CLI. Each is imported only when asked for, so short commands such as the
 * kubectl credential plugin do not pay for loading the server.
 */
const [command, ...rest] = process.argv.slice(2);

if (command === 'server') {
  const { runServerCommand } = await import('./server/command.js');
  process.exitCode = await runServerCommand(rest);
} else if (command === 'tokens') {
  const { runTokens } = await import('./cli/tokens-entry.js');
  process.exitCode = await runTokens(rest, process.env);
} else if (command === 'connector') {
  const { runConnectorCommand } = await import('./connector/command.js');
  process.exitCode = await runConnectorCommand(rest);
} else {
  const { runCli } = await import('./cli/main.js');
  process.exitCode = await runCli(process.argv.slice(2));
}
