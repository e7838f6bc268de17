// SPEC: c2sp.org/tlog-tiles §Merkle Tree, §Log entries.
/**
 * The full audit of one signed tree: every entry bundle is fetched and each entry's leaf hash is checked against
 * its level-0 tile (ProofBuilder.verifiedEntries); every level-0 tile is authenticated against its parent tile, and
 * so on up to the right-edge tiles, which must hash to the signed root (AuthenticatedTileReader). Together that
 * rebuilds the whole tree from the entries and checks every tile of it against the signed root.
 *
 * Resumable: it starts at the bundle holding entry `from` (the leading entries verified earlier, against this tree
 * or an older verified tree proven consistent with it — the first hashes of a tile never change as a tree grows)
 * and reports progress after each batch of bundles, so the caller can store it.
 */
import type { ProofBuilder, TileFetcher, TileRef } from '../tlog/index.js';
import { TILE_WIDTH, tileWidth } from '../../server/core/tile.js';

/** Options of {@link fullAudit}. */
export interface FullAuditOptions {
  readonly builder: ProofBuilder;
  readonly fetcher: TileFetcher;
  /** Leading entries already verified (the audit restarts at the bundle holding entry `from`). */
  readonly from: bigint;
  /** Bundles verified concurrently per batch (default 64). */
  readonly batchBundles?: number;
  /** Batches in flight at once (default 3). */
  readonly pipelineDepth?: number;
  /** Called after each batch with the number of leading entries verified so far. */
  readonly onProgress?: (entries: bigint) => Promise<void> | void;
  /** Stops between batches when aborted (the progress reported so far stays valid). */
  readonly signal?: AbortSignal;
}

/** Verifies entries [from, treeSize) of the builder's signed tree; returns treeSize. Throws on the first failure. */
export async function fullAudit(o: FullAuditOptions): Promise<bigint> {
  const N = o.builder.tree.treeSize;
  const W = BigInt(TILE_WIDTH);
  const bundles = (N + W - 1n) / W;
  const k = BigInt(Math.max(1, o.batchBundles ?? 64));
  const depth = Math.max(1, o.pipelineDepth ?? 3);
  const verifyBatch = async (b: bigint, end: bigint): Promise<void> => {
    const refs: TileRef[] = [];
    for (let i = b; i < end; i++) refs.push({ kind: 'hash', level: 0, index: i, width: tileWidth(0, i, N) });
    // One read authenticates the batch's level-0 tiles together (their parents fetched and checked once); the
    // verifiedEntries calls below then find them in the reader's cache.
    await o.builder.reader.read(refs);
    await Promise.all(refs.map((t) => o.builder.verifiedEntries(o.fetcher, t.index)));
  };
  // Up to `depth` batches in flight; progress is reported in order, so it only ever covers verified entries.
  const inFlight: { end: bigint; done: Promise<void> }[] = [];
  let b = (o.from < N ? o.from : N) / W;
  try {
    while (b < bundles || inFlight.length > 0) {
      while (b < bundles && inFlight.length < depth && o.signal?.aborted !== true) {
        const end = b + k < bundles ? b + k : bundles;
        const done = verifyBatch(b, end);
        done.catch(() => undefined); // awaited below, in order
        inFlight.push({ end, done });
        b = end;
      }
      const first = inFlight.shift();
      if (first === undefined) break;
      await first.done;
      await o.onProgress?.(first.end * W < N ? first.end * W : N);
    }
  } finally {
    await Promise.allSettled(inFlight.map((f) => f.done));
  }
  return N;
}
