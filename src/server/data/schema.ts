/**
 * The tables as Kysely sees them (camelCase; the CamelCasePlugin maps to snake_case columns).
 * Timestamps are milliseconds since the epoch in a bigint column on both engines.
 */
export interface Database {
  settings: SettingsTable;
}

export interface SettingsTable {
  name: string;
  value: string;
  updatedAt: number;
}
