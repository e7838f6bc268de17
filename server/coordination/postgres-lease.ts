/**
 * The leader lease as a row in PostgreSQL (issue #11, "Several frontends": exactly one frontend at a time sequences
 * and publishes). One row per log in `tilelog_lease` (postgres-schema.ts).
 *
 * Invariants (those of {@link LeaseStore}, kept here by the database):
 * - One atomic statement acquires or renews: `INSERT … ON CONFLICT (log) DO UPDATE … WHERE holder = me OR
 *   expires_at <= clock_timestamp()`. The row lock of ON CONFLICT serialises concurrent candidates, so at most one
 *   of them holds an unexpired lease. Every time judgement uses the DATABASE's clock (`clock_timestamp()`), never a
 *   frontend's.
 * - `epoch` starts at 1 and increases by one every time the lease is taken by a holder that did not hold it
 *   unexpired (a takeover, an acquisition after a release, or a holder coming back after its own lease expired);
 *   a renewal of an unexpired lease keeps it. `release` expires the row but keeps its epoch, so the next holder
 *   gets epoch + 1. Epochs are int8: read as strings and converted with BigInt, never Number.
 * - `validUntil` = `performance.now()` taken BEFORE the query was sent + ttl − ttl/4 (the safety margin): the
 *   database sets `expires_at` later than that moment, so the holder stops leading before anyone can take over
 *   (given clock rates that differ by less than the margin).
 */
import { performance } from 'node:perf_hooks';
import type { Pool } from 'pg';
import type { LeaseAttempt, LeaseCandidate, LeaseRecord, LeaseStore } from './lease.js';

/** Fraction of the ttl a holder gives up as safety margin (see the invariants). */
export const LEASE_SAFETY_FRACTION = 0.25;

const ACQUIRE = `
  INSERT INTO tilelog_lease AS l (log, holder, url, epoch, expires_at)
  VALUES ($1, $2, $3, 1, clock_timestamp() + $4::float8 * interval '1 millisecond')
  ON CONFLICT (log) DO UPDATE SET
    holder = EXCLUDED.holder,
    url = EXCLUDED.url,
    epoch = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > clock_timestamp() THEN l.epoch ELSE l.epoch + 1 END,
    expires_at = clock_timestamp() + $4::float8 * interval '1 millisecond'
  WHERE l.holder = EXCLUDED.holder OR l.expires_at <= clock_timestamp()
  RETURNING holder, url, epoch::text AS epoch`;

const CURRENT = `
  SELECT holder, url, epoch::text AS epoch FROM tilelog_lease
  WHERE log = $1 AND expires_at > clock_timestamp()`;

const RELEASE = `
  UPDATE tilelog_lease SET expires_at = '-infinity'
  WHERE log = $1 AND holder = $2 AND expires_at > clock_timestamp()`;

interface LeaseRow {
  holder: string;
  url: string;
  epoch: string;
}

function toRecord(row: LeaseRow): LeaseRecord {
  return { holder: row.holder, url: row.url, epoch: BigInt(row.epoch) };
}

/**
 * A {@link LeaseStore} over `pool` for the log named `log`. `close` is delegated to `onClose` (the pool is shared
 * with the leaf index; see postgres.ts).
 */
export function postgresLease(pool: Pool, log: string, onClose: () => Promise<void>): LeaseStore {
  return {
    async tryAcquire(me: LeaseCandidate, ttlMs: number): Promise<LeaseAttempt> {
      if (!(Number.isFinite(ttlMs) && ttlMs > 0)) throw new RangeError(`ttlMs must be a positive number, not ${ttlMs}`);
      const sentAt = performance.now();
      const won = await pool.query<LeaseRow>(ACQUIRE, [log, me.holder, me.url, ttlMs]);
      const row = won.rows[0];
      if (row !== undefined) {
        return { lease: toRecord(row), mine: true, validUntil: sentAt + ttlMs - ttlMs * LEASE_SAFETY_FRACTION };
      }
      // Held, unexpired, by another candidate (or released/expired in between: then no lease is in force).
      const current = await pool.query<LeaseRow>(CURRENT, [log]);
      const cur = current.rows[0];
      return { lease: cur === undefined ? undefined : toRecord(cur), mine: false };
    },

    async release(me: LeaseCandidate): Promise<void> {
      await pool.query(RELEASE, [log, me.holder]);
    },

    close: onClose,
  };
}
