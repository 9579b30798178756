import { useState, type FormEvent } from 'react';
import { call, fieldError, formError, type Output } from '../api';
import { formatTime } from '../lib/format';
import { useSubmit } from '../lib/hooks';
import { Button } from './Button';
import { CopyButton } from './Copy';
import { FormError } from './Feedback';
import { Field } from './Field';

type Explanation = Output<'explainAccess'>;
type Path = Explanation['paths'][number];
type Membership = NonNullable<Path['via']['memberships']>[number];

function membership(m: Membership): string {
  switch (m.source) {
    case 'manual':
      return 'added by an admin';
    case 'config':
      return 'declared in the config file';
    case 'provider':
      return `synced from ${m.provider ?? 'an identity provider'}`;
    case 'scim':
      return `provisioned by ${m.provider ?? 'an identity provider'} (SCIM)`;
    default:
      return m.detail ?? 'another source';
  }
}

function through(p: Path): string {
  if (p.via.kind === 'user') return 'granted to the user directly';
  const how = (p.via.memberships ?? []).map(membership).join(', ');
  return `group ${p.via.group ?? ''}${how ? ` (${how})` : ''}`;
}

function allows(p: Path): string {
  if (p.allows === null) return 'unknown: the role’s rules are not known to Infra';
  return p.allows ? 'yes' : 'no';
}

/** One answer of `GET /api/explain`, as `infra explain` prints it, in words and a table. */
function ExplanationView({ e }: { e: Explanation }) {
  const check = e.check;
  return (
    <div className="explanation" aria-live="polite">
      <p>
        <strong>{e.user.name}</strong> {e.hasAccess ? 'can reach' : 'cannot reach'}{' '}
        <code>{e.target}</code>
        {!e.destinationConnected && ' (no connector has registered this cluster yet)'}.
        {check && (
          <>
            {' '}
            <code>
              {check.verb} {check.resource}
            </code>
            :{' '}
            {check.allowed === null
              ? 'unknown (the role’s rules are not known to Infra)'
              : check.allowed
                ? 'allowed'
                : 'not allowed'}
            .
          </>
        )}
      </p>
      {e.paths.length > 0 && (
        <div className="table-wrap">
          <table className="table">
            <caption className="sr-only">Every grant that gives {e.user.name} this access</caption>
            <thead>
              <tr>
                <th scope="col">Role</th>
                <th scope="col">On</th>
                <th scope="col">Through</th>
                <th scope="col">Until</th>
                <th scope="col">On the cluster</th>
                {check && <th scope="col">Allows it</th>}
              </tr>
            </thead>
            <tbody>
              {e.paths.map((p) => (
                <tr key={`${p.grant.id}-${p.via.group ?? 'user'}`}>
                  <td data-label="Role">
                    <span className="role">{p.role}</span>
                    {!p.appliesToTarget && <span className="muted"> (another namespace)</span>}
                  </td>
                  <td data-label="On">{p.resource}</td>
                  <td data-label="Through">
                    {through(p)}
                    {p.request && (
                      <div className="muted">
                        request “{p.request.reason}”, approved by{' '}
                        {p.request.approvedBy.join(', ') || 'nobody yet'}
                      </div>
                    )}
                  </td>
                  <td data-label="Until">
                    {p.grant.expiresAt ? formatTime(p.grant.expiresAt) : 'no end'}
                  </td>
                  <td data-label="On the cluster">
                    {p.binding
                      ? `${p.binding.kind} ${p.binding.name}${p.binding.namespace ? ` in ${p.binding.namespace}` : ''}`
                      : 'no binding (connect only)'}
                    {!p.roleOffered && <div className="muted">the cluster does not offer it</div>}
                  </td>
                  {check && <td data-label="Allows it">{allows(p)}</td>}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {e.suggestion && (
        <div className="notice notice-info">
          <div className="notice-body">
            <p>
              Nearest: <span className="role">{e.suggestion.role}</span> on{' '}
              <code>{e.suggestion.resource}</code>.{' '}
              {e.suggestion.requestable
                ? `${e.user.name} may ask for it (policy ${e.suggestion.policy ?? ''}${
                    e.suggestion.approvalsRequired
                      ? `, ${e.suggestion.approvalsRequired} approval${e.suggestion.approvalsRequired === 1 ? '' : 's'}`
                      : ''
                  }${e.suggestion.maxDuration ? `, up to ${e.suggestion.maxDuration}` : ''}).`
                : 'No request policy lets them ask for it: an admin grants it.'}
            </p>
            <span className="inline-command">
              <code>{e.suggestion.command}</code>
              <CopyButton text={e.suggestion.command} name={`Copy ${e.suggestion.command}`} />
            </span>
          </div>
        </div>
      )}
    </div>
  );
}

/**
 * "Why can (or can't) this person reach this?": asks `GET /api/explain` about a user on a
 * cluster or namespace, optionally for one verb on one resource. Give `user` on a user's page,
 * `destination` on a cluster's page; the form asks for the other.
 */
export function ExplainAccess({ user, destination }: { user?: string; destination?: string }) {
  const [who, setWho] = useState('');
  const [where, setWhere] = useState(destination ?? '');
  const [verb, setVerb] = useState('');
  const [resource, setResource] = useState('');
  const [answer, setAnswer] = useState<Explanation>();
  const { busy, error, submit } = useSubmit();

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    submit(async (signal) => {
      setAnswer(undefined);
      const check =
        verb.trim() && resource.trim() ? { verb: verb.trim(), resource: resource.trim() } : {};
      setAnswer(
        await call(
          'explainAccess',
          { user: user ?? who.trim(), destination: where.trim(), ...check },
          { signal },
        ),
      );
    });
  };

  return (
    <>
      <form className="explain-form" onSubmit={onSubmit} noValidate>
        {!user && (
          <Field label="User (email)" error={fieldError(error, 'user')}>
            <input value={who} onChange={(e) => setWho(e.target.value)} autoComplete="off" />
          </Field>
        )}
        {destination === undefined ? (
          <Field
            label="Cluster or namespace"
            hint="prod, or prod.web for a namespace"
            error={fieldError(error, 'destination')}
          >
            <input value={where} onChange={(e) => setWhere(e.target.value)} autoComplete="off" />
          </Field>
        ) : (
          <Field label="Namespace" optional hint={`Empty: the whole of ${destination}`}>
            <input
              value={where === destination ? '' : where.slice(destination.length + 1)}
              onChange={(e) =>
                setWhere(e.target.value ? `${destination}.${e.target.value}` : destination)
              }
              autoComplete="off"
            />
          </Field>
        )}
        <Field
          label="Verb"
          optional
          hint="get, list, create, delete…"
          error={fieldError(error, 'verb')}
        >
          <input value={verb} onChange={(e) => setVerb(e.target.value)} autoComplete="off" />
        </Field>
        <Field
          label="Resource"
          optional
          hint="pods, secrets, pods/exec…"
          error={fieldError(error, 'resource')}
        >
          <input
            value={resource}
            onChange={(e) => setResource(e.target.value)}
            autoComplete="off"
          />
        </Field>
        <Button type="submit" busy={busy}>
          Explain
        </Button>
      </form>
      <FormError
        title="Could not explain"
        message={formError(error, ['user', 'destination', 'verb', 'resource'])}
      />
      {answer && <ExplanationView e={answer} />}
    </>
  );
}
