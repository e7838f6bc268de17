// SPEC: c2sp.org/tlog-tiles §Merkle Tree, §Partial Tiles; cf. golang.org/x/mod/sumdb/tlog TileHashReader.
/**
 * A {@link TileReader} that returns only hash tiles authenticated against a signed tree (treeSize, rootHash).
 *
 * How a tile is authenticated (the plan of Go's tileHashReader, with every tile checked):
 *  - The *right-edge tiles* of the tree — exactly its partial tiles, one per level whose count is not a multiple of
 *    256 — hold the perfect subtrees whose right fold is MTH(D[0:treeSize]). They are fetched together, the root
 *    is recomputed from them and compared with the signed `rootHash`; every byte of every right-edge tile enters
 *    that computation.
 *  - Every other tile of the tree is *full* (256 hashes) and is checked against its parent tile: the MTH of its
 *    256 hashes must equal hash `index mod 256` of the tile one level up, itself authenticated first (parents are
 *    checked before children, up to a right-edge tile).
 *
 * golang.org/x/mod v0.7.0's ReadHashes starts its parent-check loop at `len(stx)` (the number of right-edge
 * *subtrees*) instead of the number of distinct right-edge *tiles*; when several subtrees share a tile (e.g. sizes
 * 259 or 256·256+255) the first child tiles appended after the right-edge tiles are returned unchecked. Here every
 * tile that is not a right-edge tile goes through the parent check, whatever the plan looks like.
 *
 * Requested tiles may be narrower than the tile at `treeSize` (e.g. to compute a proof for a smaller tree): the
 * reader authenticates the tile at its width in the signed tree and returns the requested prefix, which is valid
 * because the first hashes of a tile never change as the tree grows.
 */
import { LRUCache } from 'lru-cache';
import { TlogError } from '../../server/core/errors.js';
import { HASH_SIZE, nodeHash, type Hash } from '../../server/core/hash.js';
import { bytesEqual, encodeBase64 } from '../../server/core/strict.js';
import { TILE_WIDTH, tilePath, tileWidth, type TileRef } from '../../server/core/tile.js';
import { hashFromTile, tileForNode, type TileReader } from '../../server/core/tile-proof.js';
import { rangeNodes } from '../../server/core/tree.js';

/** A tree head whose (treeSize, rootHash) the caller has verified (e.g. from a signed checkpoint). */
export interface SignedTree {
  readonly treeSize: bigint;
  readonly rootHash: Uint8Array;
}

/**
 * A tile served by the log does not authenticate against the signed tree: the log (or something between it and
 * us) served data inconsistent with its own signed root. Code VERIFICATION_FAILED. `tile` names the tile that
 * failed its parent check; undefined when the right-edge tiles together do not hash to the root (one of them is
 * wrong, which one cannot be told).
 */
export class TileAuthenticationError extends TlogError {
  readonly tile: TileRef | undefined;
  readonly tiles: readonly TileRef[];
  constructor(message: string, tiles: readonly TileRef[], tile?: TileRef) {
    super('VERIFICATION_FAILED', message);
    this.name = 'TileAuthenticationError';
    this.tile = tile;
    this.tiles = tiles;
  }
}

/** Options of {@link AuthenticatedTileReader}. */
export interface AuthenticatedReaderOptions {
  /** Authenticated full tiles kept in memory (LRU), default 1024 (8 MiB). Right-edge tiles are always kept. */
  readonly maxCachedTiles?: number;
}

const key = (level: number, index: bigint): string => `${level}/${index}`;

/**
 * The right-edge tiles of a tree of `treeSize` leaves (its partial tiles, highest level first), from which
 * MTH(D[0:treeSize]) is computed. Empty for the empty tree.
 */
export function rightEdgeTiles(treeSize: bigint): TileRef[] {
  if (treeSize === 0n) return [];
  const seen = new Map<string, TileRef>();
  for (const n of rangeNodes(0n, treeSize)) {
    const t = tileForNode(n, treeSize).tile;
    seen.set(key(t.level, t.index), t);
  }
  return [...seen.values()];
}

/**
 * The tile that holds the hash of full tile `t` (level + 1, index ⌊N/256⌋) in a tree of `treeSize` leaves, and the
 * offset of that hash in it. Requires `t` full at `treeSize`.
 */
export function parentTile(t: TileRef, treeSize: bigint): { tile: TileRef; offset: number } {
  const W = BigInt(TILE_WIDTH);
  const index = t.index / W;
  const level = t.level + 1;
  return { tile: { kind: 'hash', level, index, width: tileWidth(level, index, treeSize) }, offset: Number(t.index % W) };
}

/**
 * Authenticates hash tiles against one signed tree. {@link read} is a {@link TileReader} usable with
 * `inclusionProof`, `consistencyProof`, `treeHash` and `rangeHashes` of server/core/tile-proof.ts, for any tree
 * size up to `tree.treeSize`. Invariant: every byte it returns was authenticated against `tree.rootHash`.
 */
export class AuthenticatedTileReader {
  readonly tree: SignedTree;
  private readonly raw: TileReader;
  private edge: Map<string, Uint8Array> | undefined;
  private readonly edgeKeys: Set<string>;
  private readonly cache: LRUCache<string, Uint8Array>;

  /** `raw` fetches tiles without checking them (e.g. {@link TileFetcher.readTiles}); `tree` must be verified. */
  constructor(tree: SignedTree, raw: TileReader, opts: AuthenticatedReaderOptions = {}) {
    if (tree.treeSize < 0n || tree.rootHash.length !== HASH_SIZE) throw new TlogError('MALFORMED', 'signed tree: bad size or root hash');
    this.tree = { treeSize: tree.treeSize, rootHash: Uint8Array.from(tree.rootHash) };
    this.raw = raw;
    this.edgeKeys = new Set(rightEdgeTiles(tree.treeSize).map((t) => key(t.level, t.index)));
    this.cache = new LRUCache({ max: Math.max(1, opts.maxCachedTiles ?? 1024) });
  }

  /** Returns each requested hash tile (exactly `width · 32` bytes), authenticated. Rejects with TileAuthenticationError. */
  readonly read: TileReader = async (tiles) => {
    const N = this.tree.treeSize;
    const wanted = tiles.map((t) => {
      const w = t.kind === 'hash' ? tileWidth(t.level, t.index, N) : 0;
      if (w === 0 || t.width < 1 || t.width > w) {
        throw new TlogError('OUT_OF_RANGE', `tile ${tilePath(t)} is not part of the tree of size ${N}`);
      }
      return { kind: 'hash', level: t.level, index: t.index, width: w } as TileRef;
    });
    const got = await this.authenticate(wanted);
    return tiles.map((t) => (got.get(key(t.level, t.index)) as Uint8Array).subarray(0, t.width * HASH_SIZE));
  };

  /** The authenticated tiles (at their width in the signed tree) for `wanted`, by key. */
  private async authenticate(wanted: readonly TileRef[]): Promise<Map<string, Uint8Array>> {
    const N = this.tree.treeSize;
    const out = new Map<string, Uint8Array>();
    const need = new Map<string, TileRef>();
    const known = (k: string): Uint8Array | undefined => (this.edgeKeys.has(k) ? this.edge?.get(k) : this.cache.get(k));
    if (this.edge === undefined) for (const t of rightEdgeTiles(N)) need.set(key(t.level, t.index), t);
    for (const t of wanted) {
      // Walk up until a tile that is authenticated already or will be in this batch; right-edge tiles end the walk.
      let cur = t;
      for (;;) {
        const k = key(cur.level, cur.index);
        const have = known(k);
        if (have !== undefined) {
          out.set(k, have);
          break;
        }
        if (need.has(k)) break;
        need.set(k, cur);
        if (this.edgeKeys.has(k)) break;
        cur = parentTile(cur, N).tile;
      }
    }
    if (need.size === 0) {
      for (const t of wanted) out.set(key(t.level, t.index), known(key(t.level, t.index)) as Uint8Array);
      return out;
    }
    const list = [...need.values()];
    const data = await this.raw(list);
    if (data.length !== list.length) throw new Error('tile reader returned the wrong number of tiles');
    const fetched = new Map<string, Uint8Array>();
    list.forEach((t, i) => {
      const d = data[i] as Uint8Array;
      if (d.length < t.width * HASH_SIZE) throw new TileAuthenticationError(`tile ${tilePath(t)} is ${d.length} bytes, want ${t.width * HASH_SIZE}`, [t], t);
      fetched.set(key(t.level, t.index), Uint8Array.from(d.subarray(0, t.width * HASH_SIZE)));
    });

    // 1. The right-edge tiles against the signed root.
    if (this.edge === undefined) {
      const edge = new Map<string, Uint8Array>();
      for (const k of this.edgeKeys) edge.set(k, fetched.get(k) as Uint8Array);
      const root = edgeRoot(N, edge);
      if (!bytesEqual(root, this.tree.rootHash)) {
        throw new TileAuthenticationError(
          `the right-edge tiles (${rightEdgeTiles(N).map(tilePath).join(', ')}) hash to ${encodeBase64(root)}, not to the signed root ${encodeBase64(this.tree.rootHash)} of tree size ${N}`,
          rightEdgeTiles(N),
        );
      }
      this.edge = edge;
    }

    // 2. Every other fetched tile (all full) against its parent, parents first (higher levels first).
    const rest = list.filter((t) => !this.edgeKeys.has(key(t.level, t.index))).sort((a, b) => b.level - a.level);
    for (const t of rest) {
      const k = key(t.level, t.index);
      const d = fetched.get(k) as Uint8Array;
      if (t.width !== TILE_WIDTH) throw new Error(`tlog: bad math: non-edge tile ${tilePath(t)} is partial`);
      const p = parentTile(t, N);
      const pk = key(p.tile.level, p.tile.index);
      const pd = known(pk) ?? out.get(pk);
      if (pd === undefined) throw new Error(`tlog: bad math: parent ${tilePath(p.tile)} of ${tilePath(t)} not authenticated first`);
      const want = hashFromTile(pd, p.offset, 1);
      const have = hashFromTile(d, 0, TILE_WIDTH);
      if (!bytesEqual(want, have)) {
        throw new TileAuthenticationError(`tile ${tilePath(t)} hashes to ${encodeBase64(have)}, but its parent ${tilePath(p.tile)} says ${encodeBase64(want)} (tree size ${N})`, [t], t);
      }
      this.cache.set(k, d);
      out.set(k, d);
    }
    for (const t of wanted) {
      const k = key(t.level, t.index);
      if (!out.has(k)) out.set(k, known(k) as Uint8Array);
    }
    return out;
  }
}

/** MTH(D[0:treeSize]) from the right-edge tiles (keyed `level/index`), by the right fold of the root's subtrees. */
function edgeRoot(treeSize: bigint, edge: ReadonlyMap<string, Uint8Array>): Hash {
  let acc: Hash | undefined;
  const nodes = rangeNodes(0n, treeSize);
  for (let i = nodes.length - 1; i >= 0; i--) {
    const loc = tileForNode(nodes[i]!, treeSize);
    const h = hashFromTile(edge.get(key(loc.tile.level, loc.tile.index)) as Uint8Array, loc.offset, loc.count);
    acc = acc === undefined ? h : nodeHash(h, acc);
  }
  return acc as Hash;
}

/** Shorthand: a TileReader over `raw` that returns only tiles authenticated against `tree`. */
export function authenticatedReader(tree: SignedTree, raw: TileReader, opts?: AuthenticatedReaderOptions): TileReader {
  return new AuthenticatedTileReader(tree, raw, opts).read;
}
