import { createRequire } from 'node:module';
import type { Writable } from 'node:stream';
import type * as Yaml from 'yaml';

/** What `-o/--output` accepts, as kubectl names them. */
export const OUTPUT_FORMATS = ['table', 'json', 'yaml', 'name'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** How a list looks as a table and by name. */
export interface ListView<T> {
  headers: string[];
  row: (item: T) => string[];
  /** The item's name for `-o name` (one a line, for scripts). */
  name: (item: T) => string;
  /** What the table says when there is nothing: that there are none, and how to add some. */
  empty: string;
}

/** Prints a list in the format asked for. */
export function printList<T>(
  out: Writable,
  format: OutputFormat,
  items: T[],
  view: ListView<T>,
): void {
  if (format === 'table') {
    if (items.length === 0) out.write(`${view.empty}\n`);
    else printTable(out, view.headers, items.map(view.row));
  } else if (format === 'name') {
    for (const item of items) out.write(`${view.name(item)}\n`);
  } else printValue(out, format, items);
}

/** Prints a value as JSON or YAML. */
export function printValue(out: Writable, format: 'json' | 'yaml', value: unknown): void {
  if (format === 'json') printJson(out, value);
  // yaml (80 files) loads only for -o yaml: every command's start would pay for it otherwise.
  else out.write((createRequire(import.meta.url)('yaml') as typeof Yaml).stringify(value));
}

/** A borderless, left-aligned table: two spaces between columns, headers in capitals. */
export function printTable(out: Writable, headers: string[], rows: string[][]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  out.write(`${line(headers.map((h) => h.toUpperCase()))}\n`);
  for (const row of rows) out.write(`${line(row)}\n`);
}

export function printJson(out: Writable, value: unknown): void {
  out.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** "5 minutes ago", "in 3 days", "never": times for people. */
export function humanTime(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const diff = Date.parse(iso) - now;
  const abs = Math.abs(diff);
  const units: Array<[string, number]> = [
    ['day', 86_400_000],
    ['hour', 3_600_000],
    ['minute', 60_000],
  ];
  const [unit, size] = units.find(([, size]) => abs >= size) ?? ['second', 1000];
  const n = Math.max(1, Math.round(abs / size));
  const text = `${n} ${unit}${n === 1 ? '' : 's'}`;
  return diff < 0 ? `${text} ago` : `in ${text}`;
}
