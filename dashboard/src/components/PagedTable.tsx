import type { ReactNode } from 'react';
import type { Paged } from '../lib/hooks';
import { plural } from '../lib/format';
import { ErrorNotice, LoadMore, SkeletonRows } from './Feedback';

export interface Column<T> {
  /** The column's header, and each cell's label in the phone layout (one card per row). */
  header?: string;
  /** The row's buttons: a header only screen readers hear, and no label on phones. */
  actions?: boolean;
  cell(item: T): ReactNode;
  className?: string;
  title?(item: T): string | undefined;
}

/** How many items a list's filters find: "1,204 users", "1 matching group". */
export function ListTotal({
  list,
  one,
  filtered,
}: {
  list: { total: number | undefined; loading: boolean };
  /** The item, singular ("user"); an `s` makes the plural. */
  one: string;
  filtered: boolean;
}) {
  if (list.total === undefined || list.loading) return null;
  return (
    <p className="list-total" role="status">
      {plural(list.total, filtered ? `matching ${one}` : one)}
    </p>
  );
}

/**
 * A list the API pages, as a table: skeleton rows until the first page arrives, the error
 * with "Try again" when nothing could be loaded, `empty` when there is nothing to show, and
 * "Load more" with the count loaded while another page exists (with the error above it when
 * the next page failed). Without `empty` an empty list shows the bare table. The header row is
 * left out when no column has a header.
 */
export function PagedTable<T>({
  list,
  rows = list.items,
  rowKey,
  columns,
  caption,
  noun,
  errorTitle,
  empty,
  skeletonRows,
}: {
  list: Paged<T>;
  /** The rows to show when not all of `list.items` (a search among the loaded ones). */
  rows?: T[];
  rowKey(item: T): string | number;
  columns: Array<Column<T>>;
  /** Names the table for screen readers. */
  caption: string;
  /** What the rows are, plural: "Load more users". */
  noun: string;
  errorTitle: string;
  empty?: ReactNode;
  skeletonRows?: number;
}) {
  const head = columns.some((c) => c.header !== undefined);
  return (
    <>
      {list.error !== undefined && list.items.length === 0 ? (
        <ErrorNotice title={errorTitle} error={list.error} onRetry={list.reload} />
      ) : empty !== undefined && !list.loading && rows.length === 0 ? (
        empty
      ) : (
        <div className="table-wrap">
          <table className="table">
            <caption className="sr-only">{caption}</caption>
            {head && (
              <thead>
                <tr>
                  {columns.map((c, i) => (
                    <th key={i} scope="col">
                      {c.actions ? <span className="sr-only">Actions</span> : c.header}
                    </th>
                  ))}
                </tr>
              </thead>
            )}
            <tbody>
              {list.loading && list.items.length === 0 ? (
                <SkeletonRows columns={columns.length} rows={skeletonRows} />
              ) : (
                rows.map((item) => (
                  <tr key={rowKey(item)}>
                    {columns.map((c, i) => (
                      <td
                        key={i}
                        data-label={c.actions ? undefined : c.header}
                        className={c.actions ? 'row-actions' : c.className}
                        title={c.title?.(item)}
                      >
                        {c.cell(item)}
                      </td>
                    ))}
                  </tr>
                ))
              )}
            </tbody>
          </table>
        </div>
      )}
      {list.error !== undefined && list.items.length > 0 && (
        <ErrorNotice title={`Could not load more ${noun}`} error={list.error} />
      )}
      <LoadMore
        hasMore={list.hasMore}
        loading={list.loadingMore}
        onClick={list.loadMore}
        shown={list.items.length}
        total={list.total}
        noun={noun}
      />
    </>
  );
}
