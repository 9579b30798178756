import { StrictMode, type ReactNode } from 'react';
import { createRoot } from 'react-dom/client';
import { setApiHandlers } from './api';
import { EmptyState } from './components/Feedback';
import { Layout, NAV } from './components/Layout';
import { ToastProvider } from './components/Toast';
import { matchPath, navigate, Redirect, useLocation } from './lib/router';
import { SessionProvider, useSession } from './lib/session';
import { AccessPage } from './pages/Access';
import { AuditPage } from './pages/Audit';
import { ClusterPage, ClustersPage } from './pages/Clusters';
import { ConnectClusterPage } from './pages/ConnectCluster';
import { GroupPage, GroupsPage } from './pages/Groups';
import { LoginPage } from './pages/Login';
import { MyAccessPage } from './pages/MyAccess';
import { DevicePage, LoginCallbackPage } from './pages/ProviderLogin';
import { ProvidersPage } from './pages/Providers';
import { RequestsPage } from './pages/Requests';
import { ActivityPage, RecordingPage } from './pages/Activity';
import { SettingsPage } from './pages/Settings';
import { SetupPage } from './pages/Setup';
import { UserPage, UsersPage } from './pages/Users';
import './styles.css';

function currentHref(): string {
  return window.location.pathname + window.location.search;
}

function isPublic(pathname: string): boolean {
  return pathname === '/login' || pathname === '/setup' || pathname === '/login/callback';
}

setApiHandlers({
  unauthenticated() {
    if (isPublic(window.location.pathname)) return;
    navigate(`/login?next=${encodeURIComponent(currentHref())}`, { replace: true });
  },
  passwordChangeRequired() {
    if (window.location.pathname === '/login') return;
    navigate(`/login?change=1&next=${encodeURIComponent(currentHref())}`, { replace: true });
  },
});

type Route = [pattern: string, render: (params: Record<string, string>) => ReactNode];

const ROUTES: Route[] = [
  ['/clusters', () => <ClustersPage />],
  ['/clusters/connect', () => <ConnectClusterPage />],
  ['/clusters/:id', (p) => <ClusterPage id={p.id!} />],
  ['/my-access', () => <MyAccessPage />],
  ['/providers', () => <ProvidersPage />],
  ['/access', () => <AccessPage />],
  ['/users', () => <UsersPage />],
  ['/users/:id', (p) => <UserPage id={p.id!} />],
  ['/groups', () => <GroupsPage />],
  ['/groups/:id', (p) => <GroupPage id={p.id!} />],
  ['/audit', () => <AuditPage />],
  ['/requests', () => <RequestsPage />],
  ['/activity', () => <ActivityPage />],
  ['/activity/recordings/:id', (p) => <RecordingPage id={p.id!} />],
  ['/settings', () => <SettingsPage />],
];

/** Pages for admins only: others see a short explanation instead of a failed call. */
function AdminOnly({ pathname, children }: { pathname: string; children: ReactNode }) {
  const { isAdmin } = useSession();
  const item = NAV.find((n) => pathname === n.to || pathname.startsWith(`${n.to}/`));
  if (item?.adminOnly && isAdmin === false) {
    return (
      <EmptyState icon="access" title="Admins only" level={1}>
        This page is for admins of this Infra server. Ask one to grant you the admin role if you
        need it.
      </EmptyState>
    );
  }
  return children;
}

function SignedIn() {
  const { pathname } = useLocation();
  if (pathname === '/') return <Redirect to="/clusters" />;
  let page: ReactNode;
  for (const [pattern, render] of ROUTES) {
    const params = matchPath(pattern, pathname);
    if (params) {
      page = render(params);
      break;
    }
  }
  return (
    <SessionProvider>
      <Layout>
        {page ? (
          <AdminOnly pathname={pathname}>{page}</AdminOnly>
        ) : (
          <EmptyState icon="info" title="Page not found" level={1}>
            There is nothing at {pathname}. Use the navigation to find your way.
          </EmptyState>
        )}
      </Layout>
    </SessionProvider>
  );
}

function App() {
  const { pathname } = useLocation();
  if (pathname === '/setup') return <SetupPage />;
  if (pathname === '/login') return <LoginPage />;
  if (pathname === '/login/callback') return <LoginCallbackPage />;
  if (pathname === '/device') return <DevicePage />;
  return <SignedIn />;
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <ToastProvider>
      <App />
    </ToastProvider>
  </StrictMode>,
);
