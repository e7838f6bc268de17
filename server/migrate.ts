/**
 * Copies a log from one storage to another (LevelDB ↔ S3, or S3 → S3), resumable and verifying as it copies.
 *
 * The destination is rebuilt from the source's ENTRIES, not copied tile by tile: each chunk of entries is
 * re-integrated on the destination's edge (server/core/edge.ts), so every hash tile is recomputed, and after each
 * chunk the destination's root must equal the source's tree hash at that size (RFC 9162 MTH from the source's
 * tiles). Resuming: the destination's own tree says how far a previous run got; it must be a prefix of the
 * source (same root at its size), else the copy stops. Finally the source's checkpoint is copied (it describes a
 * prefix of what was copied, so it verifies against the destination).
 *
 * Duplicate detection: the leaf-hash index is rebuilt from the entries. The other keys of the index, the record
 * identities the ingest passed with Kubernetes audit events (server/ingest/k8s-audit.ts), are derived again from
 * the entries' bytes and copied exactly as the source has them: a row identity → i is written for entry i only when
 * the source's index maps that identity to i (so the first of two look-alike entries keeps it, as in the source).
 * Identities that are not derivable from an entry's bytes cannot be copied; the ingest passes no others.
 */
import { decodeEntryBundle } from './core/entry-bundle.js';
import { integrate } from './core/edge.js';
import { leafHash, type Hash } from './core/hash.js';
import { bytesEqual, encodeHex } from './core/strict.js';
import { TILE_WIDTH, tileWidth, type TileRef } from './core/tile.js';
import { treeHash, type TileReader } from './core/tile-proof.js';
import { auditEntryIdentity } from './ingest/k8s-audit.js';
import { loadTree } from './sequencer.js';
import type { LogStorage } from './storage/storage.js';

export interface MigrateProgress {
  readonly copied: bigint;
  readonly treeSize: bigint;
  readonly sourceSize: bigint;
}

export interface MigrateOptions {
  /** Entries per destination commit (rounded to whole bundles where possible). Default 4096. */
  readonly chunk?: number;
  /** Copy at most this many entries in this run (the next run resumes). Default: all. */
  readonly maxEntries?: bigint;
  readonly onProgress?: (p: MigrateProgress) => void;
}

/** What a run did: the source's size, the destination's size before and after. */
export interface MigrateResult {
  readonly sourceSize: bigint;
  readonly resumedAt: bigint;
  readonly treeSize: bigint;
  readonly checkpointCopied: boolean;
}

function reader(s: LogStorage): TileReader {
  return async (tiles) => {
    const data = await s.readTiles(tiles);
    return data.map((d, i) => {
      if (d === undefined) throw new Error(`source: tile ${JSON.stringify({ ...tiles[i], index: String((tiles[i] as TileRef).index) })} is missing`);
      return d;
    });
  };
}

/** Copies `src` into `dst` (see the module comment). Rejects, naming the size, on any mismatch. */
export async function migrateLog(src: LogStorage, dst: LogStorage, o: MigrateOptions = {}): Promise<MigrateResult> {
  const source = await loadTree(src); // checks the source's edge hashes to its root
  const sourceSize = source.tree.treeSize;
  const srcTiles = reader(src);
  let { tree, edge } = await loadTree(dst);
  const resumedAt = tree.treeSize;
  if (tree.treeSize > sourceSize) throw new Error(`the destination (size ${tree.treeSize}) is larger than the source (size ${sourceSize})`);
  if (tree.treeSize > 0n && !bytesEqual(await treeHash(tree.treeSize, srcTiles), tree.rootHash)) {
    throw new Error(`the destination holds another log: its root at size ${tree.treeSize} is not the source's`);
  }
  const chunk = BigInt(Math.max(TILE_WIDTH, Math.floor((o.chunk ?? 4096) / TILE_WIDTH) * TILE_WIDTH));
  const stopAt = o.maxEntries === undefined ? sourceSize : tree.treeSize + o.maxEntries < sourceSize ? tree.treeSize + o.maxEntries : sourceSize;
  const W = BigInt(TILE_WIDTH);
  while (tree.treeSize < stopAt) {
    const from = tree.treeSize;
    // End at a bundle boundary (or the end), so that every chunk after the first reads whole bundles.
    let to = ((from + chunk) / W) * W;
    if (to > stopAt) to = stopAt;
    const refs: TileRef[] = [];
    for (let b = from / W; b * W < to; b++) refs.push({ kind: 'entries', level: 0, index: b, width: tileWidth(0, b, sourceSize) });
    const bundles = await src.readTiles(refs);
    const entries: Uint8Array[] = [];
    bundles.forEach((d, i) => {
      const ref = refs[i] as TileRef;
      if (d === undefined) throw new Error(`source: entry bundle ${ref.index} is missing`);
      const es = decodeEntryBundle(d).slice(0, ref.width);
      if (es.length !== ref.width) throw new Error(`source: entry bundle ${ref.index} holds ${es.length} entries, want ${ref.width}`);
      const first = ref.index * W;
      es.forEach((e, j) => {
        const idx = first + BigInt(j);
        if (idx >= from && idx < to) entries.push(e);
      });
    });
    const hashes = entries.map(leafHash);
    const r = integrate(edge, entries, hashes);
    // VERIFY before writing anything: the recomputed tree must be the source's tree at this size.
    const want = await treeHash(to, srcTiles);
    if (!bytesEqual(want, r.rootHash)) throw new Error(`the source's entries do not hash to its tree at size ${to} (${encodeHex(r.rootHash)} ≠ ${encodeHex(want)}): the source is corrupt; run tilelog fsck`);
    const next = { treeSize: r.edge.treeSize, rootHash: r.rootHash };
    const leafIndexes = hashes.map((h, i) => ({ leafHash: h, leafIndex: from + BigInt(i) }));
    leafIndexes.push(...(await sourceIdentityRows(src, entries, from)));
    await dst.commit({ tiles: r.tiles, leafIndexes, tree: next, previousTreeSize: from });
    tree = next;
    edge = r.edge;
    o.onProgress?.({ copied: tree.treeSize - resumedAt, treeSize: tree.treeSize, sourceSize });
  }
  let checkpointCopied = false;
  const cp = await src.readCheckpoint();
  if (cp !== undefined && tree.treeSize === sourceSize) {
    await dst.writeCheckpoint(cp);
    checkpointCopied = true;
  }
  return { sourceSize, resumedAt, treeSize: tree.treeSize, checkpointCopied };
}

/** The source's identity rows (identity → leaf index) of `entries`, the entries from index `from` on. */
async function sourceIdentityRows(src: LogStorage, entries: readonly Uint8Array[], from: bigint): Promise<{ leafHash: Hash; leafIndex: bigint }[]> {
  const candidates: { leafHash: Hash; leafIndex: bigint }[] = [];
  entries.forEach((e, i) => {
    const id = auditEntryIdentity(e);
    if (id !== undefined) candidates.push({ leafHash: id, leafIndex: from + BigInt(i) });
  });
  if (candidates.length === 0) return [];
  const stored = await src.lookupLeafHashes(candidates.map((c) => c.leafHash));
  return candidates.filter((c, j) => stored[j] === c.leafIndex);
}
