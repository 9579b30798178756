import { useEffect, useRef, useState } from 'react';
import { ApiError, call, errorMessage, fieldError } from '../api';
import { AuthCard } from '../components/AuthCard';
import { Button } from '../components/Button';
import { FormError, Notice, SkeletonBlock } from '../components/Feedback';
import { Field } from '../components/Field';
import { useQuery, useSubmit, useTitle } from '../lib/hooks';
import { Link, navigate, safeNext, useLocation } from '../lib/router';
import { NEXT_KEY } from './Login';

/**
 * Where a provider sends the browser back: `code` and `state` finish the login (the server
 * checks the state it issued); `error` from the provider is shown with a way back.
 */
export function LoginCallbackPage() {
  useTitle('Signing in');
  const { search } = useLocation();
  const code = search.get('code');
  const state = search.get('state');
  const providerError = search.get('error');
  const description = search.get('error_description');
  const [error, setError] = useState<unknown>();
  const started = useRef(false);

  useEffect(() => {
    if (started.current || providerError || !code || !state) return;
    // React's strict mode runs effects twice in development; a code is good for one login.
    started.current = true;
    call('login', { oidc: { state, code } }).then(
      (res) => {
        const next = safeNext(sessionStorage.getItem(NEXT_KEY));
        sessionStorage.removeItem(NEXT_KEY);
        navigate(res.passwordUpdateRequired ? '/login?change=1' : next, { replace: true });
      },
      (err: unknown) => setError(err),
    );
  }, [code, state, providerError]);

  const back = (
    <Link to="/login" className="btn btn-primary btn-block">
      Back to sign in
    </Link>
  );

  if (providerError) {
    return (
      <AuthCard title="Sign-in was not completed">
        <div className="stack">
          <div className="notice notice-error" role="alert">
            <div className="notice-body">
              <strong>The identity provider said: {providerError}</strong>
              {description && <p>{description}</p>}
              <p className="muted">
                {providerError === 'access_denied'
                  ? 'You (or your provider’s policy) declined the sign-in. Ask your admin if you should have access to Infra in the provider.'
                  : 'Try again; if it keeps failing, tell your Infra admin what it said.'}
              </p>
            </div>
          </div>
          {back}
        </div>
      </AuthCard>
    );
  }
  if (!code || !state) {
    return (
      <AuthCard title="Nothing to finish here">
        <div className="stack">
          <p>
            This page finishes a sign-in through an identity provider, and this address has no
            sign-in to finish. Start again from the sign-in page.
          </p>
          {back}
        </div>
      </AuthCard>
    );
  }
  if (error !== undefined) {
    const code = error instanceof ApiError ? error.code : '';
    // The server's sentence says why; a failure of this attempt alone is fixed by starting again.
    const startAgain = ['login_unknown', 'login_expired', 'login_refused', 'login_other_browser'];
    return (
      <AuthCard title="Could not sign you in">
        <div className="stack">
          <div className="notice notice-error" role="alert">
            <div className="notice-body">
              <strong>{errorMessage(error)}</strong>
              {!code.startsWith('login_') && <p className="muted">Try again in a moment.</p>}
              {startAgain.includes(code) && <p className="muted">Start the sign-in again.</p>}
            </div>
          </div>
          {back}
        </div>
      </AuthCard>
    );
  }
  return (
    <AuthCard title="Signing you in…">
      <SkeletonBlock lines={2} />
      <span className="sr-only" role="status">
        Finishing the sign-in
      </span>
    </AuthCard>
  );
}

/**
 * Approves a device login (the CLI on another machine, `infra login --device`): the user
 * checks the code matches what the device shows, then approves it as themselves.
 */
export function DevicePage() {
  useTitle('Approve a device');
  const { search, href } = useLocation();
  const initial = (search.get('code') ?? '').toUpperCase();
  // Needs a session: a 401 here sends the browser to sign in and back (see main.tsx).
  const me = useQuery((signal) => call('getUser', { id: 'self' }, { signal }), []);
  const [code, setCode] = useState(initial);
  const [confirmed, setConfirmed] = useState(initial !== '');
  const { busy, error, submit, setError } = useSubmit();
  const [done, setDone] = useState<'approved' | 'declined'>();

  if (me.error instanceof ApiError && me.error.status === 401) {
    return (
      <AuthCard title="Approve a device">
        <Notice kind="info">Sign in first; you come back here after.</Notice>
        <Link to={`/login?next=${encodeURIComponent(href)}`} className="btn btn-primary btn-block">
          Sign in
        </Link>
      </AuthCard>
    );
  }
  if (done) {
    return (
      <AuthCard title={done === 'approved' ? 'Device approved' : 'Request declined'}>
        <div className="stack">
          <p>
            {done === 'approved'
              ? 'The device is signed in as you. You can close this page.'
              : 'Nothing was approved. If you did not start a sign-in, someone may have sent you this link: ignore it.'}
          </p>
          <Link to="/" className="btn btn-secondary btn-block">
            Go to the dashboard
          </Link>
        </div>
      </AuthCard>
    );
  }

  const approve = async (signal: AbortSignal) => {
    await call('approveDevice', { userCode: code.trim() }, { signal });
    setDone('approved');
  };
  const notFound = error instanceof ApiError && error.status === 404;
  const problem = notFound
    ? 'This code is unknown or has expired. Start the sign-in on the device again and use the new code.'
    : (fieldError(error, 'userCode') ?? (error !== undefined ? errorMessage(error) : undefined));

  if (!confirmed) {
    return (
      <AuthCard title="Approve a device" subtitle="Enter the code the device shows.">
        <form
          noValidate
          className="stack"
          onSubmit={(e) => {
            e.preventDefault();
            if (code.trim()) setConfirmed(true);
          }}
        >
          <Field label="Code" hint="Such as ABCD-EFGH">
            <input
              value={code}
              onChange={(e) => setCode(e.target.value.toUpperCase())}
              autoComplete="off"
              autoCapitalize="characters"
              spellCheck={false}
              autoFocus
            />
          </Field>
          <Button type="submit" variant="primary" className="btn-block" disabled={!code.trim()}>
            Continue
          </Button>
        </form>
      </AuthCard>
    );
  }

  return (
    <AuthCard title="Approve a device">
      <div className="stack">
        <p className="device-ask">
          A device asks to sign in as {me.data ? <strong>{me.data.name}</strong> : 'you'}: code{' '}
          <code className="device-code" data-testid="device-code">
            {code}
          </code>
        </p>
        <p className="muted">
          Approve only if you started this sign-in and the device shows the same code.
        </p>
        <FormError title="Could not approve the device" message={problem} />
        <Button variant="primary" className="btn-block" busy={busy} onClick={() => submit(approve)}>
          Approve
        </Button>
        <Button className="btn-block" onClick={() => setDone('declined')}>
          Not me
        </Button>
        {notFound && (
          <Button
            variant="ghost"
            className="btn-block"
            onClick={() => {
              setError(undefined);
              setCode('');
              setConfirmed(false);
            }}
          >
            Enter another code
          </Button>
        )}
      </div>
    </AuthCard>
  );
}
