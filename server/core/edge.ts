/**
 * Integration: appending leaf hashes and entries to the right edge of a tiled tree.
 * SPEC: c2sp.org/tlog-tiles (tiles, entry bundles); cf. Tessera `storage/internal.Integrate`.
 *
 * The {@link TreeEdge} is all a sequencer keeps in memory: for each tile level the hashes of the partial tile at
 * the right edge (fewer than 256), and the entries of the partial entry bundle. Memory is O(8 · 255) hashes
 * whatever the size of the log. {@link integrate} is pure: it returns a new edge and every tile that changed;
 * the old edge stays valid, so a sequencer can drop the result if its durable commit fails.
 *
 * Invariant: for an edge of size s, `partials[L]` holds exactly ⌊s / 256^L⌋ mod 256 hashes, which are the first
 * hashes of tile ⌊s / 256^(L+1)⌋ of level L; `partialEntries.length = s mod 256`.
 */
import { EMPTY_ROOT, HASH_SIZE, nodeHash, type Hash } from './hash.js';
import { badMath } from './errors.js';
import { decodeEntryBundle, encodeEntryBundle, entryBundlePrefixLength } from './entry-bundle.js';
import { levelCount, TILE_HEIGHT, TILE_WIDTH, type TileRef } from './tile.js';

/** The right edge of a tiled tree: enough to append and to compute the root. Treat as immutable. */
export interface TreeEdge {
  readonly treeSize: bigint;
  /** partials[L]: the hashes of the partial tile at level L (each array shorter than 256). */
  readonly partials: readonly (readonly Hash[])[];
  /** The entries of the partial entry bundle (fewer than 256). */
  readonly partialEntries: readonly Uint8Array[];
}

/** A tile and its bytes (a hash tile: width·32 bytes; an entry bundle: its encoding). */
export interface TileData {
  readonly tile: TileRef;
  readonly data: Uint8Array;
}

/** The result of {@link integrate}: the new edge, its root, and every new or changed tile and bundle. */
export interface Integration {
  readonly edge: TreeEdge;
  readonly rootHash: Hash;
  readonly tiles: TileData[];
}

/** The edge of the empty tree. */
export const EMPTY_EDGE: TreeEdge = { treeSize: 0n, partials: [], partialEntries: [] };

/** Concatenates hashes into tile bytes. */
export function encodeHashTile(hashes: readonly Hash[]): Uint8Array {
  const out = Buffer.allocUnsafe(hashes.length * HASH_SIZE);
  hashes.forEach((h, i) => out.set(h, i * HASH_SIZE));
  return out;
}

/** Splits tile bytes into hashes (views). Requires data.length to be a multiple of 32. */
export function decodeHashTile(data: Uint8Array): Hash[] {
  if (data.length % HASH_SIZE !== 0) throw new RangeError('hash tile length is not a multiple of 32');
  const out: Hash[] = [];
  for (let i = 0; i < data.length; i += HASH_SIZE) out.push(data.subarray(i, i + HASH_SIZE));
  return out;
}

/** MTH of 2^k hashes (k ≤ 8), hashed up pairwise. */
function hashUp(hashes: readonly Hash[]): Hash {
  let level = hashes;
  while (level.length > 1) {
    const next: Hash[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(nodeHash(level[i] as Hash, level[i + 1] as Hash));
    level = next;
  }
  return level[0] as Hash;
}

/** The root hash of the tree an edge describes: the right fold of its perfect subtrees, highest first. */
export function edgeRoot(edge: TreeEdge): Hash {
  const subtrees: Hash[] = [];
  for (let L = edge.partials.length - 1; L >= 0; L--) {
    const p = edge.partials[L] as readonly Hash[];
    let off = 0;
    for (let bit = TILE_HEIGHT - 1; bit >= 0; bit--) {
      const n = 1 << bit;
      if ((p.length & n) !== 0) {
        subtrees.push(hashUp(p.slice(off, off + n)));
        off += n;
      }
    }
  }
  if (subtrees.length === 0) return EMPTY_ROOT;
  let acc = subtrees[subtrees.length - 1] as Hash;
  for (let i = subtrees.length - 2; i >= 0; i--) acc = nodeHash(subtrees[i] as Hash, acc);
  return acc;
}

/**
 * Appends entries (with their precomputed leaf hashes, `leafHashes[i] = leafHash(entries[i])`) to the tree.
 * Returns the new edge, the new root and the tiles to store: every full tile completed by this append and the
 * new partial tile of every level that grew, plus the entry bundles likewise. Pure; `edge` is not modified.
 */
export function integrate(edge: TreeEdge, entries: readonly Uint8Array[], leafHashes: readonly Hash[]): Integration {
  if (entries.length !== leafHashes.length) badMath('integrate: entries and leaf hashes differ in number');
  const partials: Hash[][] = edge.partials.map((p) => [...p]);
  let bundle: Uint8Array[] = [...edge.partialEntries];
  const tiles: TileData[] = [];
  const oldSize = edge.treeSize;
  let size = oldSize;
  const W = BigInt(TILE_WIDTH);
  const push = (L: number, h: Hash, newSize: bigint): void => {
    const p = (partials[L] ??= []);
    p.push(h);
    if (p.length === TILE_WIDTH) {
      const index = levelCount(L, newSize) / W - 1n;
      tiles.push({ tile: { kind: 'hash', level: L, index, width: TILE_WIDTH }, data: encodeHashTile(p) });
      partials[L] = [];
      push(L + 1, hashUp(p), newSize);
    }
  };
  for (let i = 0; i < entries.length; i++) {
    size += 1n;
    push(0, leafHashes[i] as Hash, size);
    bundle.push(entries[i] as Uint8Array);
    if (bundle.length === TILE_WIDTH) {
      tiles.push({ tile: { kind: 'entries', level: 0, index: size / W - 1n, width: TILE_WIDTH }, data: encodeEntryBundle(bundle) });
      bundle = [];
    }
  }
  while (partials.length > 0 && (partials[partials.length - 1] as Hash[]).length === 0 && levelCount(partials.length - 1, size) === 0n) {
    partials.pop();
  }
  for (let L = 0; L < partials.length; L++) {
    const p = partials[L] as Hash[];
    if (p.length > 0 && levelCount(L, size) !== levelCount(L, oldSize)) {
      tiles.push({ tile: { kind: 'hash', level: L, index: levelCount(L, size) / W, width: p.length }, data: encodeHashTile(p) });
    }
  }
  if (bundle.length > 0 && size !== oldSize) {
    tiles.push({ tile: { kind: 'entries', level: 0, index: size / W, width: bundle.length }, data: encodeEntryBundle(bundle) });
  }
  const next: TreeEdge = { treeSize: size, partials, partialEntries: bundle };
  return { edge: next, rootHash: edgeRoot(next), tiles };
}

/**
 * The tiles a stored log must read to rebuild its edge at `treeSize`: the partial tile of each level and the
 * partial entry bundle (only those with width > 0). Pair with {@link edgeFromTiles}.
 */
export function edgeTiles(treeSize: bigint): TileRef[] {
  const out: TileRef[] = [];
  const W = BigInt(TILE_WIDTH);
  for (let L = 0; levelCount(L, treeSize) > 0n; L++) {
    const width = Number(levelCount(L, treeSize) % W);
    if (width > 0) out.push({ kind: 'hash', level: L, index: levelCount(L, treeSize) / W, width });
  }
  const w = Number(treeSize % W);
  if (w > 0) out.push({ kind: 'entries', level: 0, index: treeSize / W, width: w });
  return out;
}

/**
 * Rebuilds the edge of a tree of `treeSize` leaves from the tiles listed by {@link edgeTiles} (`data[i]` for
 * `tiles[i]`, each holding at least `width` hashes or entries).
 */
export function edgeFromTiles(treeSize: bigint, tiles: readonly TileRef[], data: readonly Uint8Array[]): TreeEdge {
  const partials: Hash[][] = [];
  for (let L = 0; levelCount(L, treeSize) > 0n; L++) partials.push([]);
  let partialEntries: Uint8Array[] = [];
  tiles.forEach((t, i) => {
    const d = data[i] as Uint8Array;
    if (t.kind === 'entries') partialEntries = decodeEntryBundle(d.subarray(0, entryBundlePrefixLength(d, t.width)), t.width);
    else partials[t.level] = decodeHashTile(d.subarray(0, t.width * HASH_SIZE));
  });
  return { treeSize, partials, partialEntries };
}
