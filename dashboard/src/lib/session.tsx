import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from 'react';
import { call, type User } from '../api';

export interface Session {
  /** The signed-in user, once known. */
  user: User | undefined;
  /** Holds `admin` on `infra` (directly or through a group); undefined while loading. */
  isAdmin: boolean | undefined;
  error: unknown;
  reload(): void;
}

const SessionContext = createContext<Session>({
  user: undefined,
  isAdmin: undefined,
  error: undefined,
  reload() {},
});

/** Who is signed in and whether they are an admin, fetched in parallel with the page's data. */
export function SessionProvider({ children }: { children: ReactNode }) {
  const [user, setUser] = useState<User>();
  const [isAdmin, setIsAdmin] = useState<boolean>();
  const [error, setError] = useState<unknown>();
  const [tick, setTick] = useState(0);

  useEffect(() => {
    let live = true;
    Promise.all([
      call('getUser', { id: 'self' }),
      call('listGrants', { user: 'self', showInherited: true, resource: 'infra', limit: 1000 }),
    ]).then(
      ([self, grants]) => {
        if (!live) return;
        setUser(self);
        setIsAdmin(grants.items.some((g) => g.privilege === 'admin'));
        setError(undefined);
      },
      (err: unknown) => {
        if (live) setError(err);
      },
    );
    return () => {
      live = false;
    };
  }, [tick]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  return (
    <SessionContext.Provider value={{ user, isAdmin, error, reload }}>
      {children}
    </SessionContext.Provider>
  );
}

export function useSession(): Session {
  return useContext(SessionContext);
}
