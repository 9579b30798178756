import { useEffect, useRef, useState, type ReactNode } from 'react';
import { call } from '../api';
import { initials } from '../lib/format';
import { useQuery } from '../lib/hooks';
import { Link, navigate, useLocation } from '../lib/router';
import { useSession } from '../lib/session';
import { Button } from './Button';
import { Icon, Logo, type IconName } from './Icon';
import { onReviewCountChange } from '../lib/review-count';

interface NavItem {
  to: string;
  label: string;
  icon: IconName;
  adminOnly: boolean;
}

export const NAV: NavItem[] = [
  { to: '/clusters', label: 'Clusters', icon: 'clusters', adminOnly: false },
  { to: '/my-access', label: 'My access', icon: 'terminal', adminOnly: false },
  { to: '/requests', label: 'Access requests', icon: 'key', adminOnly: false },
  { to: '/access', label: 'Access', icon: 'access', adminOnly: true },
  { to: '/users', label: 'Users', icon: 'user', adminOnly: true },
  { to: '/groups', label: 'Groups', icon: 'users', adminOnly: true },
  { to: '/providers', label: 'Providers', icon: 'key', adminOnly: true },
  { to: '/activity', label: 'Cluster activity', icon: 'terminal', adminOnly: false },
  { to: '/audit', label: 'Audit log', icon: 'audit', adminOnly: true },
  { to: '/settings', label: 'Settings', icon: 'settings', adminOnly: false },
];

/** The signed-in frame: sidebar navigation, a header with the user, and the page. */
export function Layout({ children }: { children: ReactNode }) {
  const { user, isAdmin } = useSession();
  const { pathname } = useLocation();
  const [menuOpen, setMenuOpen] = useState(false);
  const [loggingOut, setLoggingOut] = useState(false);
  const mainRef = useRef<HTMLElement>(null);
  const menuButtonRef = useRef<HTMLButtonElement>(null);
  const sidebarRef = useRef<HTMLElement>(null);
  const first = useRef(true);
  const version = useQuery(() => call('getVersion'), []);
  // Reviewers see how many access requests wait for them, on every page (read again on each).
  const toReview = useQuery(
    (signal) => call('listAccessRequests', { toReview: 'true', limit: 1 }, { signal }),
    [pathname],
  );
  const waiting = toReview.data?.pendingToReview ?? 0;
  useEffect(() => onReviewCountChange(toReview.reload), [toReview.reload]);

  // After a navigation, move focus to the page so screen readers start there; close the menu.
  useEffect(() => {
    setMenuOpen(false);
    if (first.current) {
      first.current = false;
      return;
    }
    mainRef.current?.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }, [pathname]);

  // The open phone menu holds focus, like a dialog: Tab cycles through its links and the
  // button that closes it; Escape closes it and gives focus back to that button.
  useEffect(() => {
    if (!menuOpen) return;
    const button = menuButtonRef.current;
    const links = () => [...(sidebarRef.current?.querySelectorAll<HTMLElement>('a[href]') ?? [])];
    links()[0]?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        setMenuOpen(false);
        button?.focus();
        return;
      }
      if (e.key !== 'Tab' || !button) return;
      const cycle = [button, ...links()];
      const at = cycle.indexOf(document.activeElement as HTMLElement);
      const next = (at + (e.shiftKey ? -1 : 1) + cycle.length) % cycle.length;
      e.preventDefault();
      cycle[at < 0 ? 0 : next]!.focus();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [menuOpen]);

  const logout = async () => {
    setLoggingOut(true);
    try {
      await call('logout');
    } catch {
      // The session may already be gone; either way the cookie is cleared or useless.
    }
    navigate('/login', { replace: true });
  };

  const items = NAV.filter((n) => !n.adminOnly || isAdmin);
  return (
    <div className={`app${menuOpen ? ' menu-open' : ''}`}>
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <aside className="sidebar" id="sidebar" aria-label="Main" ref={sidebarRef}>
        <div className="brand">
          <Logo />
          <span>Infra</span>
        </div>
        <nav>
          <ul>
            {items.map((n) => {
              const active = pathname === n.to || pathname.startsWith(`${n.to}/`);
              return (
                <li key={n.to}>
                  <Link to={n.to} className="nav-link" aria-current={active ? 'page' : undefined}>
                    <Icon name={n.icon} />
                    {n.label}
                    {n.to === '/requests' && waiting > 0 && (
                      <span className="badge badge-blue nav-count" title="Waiting for your review">
                        {waiting}
                        <span className="sr-only"> waiting for your review</span>
                      </span>
                    )}
                  </Link>
                </li>
              );
            })}
            {isAdmin === undefined &&
              [0, 1, 2].map((i) => (
                <li key={i} aria-hidden="true" className="nav-skeleton">
                  <span className="skeleton" />
                </li>
              ))}
          </ul>
        </nav>
        <div className="sidebar-foot muted">
          {version.data ? `Infra ${version.data.version}` : '\u00a0'}
        </div>
      </aside>
      <div className="scrim" onClick={() => setMenuOpen(false)} aria-hidden="true" />
      <div className="main-col">
        <header className="topbar">
          <button
            ref={menuButtonRef}
            type="button"
            className="icon-btn menu-btn"
            aria-label={menuOpen ? 'Close navigation' : 'Open navigation'}
            aria-expanded={menuOpen}
            aria-controls="sidebar"
            onClick={() => setMenuOpen((o) => !o)}
          >
            <Icon name={menuOpen ? 'x' : 'menu'} />
          </button>
          <div className="topbar-brand">
            <Logo size={24} />
            <span>Infra</span>
          </div>
          <div className="topbar-spacer" />
          <div className="user-chip">
            {user ? (
              <>
                <span className="sr-only">Signed in as </span>
                <span className="avatar" aria-hidden="true">
                  {initials(user.name)}
                </span>
                <span className="user-name" data-testid="current-user">
                  {user.name}
                </span>
                {isAdmin && <span className="role-tag">admin</span>}
              </>
            ) : (
              <span className="skeleton" style={{ width: 140 }} aria-hidden="true" />
            )}
          </div>
          <Button size="sm" variant="ghost" icon="logout" busy={loggingOut} onClick={logout}>
            Log out
          </Button>
        </header>
        <main id="main" ref={mainRef} tabIndex={-1}>
          {children}
        </main>
      </div>
    </div>
  );
}

/** A page's title, a sentence about it, and its main actions. */
export function PageHeader({
  title,
  description,
  actions,
  back,
}: {
  title: ReactNode;
  description?: ReactNode;
  actions?: ReactNode;
  back?: { to: string; label: string };
}) {
  return (
    <div className="page-header">
      {back && (
        <Link to={back.to} className="back-link">
          <Icon name="chevronLeft" size={16} />
          {back.label}
        </Link>
      )}
      <div className="page-header-row">
        <div>
          <h1>{title}</h1>
          {description && <p className="page-description">{description}</p>}
        </div>
        {actions && <div className="page-actions">{actions}</div>}
      </div>
    </div>
  );
}
