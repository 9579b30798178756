import { useCallback, useEffect, useRef, useState, type DependencyList } from 'react';
import type { Page } from '../api';
import { navigate, useLocation } from './router';

export interface Query<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  /** Fetches again; the old data stays on screen until the new data arrives. */
  reload(): void;
  setData(update: (old: T | undefined) => T | undefined): void;
}

/** Runs `fn` when `deps` change; the latest call wins. */
export function useQuery<T>(
  fn: (signal: AbortSignal) => Promise<T>,
  deps: DependencyList,
): Query<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<unknown>();
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const fnRef = useRef(fn);
  fnRef.current = fn;

  useEffect(() => {
    const controller = new AbortController();
    setLoading(true);
    fnRef.current(controller.signal).then(
      (value) => {
        if (controller.signal.aborted) return;
        setData(value);
        setError(undefined);
        setLoading(false);
      },
      (err: unknown) => {
        if (controller.signal.aborted) return;
        setError(err);
        setLoading(false);
      },
    );
    return () => controller.abort();
  }, [...deps, tick]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  const update = useCallback(
    (u: (old: T | undefined) => T | undefined) => setData((old) => u(old)),
    [],
  );
  return { data, error, loading, reload, setData: update };
}

export interface Paged<T> {
  items: T[];
  /** True until the first page arrives (and again after `deps` change). */
  loading: boolean;
  loadingMore: boolean;
  /**
   * Why the last load failed: the first page (then `items` is empty, not a stale list from
   * other `deps`) or the next one (then `items` is what was loaded before).
   */
  error: unknown;
  /** Another page exists. */
  hasMore: boolean;
  /** How many items the filters find over all pages, for lists that count. */
  total: number | undefined;
  /** Fetches the next page, unless a request is already under way. */
  loadMore(): void;
  /** Fetches the first page again, showing the loading state. */
  reload(): void;
  /** Fetches the first page again quietly, keeping what is shown until it arrives. */
  refresh(): void;
  /** Changes the items shown (one removed, one added); `total` follows the change in length. */
  setItems(update: (items: T[]) => T[]): void;
}

/**
 * A list the API pages with `limit` and `next`: the first page when `deps` change, the
 * following ones on `loadMore`. One request at a time, so a stale page never lands on a newer
 * one: a change of `deps`, `reload`, `refresh` and unmounting abort the request under way,
 * and `loadMore` is ignored while one runs.
 */
export function usePaged<T>(
  fetchPage: (after: string | undefined, signal: AbortSignal) => Promise<Page<T>>,
  deps: DependencyList,
): Paged<T> {
  const [items, setItems] = useState<T[]>([]);
  const [next, setNext] = useState<string>();
  const [total, setTotal] = useState<number>();
  const [loading, setLoading] = useState(true);
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState<unknown>();
  const [tick, setTick] = useState(0);
  const fetchRef = useRef(fetchPage);
  fetchRef.current = fetchPage;
  const running = useRef<{ kind: 'first' | 'more' | 'refresh'; controller: AbortController }>(
    undefined,
  );

  /** Starts a request, aborting the one under way; `land` and `fail` run only for the newest. */
  const start = useCallback(
    (
      kind: 'first' | 'more' | 'refresh',
      after: string | undefined,
      land: (page: Page<T>) => void,
      fail: (err: unknown) => void,
    ) => {
      running.current?.controller.abort();
      const controller = new AbortController();
      const request = { kind, controller };
      running.current = request;
      const settle = () => {
        if (running.current === request) running.current = undefined;
      };
      fetchRef.current(after, controller.signal).then(
        (page) => {
          if (controller.signal.aborted) return;
          settle();
          land(page);
        },
        (err: unknown) => {
          if (controller.signal.aborted) return;
          settle();
          fail(err);
        },
      );
    },
    [],
  );

  useEffect(() => {
    setLoading(true);
    setLoadingMore(false);
    start(
      'first',
      undefined,
      (page) => {
        setItems(page.items);
        setNext(page.next);
        setTotal(page.totalCount);
        setError(undefined);
        setLoading(false);
      },
      (err) => {
        setItems([]);
        setNext(undefined);
        setTotal(undefined);
        setError(err);
        setLoading(false);
      },
    );
    return () => {
      running.current?.controller.abort();
      running.current = undefined;
    };
  }, [...deps, tick]);

  const loadMore = useCallback(() => {
    if (!next || running.current) return;
    setLoadingMore(true);
    start(
      'more',
      next,
      (page) => {
        setItems((old) => [...old, ...page.items]);
        setNext(page.next);
        setTotal(page.totalCount);
        setError(undefined);
        setLoadingMore(false);
      },
      (err) => {
        setError(err);
        setLoadingMore(false);
      },
    );
  }, [next, start]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  const refresh = useCallback(() => {
    // The first page is still coming, maybe from before the change: ask for it again.
    if (running.current?.kind === 'first') {
      reload();
      return;
    }
    setLoadingMore(false);
    start(
      'refresh',
      undefined,
      (page) => {
        setItems(page.items);
        setNext(page.next);
        setTotal(page.totalCount);
        setError(undefined);
      },
      () => {
        // A failed background refresh keeps the last good state on screen.
      },
    );
  }, [reload, start]);
  // What the page has added or removed moves the count over all pages by as much.
  const shown = useRef(items);
  shown.current = items;
  const update = useCallback((u: (items: T[]) => T[]) => {
    const before = shown.current;
    const after = u(before);
    shown.current = after;
    setItems(after);
    const added = after.length - before.length;
    if (added !== 0) setTotal((t) => (t === undefined ? t : Math.max(0, t + added)));
  }, []);
  return {
    items,
    refresh,
    loading,
    loadingMore,
    error,
    hasMore: next !== undefined,
    total,
    loadMore,
    reload,
    setItems: update,
  };
}

export interface Submission {
  /** A submission is under way. */
  busy: boolean;
  /** Why the last submission failed (for `fieldError` and `formError`); cleared by the next. */
  error: unknown;
  /**
   * Runs `fn` unless a submission is already under way, so a double click or a second Enter
   * submits once. A rejection becomes `error`. Unmounting aborts `signal` (pass it to `call`
   * so nothing more happens) and nothing is set after that.
   */
  submit(fn: (signal: AbortSignal) => Promise<void>): void;
  setError(error: unknown): void;
}

/** The state of a form's submission: busy, its error, and the one submit at a time. */
export function useSubmit(): Submission {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const running = useRef<AbortController | undefined>(undefined);
  useEffect(() => () => running.current?.abort(), []);

  const submit = useCallback((fn: (signal: AbortSignal) => Promise<void>) => {
    if (running.current) return;
    const controller = new AbortController();
    running.current = controller;
    setBusy(true);
    setError(undefined);
    fn(controller.signal)
      .catch((err: unknown) => {
        if (!controller.signal.aborted) setError(err);
      })
      .finally(() => {
        if (controller.signal.aborted) return;
        running.current = undefined;
        setBusy(false);
      });
  }, []);
  return { busy, error, submit, setError };
}

/** `value`, once it has stopped changing for `ms`. */
export function useDebounced<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return settled;
}

/**
 * A filter kept in the address's query (`?role=edit`): a reload keeps it, and each change is a
 * history entry, so Back undoes it. Empty means absent.
 */
export function useSearchParam(name: string): [string, (value: string) => void] {
  const { search } = useLocation();
  const value = search.get(name) ?? '';
  const set = useCallback(
    (next: string) => {
      const params = new URLSearchParams(window.location.search);
      if (next) params.set(name, next);
      else params.delete(name);
      const query = params.toString();
      navigate(`${window.location.pathname}${query ? `?${query}` : ''}`);
    },
    [name],
  );
  return [value, set];
}

export interface SearchBox {
  /** What is typed. */
  text: string;
  setText(text: string): void;
  /** What the address says, once typing has paused: what to search for. */
  value: string;
}

/**
 * A search box kept in the address's query: the query follows the typing once it pauses (one
 * history entry per search, not per key), and the box follows the address on Back and Forward.
 */
export function useSearchBox(name: string, ms = 300): SearchBox {
  const [value, setValue] = useSearchParam(name);
  const [text, setText] = useState(value);
  const settled = useDebounced(text, ms);
  const shown = useRef(value);
  useEffect(() => {
    if (value === shown.current) return;
    shown.current = value;
    setText(value);
  }, [value]);
  useEffect(() => {
    const typed = settled.trim();
    if (typed === shown.current) return;
    shown.current = typed;
    setValue(typed);
  }, [settled, setValue]);
  return { text, setText, value };
}

/** Removes every filter from the address (the "Clear filters" button). */
export function clearSearchParams(): void {
  navigate(window.location.pathname);
}

/** Sets the document title for a page. */
export function useTitle(title: string): void {
  useEffect(() => {
    document.title = title ? `${title} · Infra` : 'Infra';
  }, [title]);
}
