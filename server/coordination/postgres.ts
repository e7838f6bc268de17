/**
 * PostgreSQL for coordination (issue #11, "Scale out"): the leader lease and the shared duplicate-detection index
 * of a log whose frontends share one database. Opened once per `tilelog serve` frontend.
 *
 * - `url`: a `postgres://user:password@host:port/database` connection string; whatever it leaves out comes from the
 *   standard PG* environment variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, …) as the `pg` client
 *   reads them, so `''` means "all from the environment".
 * - `log`: names the log within the database (the S3 location `bucket/prefix`, or the origin), so several logs can
 *   share one database.
 *
 * Invariants: the schema (postgres-schema.ts) is created idempotently at open, safely when several frontends open
 * at once. Every store call is a single round trip on a small pool (see postgres-lease.ts and
 * postgres-leaf-index.ts for their invariants). Connection and query errors reject the call that met them (the
 * caller handles them); errors of idle connections go to `onError` and never crash the process. Every wait is
 * bounded (connect timeout, statement timeout).
 */
import pg from 'pg';
import type { LeafIndexStore } from './leaf-index.js';
import type { LeaseStore } from './lease.js';
import { postgresLeafIndex } from './postgres-leaf-index.js';
import { postgresLease } from './postgres-lease.js';
import { ensureSchema } from './postgres-schema.js';

/** Options of {@link openPostgresCoordination}; all optional. */
export interface PostgresCoordinationOptions {
  /** Connections in the pool. Default 4. */
  readonly maxConnections?: number;
  /** How long to wait for a connection (ms) before the call rejects. Default 5,000. */
  readonly connectTimeoutMs?: number;
  /** Server-side statement timeout (ms); the client gives up 2 s later. Default 15,000. */
  readonly statementTimeoutMs?: number;
  /** Errors of idle pooled connections (the database went away, …); they never throw. Default: ignored. */
  readonly onError?: (err: Error) => void;
}

/** The coordination stores of one log; {@link PostgresCoordination.close} ends the shared connection pool. */
export interface PostgresCoordination {
  readonly lease: LeaseStore;
  readonly leafIndex: LeafIndexStore;
  /** Ends the pool (idempotent). `lease.close()` and `leafIndex.close()` end it too once both were called. */
  close(): Promise<void>;
}

/**
 * Connects to `url`, creates the schema if missing, registers `log`, and returns its lease and leaf index.
 * Rejects (and leaves nothing open) if the database cannot be reached or the schema cannot be made.
 */
export async function openPostgresCoordination(
  url: string,
  log: string,
  opts: PostgresCoordinationOptions = {},
): Promise<PostgresCoordination> {
  if (log === '') throw new RangeError('log must name the log (e.g. bucket/prefix or the origin)');
  const statementTimeoutMs = opts.statementTimeoutMs ?? 15_000;
  const pool = new pg.Pool({
    ...(url === '' ? {} : { connectionString: url }),
    max: opts.maxConnections ?? 4,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 5_000,
    statement_timeout: statementTimeoutMs,
    query_timeout: statementTimeoutMs + 2_000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    application_name: 'tilelog',
  });
  const onError = opts.onError ?? (() => {});
  pool.on('error', (err) => onError(err));

  let ended: Promise<void> | undefined;
  const end = (): Promise<void> => (ended ??= pool.end().catch((err: unknown) => onError(err as Error)));

  let logId: number;
  try {
    const client = await pool.connect();
    // A checked-out client has no pool listener: without ours, a server message between two queries (the server
    // shutting down) would be an uncaught 'error' event. The failing query rejects anyway.
    const clientError = (err: Error) => onError(err);
    client.on('error', clientError);
    try {
      logId = await ensureSchema(client, log);
      // The leaf index promises durability on resolve: never run with synchronous_commit off.
      const sc = await client.query<{ synchronous_commit: string }>('SHOW synchronous_commit');
      if (sc.rows[0]?.synchronous_commit === 'off') {
        pool.on('connect', (c) => {
          c.query('SET synchronous_commit = on').catch((err: unknown) => onError(err as Error));
        });
        await client.query('SET synchronous_commit = on');
      }
    } finally {
      client.removeListener('error', clientError);
      client.release();
    }
  } catch (err) {
    await end();
    throw err;
  }

  let open = 2;
  const closeOne = (): (() => Promise<void>) => {
    let closed = false;
    return async () => {
      if (closed) return;
      closed = true;
      if (--open === 0) await end();
    };
  };
  return {
    lease: postgresLease(pool, log, closeOne()),
    leafIndex: postgresLeafIndex(pool, logId, closeOne()),
    close: end,
  };
}
