/**
 * The PostgreSQL tables of the coordination backend (issue #11, "Scale out": PostgreSQL for coordination). Several
 * logs share one database: each is named by a text `log` (the S3 location `bucket/prefix`, or the origin).
 *
 * - `tilelog_log (id, log)`: a small integer id per log, so that the leaf index's rows and primary key carry 4
 *   bytes instead of the log's name.
 * - `tilelog_lease (log, holder, url, epoch, expires_at)`: one row per log; see postgres-lease.ts.
 * - `tilelog_leaf_index (log_id, key, leaf_index)`: primary key (log_id, key); see postgres-leaf-index.ts.
 *
 * Invariants: {@link ensureSchema} is idempotent and safe when several frontends open at once (the DDL runs in one
 * transaction under a transaction-level advisory lock); it never drops or alters existing tables. When every table
 * exists already it runs no DDL at all, so a role without CREATE privilege works on a schema made by an admin.
 */
import type { PoolClient } from 'pg';

/** Key of the transaction-level advisory lock taken around the DDL ('tilelog' in ASCII). */
const SCHEMA_LOCK = '32767011577425767';

const TABLES = ['tilelog_log', 'tilelog_lease', 'tilelog_leaf_index'] as const;

const DDL = [
  `CREATE TABLE IF NOT EXISTS tilelog_log (
     id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     log text NOT NULL UNIQUE
   )`,
  `CREATE TABLE IF NOT EXISTS tilelog_lease (
     log text PRIMARY KEY,
     holder text NOT NULL,
     url text NOT NULL,
     epoch bigint NOT NULL CHECK (epoch > 0),
     expires_at timestamptz NOT NULL
   )`,
  `CREATE TABLE IF NOT EXISTS tilelog_leaf_index (
     log_id integer NOT NULL,
     key bytea NOT NULL,
     leaf_index bigint NOT NULL CHECK (leaf_index >= 0),
     PRIMARY KEY (log_id, key)
   )`,
];

/** Creates the tables if missing and returns the id of `log` in `tilelog_log` (inserting it if new). */
export async function ensureSchema(client: PoolClient, log: string): Promise<number> {
  const { rows } = await client.query<{ n: string }>(
    'SELECT count(*) AS n FROM unnest($1::text[]) AS t(name) WHERE to_regclass(t.name) IS NOT NULL',
    [TABLES],
  );
  if (Number(rows[0]?.n) !== TABLES.length) {
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [SCHEMA_LOCK]);
      for (const ddl of DDL) await client.query(ddl);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
  }
  // Two frontends may insert the same new log at once: ON CONFLICT DO NOTHING waits for the other and skips.
  await client.query('INSERT INTO tilelog_log (log) VALUES ($1) ON CONFLICT (log) DO NOTHING', [log]);
  const id = await client.query<{ id: number }>('SELECT id FROM tilelog_log WHERE log = $1', [log]);
  const row = id.rows[0];
  if (row === undefined) throw new Error(`tilelog_log has no row for ${JSON.stringify(log)}`);
  return row.id;
}
