/**
 * The leader lease of a log shared by several frontends (issue #11, "Several frontends"): exactly one frontend at a
 * time sequences and publishes; the others serve reads and forward writes to it.
 *
 * Implementations: `s3-lease.ts` (a conditional-write lease object in the log's bucket) and `postgres.ts` (a lease
 * row in PostgreSQL). Both MUST pass the same behaviour tests (test/e2e/s3-lease.test.ts, test/e2e/postgres.test.ts).
 *
 * Invariants every implementation MUST keep:
 * - At most one candidate holds an unexpired lease at a time, judged by the store (its compare-and-swap or its
 *   row lock), never by comparing wall clocks of different machines.
 * - `epoch` strictly increases every time the holder changes (a takeover, or an acquisition after a release), and
 *   stays the same while one holder renews. It is the fencing token: storage refuses writes stamped with an epoch
 *   older than the newest it has seen (server/storage/s3-storage.ts `fence`).
 * - A holder's `validUntil` is computed from the holder's own monotonic clock, from the moment *before* the
 *   acquiring request was sent, minus a safety margin: a holder stops acting as leader before any other
 *   candidate can possibly take the lease over.
 */

/** A frontend competing for the lease. */
export interface LeaseCandidate {
  /** Unique per process start (random): a restarted frontend is a new holder. */
  readonly holder: string;
  /** Base URL (http://host:port) where the other frontends forward writes to this one when it leads. */
  readonly url: string;
}

/** The lease in force. */
export interface LeaseRecord {
  readonly holder: string;
  readonly url: string;
  /** Fencing token; see the invariants above. */
  readonly epoch: bigint;
}

/** The outcome of {@link LeaseStore.tryAcquire}. */
export interface LeaseAttempt {
  /** The lease now in force (mine or another's); undefined when no lease exists or the last holder released it. */
  readonly lease: LeaseRecord | undefined;
  /** True if the candidate holds it now; then `validUntil` is set. */
  readonly mine: boolean;
  /** `performance.now()` ms until which the candidate may act as leader (only when `mine`). */
  readonly validUntil?: number;
}

/** A lease shared by the frontends of one log. */
export interface LeaseStore {
  /**
   * Acquires the lease if it is free, expired, or already the candidate's (then renews it, same epoch). When
   * another candidate holds an unexpired lease, resolves with `mine: false` and that lease (never throws for it).
   * Rejects only on storage errors (the caller then treats itself as not leading once `validUntil` passes).
   * `ttlMs`: how long the lease lasts without renewal; callers renew every ttl/4.
   */
  tryAcquire(me: LeaseCandidate, ttlMs: number): Promise<LeaseAttempt>;
  /** Gives the lease up if `me` holds it, so that another candidate may take it at once (clean shutdown). */
  release(me: LeaseCandidate): Promise<void>;
  close(): Promise<void>;
}
