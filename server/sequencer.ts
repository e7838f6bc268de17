/**
 * The sequencer: pool → batch → durable commit → integrated.
 *
 * Lifecycle of an entry (Tessera's words): *sequenced* once its index is durably assigned, *integrated* once its
 * leaf and the tiles above it are stored, *published* once a signed checkpoint covers it (publisher.ts).
 * Here sequencing and integration are one atomic storage commit, so an acknowledged entry is both.
 *
 * {@link Sequencer.add} MUST NOT resolve to an index unless that index has been durably committed.
 *
 * Concurrency: one flush at a time. The edge, the tree and the pool are owned by the sequencer and mutated only in
 * {@link Sequencer.add} (pool) and {@link Sequencer.flush} (everything else); JavaScript's single thread makes each
 * synchronous section atomic.
 */
import { TlogError } from './core/errors.js';
import { EMPTY_ROOT, leafHash, type Hash } from './core/hash.js';
import { checkEntrySize } from './core/entry-bundle.js';
import { EMPTY_EDGE, edgeFromTiles, edgeRoot, edgeTiles, integrate, type TreeEdge } from './core/edge.js';
import { bytesEqual, encodeHex } from './core/strict.js';
import { Fenced, StorageConflict, type LogStorage, type TreeState } from './storage/storage.js';
import { isStorageUnavailable } from './errors.js';

/** The error of a write refused while storage is unavailable (full disk, I/O error): 503, retry later. */
function unavailableError(cause: unknown): TlogError {
  if (cause instanceof TlogError && cause.code === 'UNAVAILABLE') return cause;
  return new TlogError('UNAVAILABLE', 'storage is unavailable (disk full or I/O error); retry later', { cause, retryAfter: 5 });
}

/** Tuning of the pool and the batches. */
export interface SequencerOptions {
  /** Commit as soon as this many entries are pooled. */
  readonly batchSize: number;
  /**
   * Most entries in one commit (group commit: what pooled up while the previous commit was syncing goes into the
   * next one, up to this cap). Default: 16 × batchSize.
   */
  readonly maxBatchEntries?: number;
  /** Commit at most this long after the first entry entered an empty pool. */
  readonly batchDelayMs: number;
  /** Entries that may wait in the pool; beyond it, add() rejects with PUSHBACK (HTTP 503 + Retry-After). */
  readonly maxPending: number;
}

/** The outcome of adding one entry. */
export interface AddResult {
  readonly leafIndex: bigint;
  readonly leafHash: Hash;
  /** True if the entry was already in the log: nothing was appended, `leafIndex` is the existing one. */
  readonly duplicate: boolean;
}

/** Observers of the sequencer (metrics, publisher). All optional. */
export interface SequencerHooks {
  /** After each durable commit: the new tree, the number of entries appended and of duplicates. */
  committed?(tree: TreeState, appended: number, duplicates: number, batchEntries: number): void;
  /** For each request once sequenced: its submission time, and its largest leaf index. */
  sequenced?(submittedAt: number, maxIndex: bigint): void;
  /** A commit failed; the sequencer reloaded (or could not reload) its state from storage. */
  commitFailed?(err: unknown): void;
  /** A commit was refused because a newer leader fenced this process (shared storage): stop leading. */
  fenced?(err: Fenced): void;
}

interface PoolRequest {
  readonly entries: readonly Uint8Array[];
  readonly leafHashes: readonly Hash[];
  /** Duplicate-detection keys: the leaf hash, or an identity hash the caller derived from the record's origin. */
  readonly keys: readonly Hash[];
  readonly submittedAt: number;
  readonly resolve: (r: AddResult[]) => void;
  readonly reject: (e: unknown) => void;
  /** Commits of this request lost to another writer so far (shared storage); bounded by MAX_CONFLICTS. */
  conflicts: number;
}

/** A request whose commit lost this many races to other writers is rejected with PUSHBACK (retry later). */
const MAX_CONFLICTS = 20;

/** Loads the tree and its right edge from storage, checking that the stored tiles hash to the stored root. */
export async function loadTree(storage: LogStorage): Promise<{ tree: TreeState; edge: TreeEdge }> {
  const tree = (await storage.readTree()) ?? { treeSize: 0n, rootHash: EMPTY_ROOT };
  if (tree.treeSize === 0n) return { tree, edge: EMPTY_EDGE };
  const refs = edgeTiles(tree.treeSize);
  const data = await storage.readTiles(refs);
  const missing = refs.findIndex((_, i) => data[i] === undefined);
  if (missing >= 0) throw new Error(`storage: edge tile ${missing} of tree size ${tree.treeSize} is missing`);
  const edge = edgeFromTiles(tree.treeSize, refs, data as Uint8Array[]);
  if (!bytesEqual(edgeRoot(edge), tree.rootHash)) throw new Error(`storage: stored tiles do not hash to the stored root at size ${tree.treeSize}`);
  return { tree, edge };
}

export class Sequencer {
  private pool: PoolRequest[] = [];
  private pooled = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private draining = false;
  private fatal: unknown;
  /** A commit failed and the state could not be re-read yet (storage unavailable): re-read before sequencing. */
  private stale: unknown;

  private constructor(
    private readonly storage: LogStorage,
    private readonly opts: SequencerOptions,
    private tree_: TreeState,
    private edge_: TreeEdge,
    private readonly hooks: SequencerHooks,
    private readonly now: () => number,
  ) {}

  /** Opens the sequencer on the stored tree. */
  static async open(storage: LogStorage, opts: SequencerOptions, hooks: SequencerHooks = {}, now: () => number = Date.now): Promise<Sequencer> {
    const { tree, edge } = await loadTree(storage);
    return new Sequencer(storage, opts, tree, edge, hooks, now);
  }

  /** The integrated (durably committed) tree. */
  get tree(): TreeState {
    return this.tree_;
  }

  /** The right edge of the integrated tree (partial tiles and bundle), for serving them from memory. */
  get edge(): TreeEdge {
    return this.edge_;
  }

  /** Entries waiting in the pool. */
  get pending(): number {
    return this.pooled;
  }

  /** False once the sequencer has failed for good (storage inconsistent), while storage is unavailable, or draining. */
  get healthy(): boolean {
    return this.fatal === undefined && this.stale === undefined && !this.draining;
  }

  /**
   * Adds entries; resolves once they are durably sequenced (or found to be duplicates), in the order given.
   * Rejects with TOO_LARGE for an entry over 65,535 bytes (nothing is added), PUSHBACK when the pool is full or
   * the log is draining, INTERNAL if storage has failed.
   */
  add(entries: readonly Uint8Array[], identities?: readonly (Hash | undefined)[]): Promise<AddResult[]> {
    if (this.fatal !== undefined) return Promise.reject(new TlogError('INTERNAL', 'the log cannot write: storage failed', { cause: this.fatal }));
    if (this.draining) return Promise.reject(new TlogError('PUSHBACK', 'the log is shutting down', { retryAfter: 1 }));
    try {
      entries.forEach((e, i) => checkEntrySize(e, entries.length === 1 ? 'entry' : `entry ${i}`));
    } catch (err) {
      return Promise.reject(err);
    }
    if (entries.length === 0) return Promise.resolve([]);
    if (entries.length > this.opts.maxPending) {
      return Promise.reject(new TlogError('TOO_LARGE', `${entries.length} entries in one request; at most ${this.opts.maxPending}`));
    }
    if (this.pooled + entries.length > this.opts.maxPending) {
      return Promise.reject(new TlogError('PUSHBACK', 'too many entries waiting to be sequenced; retry later', { retryAfter: 1 }));
    }
    const leafHashes = entries.map(leafHash);
    const keys = identities === undefined ? leafHashes : leafHashes.map((h, i) => identities[i] ?? h);
    return new Promise<AddResult[]>((resolve, reject) => {
      this.pool.push({ entries, leafHashes, keys, submittedAt: this.now(), resolve, reject, conflicts: 0 });
      this.pooled += entries.length;
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.flushing !== undefined) return; // the running flush reschedules when it ends
    if (this.pooled >= this.opts.batchSize || this.draining) {
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = undefined;
      this.flushing = this.flushLoop();
    } else if (this.timer === undefined && this.pooled > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        if (this.flushing === undefined) this.flushing = this.flushLoop();
      }, this.opts.batchDelayMs);
    }
  }

  private async flushLoop(): Promise<void> {
    try {
      // Group commit: what pooled up while a commit was syncing goes into the next commit at once (the sync was
      // its waiting time); the batch delay only applies to the first entry into an idle pool.
      do {
        await this.flush();
      } while (this.pooled > 0 && this.fatal === undefined);
    } finally {
      this.flushing = undefined;
      if (this.pooled > 0 && this.fatal === undefined) this.schedule();
    }
  }

  /** Takes whole requests from the pool, up to maxBatchEntries (at least one request, whatever its size). */
  private takeBatch(): PoolRequest[] {
    const batch: PoolRequest[] = [];
    let n = 0;
    const cap = this.opts.maxBatchEntries ?? 16 * this.opts.batchSize;
    while (this.pool.length > 0 && (n === 0 || n + (this.pool[0] as PoolRequest).entries.length <= cap)) {
      const r = this.pool.shift() as PoolRequest;
      batch.push(r);
      n += r.entries.length;
    }
    this.pooled -= n;
    return batch;
  }

  /** Sequences one batch. The one long function of the log; every durability point is commented. */
  private async flush(): Promise<void> {
    const batch = this.takeBatch();
    if (batch.length === 0) return;
    if (this.stale !== undefined) {
      // A failed commit left the state unknown and storage was unavailable since: re-read it first, or refuse.
      await this.reload();
      if (this.stale !== undefined || this.fatal !== undefined) {
        const e = this.fatal !== undefined ? new TlogError('INTERNAL', 'the log cannot write: storage failed', { cause: this.fatal }) : unavailableError(this.stale);
        for (const r of batch) r.reject(e);
        return;
      }
    }
    try {
      // Step 1: find duplicates, among the batch itself and in the log (read-only; nothing durable yet).
      const firstSeen = new Map<string, number>(); // leaf hash (latin1) → position in `unique`
      const unique: Hash[] = [];
      const positions: number[][] = batch.map((r) =>
        r.keys.map((h) => {
          const k = Buffer.from(h.buffer, h.byteOffset, h.byteLength).toString('latin1');
          let u = firstSeen.get(k);
          if (u === undefined) {
            u = unique.length;
            firstSeen.set(k, u);
            unique.push(h);
          }
          return u;
        }),
      );
      const stored = await this.storage.lookupLeafHashes(unique);

      // Step 2: assign indexes to new entries in submission order and integrate them (pure, in memory).
      let next = this.tree_.treeSize;
      const assigned: (bigint | undefined)[] = stored.slice();
      const newEntries: Uint8Array[] = [];
      const newHashes: Hash[] = [];
      const newIdentities: { leafHash: Hash; leafIndex: bigint }[] = [];
      const isNew = new Array<boolean>(unique.length).fill(false);
      batch.forEach((r, b) => {
        (positions[b] as number[]).forEach((u, i) => {
          if (assigned[u] === undefined) {
            assigned[u] = next++;
            isNew[u] = true;
            newEntries.push(r.entries[i] as Uint8Array);
            newHashes.push(r.leafHashes[i] as Hash);
            if (r.keys[i] !== r.leafHashes[i]) newIdentities.push({ leafHash: r.keys[i] as Hash, leafIndex: assigned[u] as bigint });
          }
        });
      });
      const integration = integrate(this.edge_, newEntries, newHashes);
      const tree: TreeState = { treeSize: integration.edge.treeSize, rootHash: integration.rootHash };
      // Both keys of an entry added with an identity go into the index: its leaf hash (lookups by hash) and its
      // identity (duplicate detection of the same record sent again with other bytes).
      const leafIndexes = [...newHashes.map((h, i) => ({ leafHash: h, leafIndex: this.tree_.treeSize + BigInt(i) })), ...newIdentities];

      // Step 3 — DURABILITY POINT: one atomic, synced commit of tiles, bundles, leaf-hash index and tree state.
      // Crash before it resolves: none of this batch survives, no client was told an index, the log restarts at
      // the previous tree. Crash after: the whole batch survives at exactly the indexes assigned above.
      if (newEntries.length > 0) await this.storage.commit({ tiles: integration.tiles, leafIndexes, tree, previousTreeSize: this.tree_.treeSize });

      // Step 4: the batch is sequenced and integrated. Adopt the new state, then acknowledge.
      this.tree_ = tree;
      this.edge_ = integration.edge;
      const seenInBatch = new Set<number>();
      let duplicates = 0;
      batch.forEach((r, b) => {
        const results: AddResult[] = (positions[b] as number[]).map((u, i) => {
          const h = r.leafHashes[i] as Hash;
          const duplicate = !isNew[u] || seenInBatch.has(u);
          seenInBatch.add(u);
          if (duplicate) duplicates++;
          return { leafIndex: assigned[u] as bigint, leafHash: h, duplicate };
        });
        let max = 0n;
        for (const x of results) if (x.leafIndex > max) max = x.leafIndex;
        this.hooks.sequenced?.(r.submittedAt, max);
        r.resolve(results);
      });
      this.hooks.committed?.(tree, newEntries.length, duplicates, newEntries.length + duplicates);
    } catch (err) {
      if (err instanceof Fenced) {
        // A newer leader owns the tree: nothing of this batch was stored, and this process may not write any more.
        // The requests are refused with NOT_LEADER, which the log turns into forwarding to the leader.
        this.hooks.fenced?.(err);
        const e = new TlogError('NOT_LEADER', 'this frontend is no longer the leader; retry', { cause: err, retryAfter: 1 });
        for (const r of batch) r.reject(e);
        return;
      }
      if (err instanceof StorageConflict) {
        // Another writer extended the tree first; nothing of this batch was stored. Re-read the tree (which also
        // completes the winner's commit and its leaf index, so duplicates are found) and sequence the batch again.
        await this.reload();
        if (this.fatal === undefined) {
          const retry = batch.filter((r) => ++r.conflicts <= MAX_CONFLICTS);
          for (const r of batch) if (r.conflicts > MAX_CONFLICTS) r.reject(new TlogError('PUSHBACK', 'too much write contention between frontends; retry later', { retryAfter: 1 }));
          this.pool.unshift(...retry);
          this.pooled += retry.reduce((n, r) => n + r.entries.length, 0);
        } else {
          for (const r of batch) r.reject(new TlogError('INTERNAL', 'the log cannot write: storage failed', { cause: this.fatal }));
        }
        return;
      }
      // The commit failed: storage may or may not hold the batch. Nobody was acknowledged; re-read the truth
      // before sequencing anything else, so that no index is ever handed out twice.
      const e = err instanceof TlogError ? err : isStorageUnavailable(err) ? unavailableError(err) : new TlogError('INTERNAL', 'the entries could not be stored; retry', { cause: err, retryAfter: 1 });
      this.hooks.commitFailed?.(err);
      await this.reload();
      for (const r of batch) r.reject(e);
    }
  }

  /**
   * Re-reads tree and edge from storage after a failed commit. If storage is unavailable (full disk …) the state
   * stays stale and the next batch tries again; if what it reads is inconsistent, the sequencer stops for good.
   */
  private async reload(): Promise<void> {
    try {
      const { tree, edge } = await loadTree(this.storage);
      if (tree.treeSize < this.tree_.treeSize) throw new Error(`storage went back from size ${this.tree_.treeSize} to ${tree.treeSize}`);
      this.tree_ = tree;
      this.edge_ = edge;
      this.stale = undefined;
    } catch (err) {
      if (isStorageUnavailable(err) || (err instanceof TlogError && err.code === 'UNAVAILABLE')) {
        this.stale = err;
        return;
      }
      this.fatal = err;
      const e = new TlogError('INTERNAL', 'the log cannot write: storage failed', { cause: err });
      for (const r of this.pool) r.reject(e);
      this.pool = [];
      this.pooled = 0;
    }
  }

  /**
   * Re-reads the tree from storage once no flush runs (a frontend that just became the leader, after fencing: the
   * previous leader may have extended the tree). Rejects if storage cannot be read.
   */
  async resync(): Promise<void> {
    while (this.flushing !== undefined) await this.flushing.catch(() => {});
    const run = (async () => {
      const { tree, edge } = await loadTree(this.storage);
      if (tree.treeSize < this.tree_.treeSize) throw new Error(`storage went back from size ${this.tree_.treeSize} to ${tree.treeSize}`);
      this.tree_ = tree;
      this.edge_ = edge;
      this.stale = undefined;
    })();
    this.flushing = run.catch(() => {});
    try {
      await run;
    } finally {
      this.flushing = undefined;
      if (this.pooled > 0 && this.fatal === undefined) this.schedule();
    }
  }

  /**
   * Adopts the stored tree if another writer (a frontend sharing the storage) extended it. Skipped while a
   * flush runs (that flush reads the tree itself if it loses the race). For shared storage only.
   */
  async refresh(): Promise<void> {
    if (this.flushing !== undefined) return this.flushing.catch(() => {}); // a flush or refresh is advancing the tree
    if (this.draining || this.fatal !== undefined) return;
    const run = (async () => {
      // The tree state alone first (one read); the edge tiles only when another writer extended the tree.
      const stored = await this.storage.readTree();
      if (stored === undefined || stored.treeSize <= this.tree_.treeSize) return;
      const { tree, edge } = await loadTree(this.storage);
      // Only ever forward.
      if (tree.treeSize > this.tree_.treeSize) {
        this.tree_ = tree;
        this.edge_ = edge;
      }
    })().catch(() => {}); // a transient read failure is not fatal here: the next commit or refresh re-reads
    this.flushing = run;
    try {
      await run;
    } finally {
      this.flushing = undefined;
      if (this.pooled > 0 && this.fatal === undefined) this.schedule();
    }
  }

  /** Stops accepting entries and sequences everything pooled. Resolves when the pool is empty. */
  async drain(): Promise<void> {
    this.draining = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.flushing !== undefined || this.pooled > 0) {
      if (this.flushing === undefined) this.flushing = this.flushLoop();
      await this.flushing;
      if (this.fatal !== undefined) break;
    }
  }

  /** For tests and diagnostics: a short description of the state. */
  describe(): string {
    return `size=${this.tree_.treeSize} root=${encodeHex(this.tree_.rootHash)} pending=${this.pooled}`;
  }
}
