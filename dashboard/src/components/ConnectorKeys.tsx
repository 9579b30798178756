import { useState } from 'react';
import { call, type AccessKey } from '../api';
import { formatTime, timeAgo } from '../lib/format';
import { useQuery } from '../lib/hooks';
import { Button } from './Button';
import { ConfirmDialog } from './Dialog';
import { Notice } from './Feedback';
import { useToast } from './Toast';

/**
 * Connector keys made for a cluster and never used (the admin left the connect page before a
 * connector registered): listed so they do not linger unseen, each with Delete.
 */
export function UnusedConnectorKeys() {
  const toast = useToast();
  const keys = useQuery(async (signal) => {
    const users = await call('listUsers', { name: 'connector', showSystem: true }, { signal });
    const connector = users.items[0];
    if (!connector) return [];
    const page = await call('listAccessKeys', { userID: connector.id, limit: 1000 }, { signal });
    return page.items.filter((k) => k.destination !== null && k.lastUsed === null);
  }, []);
  const [deleting, setDeleting] = useState<AccessKey>();
  const unused = keys.data ?? [];
  if (unused.length === 0) return null;
  return (
    <section className="section" aria-labelledby="unused-keys-title">
      <Notice kind="warning">
        <h2 id="unused-keys-title" className="notice-title">
          Connector keys never used
        </h2>
        <p>No connector has registered with these keys yet. Delete the ones you no longer need.</p>
        <ul className="key-list">
          {unused.map((k) => (
            <li key={k.id}>
              <span>
                <code>{k.name}</code> for <strong>{k.destination}</strong>,{' '}
                <span title={formatTime(k.created)}>made {timeAgo(k.created)}</span>
              </span>
              <Button
                size="sm"
                variant="danger-ghost"
                icon="trash"
                aria-label={`Delete ${k.name}`}
                onClick={() => setDeleting(k)}
              >
                Delete
              </Button>
            </li>
          ))}
        </ul>
      </Notice>
      {deleting && (
        <ConfirmDialog
          title={`Delete ${deleting.name}?`}
          confirmLabel="Delete key"
          onClose={() => setDeleting(undefined)}
          onConfirm={async (signal) => {
            await call('deleteAccessKey', { id: deleting.id }, { signal });
            keys.setData((items) => items?.filter((k) => k.id !== deleting.id));
            toast('Connector key deleted');
          }}
        >
          A connector started with it can no longer register {deleting.destination}.
        </ConfirmDialog>
      )}
    </section>
  );
}
