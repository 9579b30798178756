import { ValidationError } from '../../shared/errors.js';
import type { AccessSettings } from './context.js';

export const PASSWORD_MAX_LENGTH = 1024;

/** Checks a new password against the policy; problems are field errors on `field`. */
export function checkPasswordPolicy(
  settings: AccessSettings,
  password: string,
  userName: string,
  field = 'password',
): void {
  const problems: string[] = [];
  if ([...password].length < settings.passwordMinLength) {
    problems.push(`must be at least ${settings.passwordMinLength} characters`);
  }
  if (password.length > PASSWORD_MAX_LENGTH)
    problems.push(`must be at most ${PASSWORD_MAX_LENGTH} characters`);
  if (password.toLowerCase() === userName.toLowerCase())
    problems.push('must not be your user name');
  if (problems.length > 0) throw new ValidationError([{ field, errors: problems }]);
}
