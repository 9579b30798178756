import { parseSecretReference } from '../../shared/secrets.js';

/**
 * Storage kinds that read the server's own environment and files. A reference to them is the
 * operator's to write (in the config file): through the API it would let an admin of the API send
 * the server's own secrets (its TLS key, the database password) to a provider they control.
 */
export const CONFIG_FILE_ONLY_KINDS: readonly string[] = ['env', 'file', 'plaintext'];

function patternRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`, 's');
}

/**
 * Why a secret reference given through the API is refused, or undefined when the operator's
 * `apiSecretReferences` patterns (`vault:infra/providers/*`) allow it. Names with `.` or `..`
 * path segments are refused whatever the pattern, since a storage's URL could resolve them
 * outside the allowed prefix.
 */
export function apiReferenceProblem(
  reference: string,
  allowed: readonly string[],
): string | undefined {
  const rule =
    allowed.length === 0
      ? 'this server allows no secret references through the API (an operator can allow some with apiSecretReferences); give the secret itself, or declare the provider in the config file'
      : `references given through the API must match one of ${allowed.join(', ')} (apiSecretReferences); env:, file: and plaintext: references belong in the config file`;
  const parsed = parseSecretReference(reference);
  if (!parsed) return rule;
  const segments = parsed.name.split(/[/\\]/);
  if (segments.some((s) => s === '.' || s === '..')) return `must not contain . or .. segments`;
  return allowed.some((p) => patternRegExp(p).test(reference)) ? undefined : rule;
}
