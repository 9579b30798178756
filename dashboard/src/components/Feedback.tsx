import type { ReactNode } from 'react';
import { ApiError, errorMessage } from '../api';
import { Button } from './Button';
import { Icon, type IconName } from './Icon';

/** Says what failed, the server's reason, and what to do about it. */
export function ErrorNotice({
  title,
  error,
  onRetry,
}: {
  title: string;
  error: unknown;
  onRetry?: () => void;
}) {
  const status = error instanceof ApiError ? error.status : undefined;
  const advice =
    status === 403
      ? 'Ask an admin of this Infra server for access.'
      : status === 0
        ? undefined
        : status !== undefined && status >= 500
          ? 'This is a problem on the server; try again, and if it persists check the server log.'
          : undefined;
  return (
    <div className="notice notice-error" role="alert">
      <Icon name="alert" />
      <div className="notice-body">
        <strong>{title}</strong>
        <p>{errorMessage(error)}</p>
        {advice && <p className="muted">{advice}</p>}
      </div>
      {onRetry && (
        <Button size="sm" icon="refresh" onClick={onRetry}>
          Try again
        </Button>
      )}
    </div>
  );
}

/** A form's error that belongs to no single field; nothing when there is none. */
export function FormError({ title, message }: { title: string; message: string | undefined }) {
  if (!message) return null;
  return (
    <div className="notice notice-error" role="alert">
      <div className="notice-body">
        <strong>{title}</strong>
        <p>{message}</p>
      </div>
    </div>
  );
}

/** A neutral or warning note inside a page. */
export function Notice({
  kind = 'info',
  children,
}: {
  kind?: 'info' | 'warning' | 'success';
  children: ReactNode;
}) {
  const icon: IconName = kind === 'success' ? 'check' : kind === 'warning' ? 'alert' : 'info';
  return (
    <div className={`notice notice-${kind}`} role={kind === 'warning' ? 'note' : undefined}>
      <Icon name={icon} />
      <div className="notice-body">{children}</div>
    </div>
  );
}

/** What an empty list looks like, and the first thing to do about it. */
export function EmptyState({
  icon,
  title,
  children,
  action,
  level = 2,
}: {
  icon: IconName;
  title: string;
  children?: ReactNode;
  action?: ReactNode;
  /** The title's heading level: 1 when it is the whole page (not found); else 2, below the page's h1. */
  level?: 1 | 2;
}) {
  const Heading = level === 1 ? 'h1' : 'h2';
  return (
    <div className="empty">
      <div className="empty-icon">
        <Icon name={icon} size={24} />
      </div>
      <Heading className="empty-title">{title}</Heading>
      {children && <p>{children}</p>}
      {action}
    </div>
  );
}

/** Placeholder rows while a table's first page loads. */
export function SkeletonRows({ rows = 4, columns }: { rows?: number; columns: number }) {
  return (
    <>
      {Array.from({ length: rows }, (_, r) => (
        <tr key={r} className="skeleton-row" aria-hidden="true">
          {Array.from({ length: columns }, (_, c) => (
            <td key={c}>
              <span className="skeleton" style={{ width: `${40 + ((r * 7 + c * 13) % 45)}%` }} />
            </td>
          ))}
        </tr>
      ))}
    </>
  );
}

export function SkeletonBlock({ lines = 3 }: { lines?: number }) {
  return (
    <div className="skeleton-block" aria-hidden="true">
      {Array.from({ length: lines }, (_, i) => (
        <span key={i} className="skeleton" style={{ width: `${90 - i * 15}%` }} />
      ))}
    </div>
  );
}

/** "Load more" under a paged list. */
export function LoadMore({
  hasMore,
  loading,
  onClick,
  shown,
  total,
  noun,
}: {
  hasMore: boolean;
  loading: boolean;
  onClick: () => void;
  shown: number;
  /** All there are, when the list counts them. */
  total?: number;
  noun: string;
}) {
  if (!hasMore) return null;
  return (
    <div className="load-more">
      <span className="muted">
        Showing {shown.toLocaleString('en')}
        {total !== undefined && ` of ${total.toLocaleString('en')}`}
      </span>
      <Button size="sm" busy={loading} onClick={onClick}>
        Load more {noun}
      </Button>
    </div>
  );
}

/** A small coloured label. */
export function Badge({
  tone = 'neutral',
  children,
  title,
}: {
  tone?: 'neutral' | 'green' | 'red' | 'amber' | 'blue';
  children: ReactNode;
  title?: string;
}) {
  return (
    <span className={`badge badge-${tone}`} title={title}>
      {children}
    </span>
  );
}
