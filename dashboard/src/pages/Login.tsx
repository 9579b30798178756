import { useState } from 'react';
import { ApiError, call, errorMessage, fieldError, formError } from '../api';
import { AuthCard } from '../components/AuthCard';
import { Button } from '../components/Button';
import { FormError, Notice } from '../components/Feedback';
import { Field } from '../components/Field';
import { PasswordPolicy, passwordChecks } from '../components/PasswordPolicy';
import { useQuery, useSubmit, useTitle } from '../lib/hooks';
import { navigate, safeNext, useLocation } from '../lib/router';

function loginErrorMessage(error: unknown): string | undefined {
  if (error instanceof ApiError && error.status === 401) {
    return 'That email and password do not match. Check both and try again.';
  }
  return formError(error, ['passwordCredentials.name', 'passwordCredentials.password']);
}

/** Email and password sign-in, then the one-time password change when the server asks. */
export function LoginPage() {
  const { search } = useLocation();
  const next = safeNext(search.get('next'));
  // Arrived here because a signed-in session still has to change its one-time password.
  const mustChange = search.get('change') === '1';
  const [changing, setChanging] = useState<{ name: string; oldPassword: string } | undefined>();
  useTitle(changing || mustChange ? 'Choose a password' : 'Sign in');

  const meta = useQuery(async () => {
    const [setup, settings, providers] = await Promise.all([
      call('getSetup'),
      call('getSettings'),
      // Public: the buttons show for anyone. A server without providers still signs in.
      call('listProviders', { limit: 1000 }).catch(() => ({ items: [] })),
    ]);
    return {
      setupRequired: setup.required,
      rules: settings.passwordRequirements,
      providers: providers.items,
    };
  }, []);

  if (changing || mustChange) {
    return (
      <ChangePassword
        known={changing}
        rules={meta.data?.rules}
        onDone={() => navigate(next, { replace: true })}
      />
    );
  }
  return (
    <SignIn
      setupRequired={meta.data?.setupRequired === true}
      providers={meta.data?.providers ?? []}
      next={next}
      onSignedIn={(res, oldPassword) => {
        if (res.passwordUpdateRequired) setChanging({ name: res.name, oldPassword });
        else navigate(next, { replace: true });
      }}
    />
  );
}

function SignIn({
  setupRequired,
  providers,
  next,
  onSignedIn,
}: {
  setupRequired: boolean;
  providers: Array<{ id: string; name: string; kind: string }>;
  next: string;
  onSignedIn: (res: { name: string; passwordUpdateRequired: boolean }, password: string) => void;
}) {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const { busy, error, submit } = useSubmit();

  const signIn = async (signal: AbortSignal) => {
    const res = await call('login', { passwordCredentials: { name, password } }, { signal });
    onSignedIn(res, password);
  };

  const general = loginErrorMessage(error);
  return (
    <AuthCard title="Sign in to Infra" subtitle="Use the email and password your admin gave you.">
      <form
        noValidate
        className="stack"
        onSubmit={(e) => {
          e.preventDefault();
          submit(signIn);
        }}
      >
        {setupRequired && (
          <Notice kind="info">
            This server has no admin yet. Open the setup link from the server log to create one.
          </Notice>
        )}
        <FormError title="Could not sign in" message={general} />
        <Field label="Email" error={fieldError(error, 'passwordCredentials.name')}>
          <input
            type="email"
            autoComplete="username"
            value={name}
            onChange={(e) => setName(e.target.value)}
            autoFocus
          />
        </Field>
        <Field label="Password" error={fieldError(error, 'passwordCredentials.password')}>
          <input
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </Field>
        <Button type="submit" variant="primary" busy={busy} className="btn-block">
          Sign in
        </Button>
      </form>
      {providers.length > 0 && <ProviderButtons providers={providers} next={next} />}
    </AuthCard>
  );
}

/** Where the dashboard asks providers to send the browser back to. */
export const CALLBACK_PATH = '/login/callback';
/** Where to go after a provider login; not a secret, so sessionStorage is fine. */
export const NEXT_KEY = 'infra.login.next';

const KIND_LABELS: Record<string, string> = {
  okta: 'Okta',
  azure: 'Azure AD',
  google: 'Google',
  oidc: 'OIDC',
};

/** One button per identity provider: the server starts the login and says where to go. */
function ProviderButtons({
  providers,
  next,
}: {
  providers: Array<{ id: string; name: string; kind: string }>;
  next: string;
}) {
  const [chosen, setChosen] = useState<string>();
  const { busy, error, submit } = useSubmit();
  return (
    <div className="providers">
      <div className="divider">
        <span>or</span>
      </div>
      <FormError
        title="Could not start the sign-in"
        message={error === undefined ? undefined : errorMessage(error)}
      />
      {providers.map((p) => (
        <Button
          key={p.id}
          className="btn-block"
          busy={busy && chosen === p.id}
          onClick={() =>
            submit(async (signal) => {
              setChosen(p.id);
              const res = await call(
                'startProviderLogin',
                { id: p.id, redirectURL: window.location.origin + CALLBACK_PATH },
                { signal },
              );
              sessionStorage.setItem(NEXT_KEY, next);
              window.location.assign(res.authorizationURL);
            })
          }
        >
          Sign in with {p.name}
          <span className="muted"> ({KIND_LABELS[p.kind] ?? p.kind})</span>
        </Button>
      ))}
    </div>
  );
}

function ChangePassword({
  known,
  rules,
  onDone,
}: {
  /** The name and one-time password just used to sign in; asked for when unknown. */
  known: { name: string; oldPassword: string } | undefined;
  rules: { minLength: number; maxLength: number } | undefined;
  onDone: () => void;
}) {
  const self = useQuery(
    async () => (known ? { name: known.name } : call('getUser', { id: 'self' })),
    [known],
  );
  const name = self.data?.name ?? '';
  const [oldPassword, setOldPassword] = useState('');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const { busy, error, submit, setError } = useSubmit();
  const checks = passwordChecks(rules, password, name, confirm);

  const change = () => {
    if (!checks.every((c) => c.ok)) {
      setError(
        new ApiError(400, {
          code: 'bad_request',
          message: 'The new password does not meet the requirements below.',
        }),
      );
      return;
    }
    submit(async (signal) => {
      await call(
        'updateUser',
        { id: 'self', password, oldPassword: known?.oldPassword ?? oldPassword },
        { signal },
      );
      onDone();
    });
  };

  const general = formError(error, ['password', known ? '' : 'oldPassword']);
  return (
    <AuthCard
      title="Choose your password"
      subtitle={
        <>
          {name ? <strong>{name}</strong> : 'You'} signed in with a one-time password. Choose your
          own to continue.
        </>
      }
    >
      <form
        noValidate
        className="stack"
        onSubmit={(e) => {
          e.preventDefault();
          change();
        }}
      >
        <FormError title="Could not change the password" message={general} />
        {!known && (
          <Field label="One-time password" error={fieldError(error, 'oldPassword')}>
            <input
              type="password"
              autoComplete="current-password"
              value={oldPassword}
              onChange={(e) => setOldPassword(e.target.value)}
              autoFocus
            />
          </Field>
        )}
        <Field label="New password" error={fieldError(error, 'password')}>
          <input
            type="password"
            autoComplete="new-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            autoFocus={Boolean(known)}
          />
        </Field>
        <Field label="Confirm new password">
          <input
            type="password"
            autoComplete="new-password"
            value={confirm}
            onChange={(e) => setConfirm(e.target.value)}
          />
        </Field>
        <PasswordPolicy checks={checks} />
        <Button type="submit" variant="primary" busy={busy} className="btn-block">
          Set password and continue
        </Button>
      </form>
    </AuthCard>
  );
}
