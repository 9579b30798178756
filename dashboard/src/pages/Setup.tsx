import { useState } from 'react';
import { ApiError, call, fieldError, formError } from '../api';
import { AuthCard } from '../components/AuthCard';
import { Button } from '../components/Button';
import { ErrorNotice, FormError, Notice, SkeletonBlock } from '../components/Feedback';
import { Field } from '../components/Field';
import { PasswordPolicy, passwordChecks } from '../components/PasswordPolicy';
import { useQuery, useSubmit, useTitle } from '../lib/hooks';
import { Link, navigate, useLocation } from '../lib/router';

/** Creates the first admin with the one-time link the server logs on a fresh install. */
export function SetupPage() {
  useTitle('Set up Infra');
  const { search } = useLocation();
  const token = search.get('token') ?? '';
  const state = useQuery(async () => {
    const [setup, settings] = await Promise.all([call('getSetup'), call('getSettings')]);
    return { required: setup.required, rules: settings.passwordRequirements };
  }, []);
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const { busy, error, submit } = useSubmit();
  const [touched, setTouched] = useState(false);

  const checks = passwordChecks(state.data?.rules, password, name, confirm);
  const ready = checks.every((c) => c.ok) && name.includes('@');
  // Said next to the field once they try, not only by the ticks of the list below it.
  const unmet = checks.filter((c) => !c.ok).map((c) => c.label.toLowerCase());
  const passwordProblem =
    touched && unmet.length > 0 ? `Not accepted yet: ${unmet.join('; ')}` : undefined;

  const setUp = () => {
    setTouched(true);
    if (!ready) return;
    submit(async (signal) => {
      await call('setup', { token, name, password }, { signal });
      // Signed in by the cookie; the token is spent, so it leaves the address bar too.
      navigate('/clusters', { replace: true });
    });
  };

  if (!token) {
    return (
      <AuthCard title="Set up Infra" subtitle="Create the first admin of this server.">
        <Notice kind="warning">
          <strong>This page needs the setup link from the server log.</strong>
          <p>
            On its first start the server logs a line like{' '}
            <code>open https://…/setup?token=… to create the first admin</code>. Open that link.
          </p>
        </Notice>
      </AuthCard>
    );
  }

  if (state.loading && !state.data) {
    return (
      <AuthCard title="Set up Infra" subtitle="Create the first admin of this server.">
        <SkeletonBlock lines={5} />
      </AuthCard>
    );
  }

  if (state.error) {
    return (
      <AuthCard title="Set up Infra">
        <ErrorNotice
          title="Could not reach the server"
          error={state.error}
          onRetry={state.reload}
        />
      </AuthCard>
    );
  }

  if (state.data && !state.data.required) {
    return (
      <AuthCard title="Infra is set up" subtitle="This server already has an admin.">
        <Link to="/login" className="btn btn-primary btn-block">
          Sign in
        </Link>
      </AuthCard>
    );
  }

  const generalError =
    error instanceof ApiError && error.status === 401
      ? 'This setup link is not valid any more. It works once and is replaced each time the server restarts: copy the latest link from the server log.'
      : formError(error, ['name', 'password']);

  return (
    <AuthCard
      title="Set up Infra"
      subtitle="Create the first admin. You can add more people once you are in."
    >
      <form
        noValidate
        className="stack"
        onSubmit={(e) => {
          e.preventDefault();
          setUp();
        }}
      >
        <FormError title="Setup failed" message={generalError} />
        <Field
          label="Email"
          error={
            fieldError(error, 'name') ??
            (touched && !name.includes('@') ? 'Enter your email address' : undefined)
          }
        >
          <input
            type="email"
            autoComplete="username"
            value={name}
            onChange={(e) => setName(e.target.value)}
            autoFocus
          />
        </Field>
        <Field label="Password" error={fieldError(error, 'password') ?? passwordProblem}>
          <input
            type="password"
            autoComplete="new-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </Field>
        <Field label="Confirm password">
          <input
            type="password"
            autoComplete="new-password"
            value={confirm}
            onChange={(e) => setConfirm(e.target.value)}
          />
        </Field>
        <PasswordPolicy checks={checks} />
        <Button type="submit" variant="primary" busy={busy} className="btn-block">
          Create admin and sign in
        </Button>
      </form>
    </AuthCard>
  );
}
