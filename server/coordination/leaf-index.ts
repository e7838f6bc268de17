/**
 * A duplicate-detection index shared by every frontend of a log (issue #11, "Duplicate detection"): leaf hash
 * (or record identity hash) → leaf index. Implementations: the create-only `.tilelog/leaf/<hex>` objects inside
 * server/storage/s3-storage.ts (one GET + one PUT per new entry), and `postgres.ts` (one query per batch).
 *
 * Invariants: `record` is idempotent and keeps the FIRST index of a key (a key already present is never
 * overwritten); when `record` resolves the rows are durable; `lookup` sees every `record` that resolved before it
 * started, from any process.
 */
import type { Hash } from '../core/hash.js';

export interface LeafIndexStore {
  /** The leaf index of each key (32-byte hash), undefined where the key is not recorded. Same order as `keys`. */
  lookup(keys: readonly Hash[]): Promise<(bigint | undefined)[]>;
  /** Records key → index for each entry (see the invariants). */
  record(entries: readonly { readonly leafHash: Hash; readonly leafIndex: bigint }[]): Promise<void>;
  close(): Promise<void>;
}
