import { loginCommand, serverUrl, useServerSettings } from '../lib/server';
import { CodeBlock, SecretValue } from './Copy';
import { Notice } from './Feedback';

/** A one-time password good enough for any policy: random, unambiguous characters. */
export function oneTimePassword(minLength: number): string {
  const alphabet = 'abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  const bytes = crypto.getRandomValues(new Uint32Array(Math.max(16, minLength)));
  // 2^32 is not a multiple of 56; the bias (under 1e-8) does not matter for a one-time password.
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
}

/**
 * What to send someone who was just added or whose password was reset: where to sign in, the
 * one-time password (shown once), and the command line, in one message to copy.
 */
export function SendToPerson({ name, password }: { name: string; password: string }) {
  const settings = useServerSettings();
  const login = `${loginCommand(settings.data)} --user ${name}`;
  const message = [
    `Your Infra account is ${name}.`,
    `Sign in at ${serverUrl()} with this one-time password: ${password}`,
    'You choose your own password the first time you sign in.',
    'From a terminal, with the infra CLI installed:',
    `  ${login}`,
  ].join('\n');
  return (
    <>
      <p>
        Send <strong>{name}</strong> the server’s address, this one-time password and the login
        command. They choose their own password the first time they sign in.
      </p>
      <SecretValue label="One-time password" value={password} />
      <CodeBlock label="Message to send" code={message} />
      <Notice kind="warning">
        The password is shown only now: Infra keeps only a hash. If it is lost, reset it from the
        user’s page.
      </Notice>
    </>
  );
}
