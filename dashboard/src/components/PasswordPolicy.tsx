import { Icon } from './Icon';

export interface PasswordRules {
  minLength: number;
  maxLength: number;
}

/** The checks the server applies to a new password, each marked as the user types. */
export function passwordChecks(
  rules: PasswordRules | undefined,
  password: string,
  userName: string,
  confirm?: string,
): Array<{ label: string; ok: boolean }> {
  const length = [...password].length;
  const checks = [
    {
      label: rules ? `At least ${rules.minLength} characters` : 'Long enough',
      ok: rules ? length >= rules.minLength : length > 0,
    },
    {
      label: 'Not your email address',
      ok: password.length > 0 && password.toLowerCase() !== userName.trim().toLowerCase(),
    },
  ];
  if (rules && length > rules.maxLength) {
    checks.push({ label: `At most ${rules.maxLength} characters`, ok: false });
  }
  if (confirm !== undefined) {
    checks.push({ label: 'Both passwords match', ok: password.length > 0 && password === confirm });
  }
  return checks;
}

export function PasswordPolicy({
  checks,
  id,
}: {
  checks: Array<{ label: string; ok: boolean }>;
  id?: string;
}) {
  return (
    <ul className="policy" id={id} aria-label="Password requirements">
      {checks.map((c) => (
        <li key={c.label} className={c.ok ? 'policy-ok' : ''}>
          <Icon name={c.ok ? 'check' : 'x'} size={14} />
          <span>{c.label}</span>
          <span className="sr-only">{c.ok ? '(met)' : '(not met yet)'}</span>
        </li>
      ))}
    </ul>
  );
}
