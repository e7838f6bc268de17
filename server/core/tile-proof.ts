/**
 * Tree hashes and proofs computed from stored hash tiles (c2sp.org/tlog-tiles "Merkle Tree" section).
 *
 * A perfect subtree of height h and index k lives in the tile at level ⌊h/8⌋: if h % 8 = 0 it is hash k % 256 of
 * tile ⌊k/256⌋; otherwise it is the MTH of the 2^(h%8) consecutive hashes starting at k·2^(h%8). Right-edge
 * (non-perfect) nodes are recombined from perfect subtrees by RFC 6962 recursion, so a proof for any tree size,
 * partial tiles included, touches at most one tile per level and side.
 *
 * Pure: tiles come from a {@link TileReader} the caller injects (storage on the server, HTTP in clients).
 */
import { EMPTY_ROOT, HASH_SIZE, nodeHash, type Hash } from './hash.js';
import { badMath } from './errors.js';
import { TILE_HEIGHT, TILE_WIDTH, tileWidth, type TileRef } from './tile.js';
import { consistencyRanges, inclusionRanges, rangeNodes, type LeafRange, type NodeId } from './tree.js';

/**
 * Reads hash tiles. MUST return one buffer per requested tile, each holding at least `width` hashes
 * (`width · 32` bytes) of that tile, or reject. A tile holding more hashes than asked is fine: the first
 * `width` hashes of a tile never change as the tree grows.
 */
export type TileReader = (tiles: readonly TileRef[]) => Promise<readonly Uint8Array[]>;

/** Where a perfect subtree's hash is found: `count` hashes from `offset` of `tile`, hashed up. */
export interface NodeLocation {
  readonly tile: TileRef;
  readonly offset: number;
  readonly count: number;
}

/** Locates perfect subtree `node` in the hash tiles of a tree of `treeSize` leaves. Requires the node ⊆ [0, treeSize). */
export function tileForNode(node: NodeId, treeSize: bigint): NodeLocation {
  const level = Math.floor(node.height / TILE_HEIGHT);
  const r = node.height % TILE_HEIGHT;
  const first = node.index << BigInt(r); // index of the first hash at tree height 8·level
  const index = first / BigInt(TILE_WIDTH);
  const offset = Number(first % BigInt(TILE_WIDTH));
  const count = 1 << r; // r ≤ 7: a small int
  const width = tileWidth(level, index, treeSize);
  if (offset + count > width) badMath(`node (${node.height},${node.index}) is not in a tree of size ${treeSize}`);
  return { tile: { kind: 'hash', level, index, width }, offset, count };
}

/** Hashes up `count` (a power of two ≤ 256) consecutive hashes of `tileData` starting at `offset`. */
export function hashFromTile(tileData: Uint8Array, offset: number, count: number): Hash {
  if ((offset + count) * HASH_SIZE > tileData.length) throw new RangeError('tile is shorter than the hashes it must hold');
  let level: Hash[] = [];
  for (let i = 0; i < count; i++) level.push(tileData.subarray((offset + i) * HASH_SIZE, (offset + i + 1) * HASH_SIZE));
  while (level.length > 1) {
    const next: Hash[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(nodeHash(level[i] as Hash, level[i + 1] as Hash));
    level = next;
  }
  return level[0] as Hash;
}

/**
 * A cache of perfect-subtree hashes across calls, keyed `<height>/<index>`. Valid for the lifetime of one log: a
 * perfect subtree (every leaf below the tree size) never changes in an append-only tree, whatever the tree size.
 * An LRU of the caller's choosing (the core does no allocation policy).
 */
export interface SubtreeHashCache {
  get(key: string): Hash | undefined;
  set(key: string, hash: Hash): unknown;
}

function tileKey(t: TileRef): string {
  return `${t.level}/${t.index}`;
}

/**
 * The MTH of each range, read from the tiles of a tree of `treeSize` leaves: one read of every distinct tile,
 * and every perfect subtree hashed once however many ranges share it (so the proofs of many nearby entries cost
 * little more than one).
 */
export async function rangeHashes(ranges: readonly LeafRange[], treeSize: bigint, readTiles: TileReader, cache?: SubtreeHashCache): Promise<Hash[]> {
  const plans = ranges.map(([b, e]) => rangeNodes(b, e));
  const wanted = new Map<string, TileRef>();
  for (const plan of plans) for (const n of plan) {
    const t = tileForNode(n, treeSize).tile;
    wanted.set(tileKey(t), t);
  }
  const tiles = [...wanted.values()];
  const data = tiles.length === 0 ? [] : await readTiles(tiles);
  if (data.length !== tiles.length) throw new Error('tile reader returned the wrong number of tiles');
  const byKey = new Map<string, Uint8Array>();
  tiles.forEach((t, i) => byKey.set(tileKey(t), data[i] as Uint8Array));
  const memo = new Map<string, Hash>();
  const subtreeHash = (n: NodeId): Hash => {
    const key = `${n.height}/${n.index}`;
    let h = memo.get(key) ?? cache?.get(key);
    if (h !== undefined) return h;
    if (n.height % TILE_HEIGHT === 0) {
      const loc = tileForNode(n, treeSize);
      h = hashFromTile(byKey.get(tileKey(loc.tile)) as Uint8Array, loc.offset, 1);
    } else {
      // A node inside a tile: hash its two children (they live in the same tile).
      const height = n.height - 1;
      h = nodeHash(subtreeHash({ height, index: n.index * 2n }), subtreeHash({ height, index: n.index * 2n + 1n }));
    }
    memo.set(key, h);
    // Inside-tile nodes are the costly ones (2^h hashes each); a perfect subtree's hash never changes.
    if (n.height % TILE_HEIGHT !== 0) cache?.set(key, h);
    return h;
  };
  return plans.map((plan) => {
    let acc: Hash | undefined;
    for (let i = plan.length - 1; i >= 0; i--) {
      const h = subtreeHash(plan[i] as NodeId);
      acc = acc === undefined ? h : nodeHash(h, acc);
    }
    return acc as Hash;
  });
}

/** MTH(D[0:treeSize]) from tiles; SHA-256("") for the empty tree. */
export async function treeHash(treeSize: bigint, readTiles: TileReader): Promise<Hash> {
  if (treeSize === 0n) return EMPTY_ROOT;
  const [h] = await rangeHashes([[0n, treeSize]], treeSize, readTiles);
  return h as Hash;
}

/** The RFC 9162 inclusion proof for `index` in the tree of `treeSize` leaves. Requires 0 ≤ index < treeSize. */
export async function inclusionProof(index: bigint, treeSize: bigint, readTiles: TileReader, cache?: SubtreeHashCache): Promise<Hash[]> {
  return rangeHashes(inclusionRanges(index, treeSize), treeSize, readTiles, cache);
}

/**
 * The inclusion proofs of several entries in the same tree, sharing tile reads and subtree hashes.
 * Requires 0 ≤ index < treeSize for each index. `result[i]` is the proof of `indexes[i]`.
 */
export async function inclusionProofs(indexes: readonly bigint[], treeSize: bigint, readTiles: TileReader): Promise<Hash[][]> {
  const shapes = indexes.map((i) => inclusionRanges(i, treeSize));
  const flat = await rangeHashes(shapes.flat(), treeSize, readTiles);
  let off = 0;
  return shapes.map((s) => flat.slice(off, (off += s.length)));
}

/** The RFC 9162 consistency proof from `oldSize` to `newSize`. Requires 0 ≤ oldSize ≤ newSize. */
export async function consistencyProof(oldSize: bigint, newSize: bigint, readTiles: TileReader, cache?: SubtreeHashCache): Promise<Hash[]> {
  return rangeHashes(consistencyRanges(oldSize, newSize), newSize, readTiles, cache);
}
