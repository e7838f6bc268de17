/**
 * The storage interface of the log: everything the sequencer and the read path need, and nothing more.
 *
 * One implementation per backend; `level-storage.ts` (LevelDB via `level`) is the embedded default and
 * `memory-storage.ts` serves tests with fault injection. A backend MUST pass `test/unit/storage-conformance`.
 *
 * Contract (every implementation MUST honour it; the log's crash safety rests on it):
 * - {@link LogStorage.commit} is atomic and durable: when it resolves, every tile, every leaf-index entry and the
 *   new tree state are on stable storage together; when it rejects or the process dies before it resolves,
 *   either none of them or all of them are stored (never a mix), and the caller must re-read the tree state.
 * - {@link LogStorage.writeCheckpoint} is durable when it resolves.
 * - Reads observe every commit that has resolved (read-after-write consistency).
 * - Tiles are only ever extended: a later commit may store a tile with more hashes than before, and the
 *   first hashes never change.
 */
import type { Hash } from '../core/hash.js';
import type { TileData } from '../core/edge.js';
import type { TileRef } from '../core/tile.js';

/**
 * A commit lost a race: another writer (another frontend sharing the same storage) extended the tree first, so
 * nothing of this commit was stored. The caller re-reads the tree ({@link LogStorage.readTree}) and retries.
 * Only backends shared by several processes (S3) throw it; it is how they fence a stale writer.
 */
export class StorageConflict extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StorageConflict';
  }
}

/**
 * This process was fenced: a newer leader (a larger lease epoch, server/coordination/lease.ts) stamped the shared
 * tree, so nothing this process writes from now on is accepted (nothing of the failed write was stored). The
 * caller stops sequencing and publishing and forwards writes to the leader instead.
 */
export class Fenced extends Error {
  constructor(
    /** The epoch this process wrote with. */
    readonly epoch: bigint,
    /** The newer epoch found in storage. */
    readonly storedEpoch: bigint,
  ) {
    super(`fenced: the tree is owned by lease epoch ${storedEpoch}, this process writes with epoch ${epoch}`);
    this.name = 'Fenced';
  }
}

/** The integrated tree: size and root hash (RFC 9162 MTH). */
export interface TreeState {
  readonly treeSize: bigint;
  readonly rootHash: Hash;
}

/** One atomic, durable step of the sequencer: new tiles, the leaf-hash index of new entries, the new tree. */
export interface Commit {
  readonly tiles: readonly TileData[];
  /** leafHash → leafIndex of every entry added by this commit (for duplicate detection and lookup by hash). */
  readonly leafIndexes: readonly { readonly leafHash: Hash; readonly leafIndex: bigint }[];
  readonly tree: TreeState;
  /**
   * The size of the tree this commit extends. Shared storage refuses a commit whose base is not the stored tree
   * (StorageConflict): a batch computed on a tree that another leader has extended since must never be swapped in.
   */
  readonly previousTreeSize?: bigint;
}

/** Storage of a single log. */
export interface LogStorage {
  /** The last committed tree, or undefined for a log that never committed. */
  readTree(): Promise<TreeState | undefined>;
  /** The stored bytes of each tile (possibly more hashes/entries than `width`), undefined where none is stored. */
  readTiles(tiles: readonly TileRef[]): Promise<(Uint8Array | undefined)[]>;
  /** The leaf index of each leaf hash, undefined where the hash is not in the log. */
  lookupLeafHashes(leafHashes: readonly Hash[]): Promise<(bigint | undefined)[]>;
  /** Atomically and durably applies a commit (see the contract above). */
  commit(c: Commit): Promise<void>;
  /** The latest published checkpoint (signed note text), or undefined. */
  readCheckpoint(): Promise<string | undefined>;
  /** Durably stores the latest published checkpoint (signed note text). */
  writeCheckpoint(checkpoint: string): Promise<void>;
  /**
   * Shared storage only (several frontends, one leader at a time): from now on this process writes with lease
   * `epoch`, and the stored tree is stamped with it by a compare-and-swap, so that every later commit or checkpoint
   * write of a process holding an older epoch is refused ({@link Fenced}). Precondition: `epoch` comes from a lease
   * this process holds; `leaseKind` names the lease store (epochs of different stores are not comparable). Rejects
   * with {@link Fenced} if the stored epoch of the same store is already newer.
   */
  fence?(epoch: bigint, leaseKind?: string): Promise<void>;
  close(): Promise<void>;
}
