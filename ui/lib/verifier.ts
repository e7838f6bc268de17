/**
 * Verifies what the log serves from the tiles the page fetched itself, trusting only the checkpoint (whose
 * signature the caller verified with the trusted key):
 *
 * - tree: MTH(D[0:n]) recomputed from the right-edge (partial) hash tiles equals the checkpoint's root hash,
 *   which authenticates every hash of those tiles;
 * - a full hash tile is authenticated by its MTH being the matching hash of its (authenticated) parent tile
 *   (as Go's tlog.TileHashReader does), so any entry bundle's leaf hashes can be checked against level 0;
 * - inclusion: the RFC 9162 inclusion proof computed from the tiles, verified (§2.1.3.2) against the root;
 * - consistency: the RFC 9162 consistency proof computed from the tiles of the newer tree, verified (§2.1.4.2)
 *   against both roots.
 *
 * Every failure throws a {@link VerificationError} carrying the computation, for the evidence file.
 */
import { bytesEqual, toBase64, toHex } from './bytes.js';
import { consistencyRanges, HASH_SIZE, inclusionRanges, leafHash, rootFromInclusionProof, sha256, verifyConsistency } from './merkle.js';
import type { Checkpoint } from './note.js';
import { hashFromTile, rangeHashes, tilePath, tileWidth, TILE_WIDTH, type TileRef } from './tiles.js';

/** A failed check: what was computed, for the evidence file. */
export class VerificationError extends Error {
  constructor(message: string, readonly computation: Record<string, unknown>) {
    super(message);
    this.name = 'VerificationError';
  }
}

/** Fetches a path relative to the log's base URL and returns its bytes (rejects on HTTP errors). */
export type Fetcher = (path: string) => Promise<Uint8Array>;

/** Decodes an entry bundle of `width` entries (uint16 big-endian length || entry, c2sp.org/tlog-tiles). */
export function decodeEntryBundle(data: Uint8Array, width: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let off = 0;
  while (off < data.length) {
    if (off + 2 > data.length) throw new Error('entry bundle: truncated length');
    const len = (data[off]! << 8) | data[off + 1]!;
    off += 2;
    if (off + len > data.length) throw new Error('entry bundle: truncated entry');
    out.push(data.subarray(off, off + len));
    off += len;
  }
  if (out.length !== width) throw new Error(`entry bundle: want ${width} entries, got ${out.length}`);
  return out;
}

/** The verification result of one inclusion check. */
export interface InclusionResult {
  readonly leafIndex: bigint;
  readonly treeSize: bigint;
  readonly leafHash: Uint8Array;
  readonly proof: readonly Uint8Array[];
  readonly computedRoot: Uint8Array | undefined;
  readonly tiles: readonly string[];
}

const hex = (b: Uint8Array | undefined) => (b === undefined ? null : toHex(b));

/** Tile fetching with a cache, plus the checks above. One instance per page; tiles are immutable per path. */
export class TileVerifier {
  /** Every tile and bundle fetched, by path (base64 in evidence). */
  readonly fetched = new Map<string, Uint8Array>();
  private readonly pending = new Map<string, Promise<Uint8Array>>();
  private readonly authenticated = new Set<string>();
  private readonly treesChecked = new Set<string>();

  constructor(private readonly fetchBytes: Fetcher) {}

  private async get(path: string): Promise<Uint8Array> {
    const have = this.fetched.get(path);
    if (have !== undefined) return have;
    let p = this.pending.get(path);
    if (p === undefined) {
      p = this.fetchBytes(path).then((b) => {
        this.fetched.set(path, b);
        this.pending.delete(path);
        return b;
      }, (e: unknown) => {
        this.pending.delete(path);
        throw e;
      });
      this.pending.set(path, p);
    }
    return p;
  }

  /** A hash tile's bytes; its length must be exactly width · 32. */
  async hashTile(t: TileRef): Promise<Uint8Array> {
    const path = tilePath(t);
    const b = await this.get(path);
    if (b.length !== t.width * HASH_SIZE) throw new VerificationError(`${path} has ${b.length} bytes, want ${t.width * HASH_SIZE}`, { check: 'tile length', tile: path });
    return b;
  }

  /** The entries of bundle `index` in a tree of `treeSize` (not yet authenticated: see {@link verifiedBundle}). */
  async bundle(index: bigint, treeSize: bigint): Promise<Uint8Array[]> {
    const width = tileWidth(-1, index, treeSize);
    if (width === 0) throw new Error(`entry bundle ${index} is beyond the tree (size ${treeSize})`);
    const path = tilePath({ level: -1, index, width });
    const b = await this.get(path);
    try {
      return decodeEntryBundle(b, width);
    } catch (e) {
      throw new VerificationError(`${path}: ${(e as Error).message}`, { check: 'entry bundle format', tile: path });
    }
  }

  private reader(touched?: Set<string>) {
    return (t: TileRef) => {
      touched?.add(tilePath(t));
      return this.hashTile(t);
    };
  }

  /** Checks MTH(D[0:n]) from the right-edge tiles against the checkpoint's root. */
  async verifyTree(cp: Checkpoint): Promise<void> {
    const key = `${cp.treeSize}/${toBase64(cp.rootHash)}`;
    if (this.treesChecked.has(key)) return;
    let computed: Uint8Array;
    if (cp.treeSize === 0n) computed = await sha256(new Uint8Array(0));
    else [computed] = (await rangeHashes([[0n, cp.treeSize]], cp.treeSize, this.reader())) as [Uint8Array];
    if (!bytesEqual(computed, cp.rootHash)) {
      throw new VerificationError(`the hash tiles of tree size ${cp.treeSize} do not hash to the checkpoint's root hash`, {
        check: 'tree hash from tiles (RFC 6962 MTH over the right-edge tiles)',
        treeSize: cp.treeSize.toString(),
        expectedRootHex: toHex(cp.rootHash),
        computedRootHex: toHex(computed),
      });
    }
    this.treesChecked.add(key);
  }

  /** Authenticates hash tile `t` of the tree of checkpoint `cp` (see the module comment) and returns it. */
  async authenticatedTile(t: TileRef, cp: Checkpoint): Promise<Uint8Array> {
    const data = await this.hashTile(t);
    const path = tilePath(t);
    const key = `${path}@${cp.treeSize}/${toBase64(cp.rootHash)}`;
    if (this.authenticated.has(key) || (t.width === TILE_WIDTH && this.authenticated.has(path))) return data;
    if (t.width !== TILE_WIDTH) {
      // A partial tile is the right edge of its level: every one of its hashes goes into the tree hash.
      if (tileWidth(t.level, t.index, cp.treeSize) !== t.width) throw new Error(`${path} is not a tile of tree size ${cp.treeSize}`);
      await this.verifyTree(cp);
    } else {
      const parentRef: TileRef = { level: t.level + 1, index: t.index / BigInt(TILE_WIDTH), width: tileWidth(t.level + 1, t.index / BigInt(TILE_WIDTH), cp.treeSize) };
      const parent = await this.authenticatedTile(parentRef, cp);
      const off = Number(t.index % BigInt(TILE_WIDTH));
      const want = parent.subarray(off * HASH_SIZE, (off + 1) * HASH_SIZE);
      const got = await hashFromTile(data, 0, TILE_WIDTH);
      if (!bytesEqual(want, got)) {
        throw new VerificationError(`${path} does not hash to hash ${off} of ${tilePath(parentRef)}`, {
          check: 'full tile hash equals its parent tile hash',
          tile: path,
          parentTile: tilePath(parentRef),
          expectedHex: toHex(want),
          computedHex: toHex(got),
        });
      }
      this.authenticated.add(path); // full tiles never change
    }
    this.authenticated.add(key);
    return data;
  }

  /**
   * The entries of bundle `index` whose leaf hashes match the authenticated level-0 tile of the same index.
   * Throws VerificationError on any mismatch.
   */
  async verifiedBundle(index: bigint, cp: Checkpoint): Promise<Uint8Array[]> {
    const entries = await this.bundle(index, cp.treeSize);
    const tile = await this.authenticatedTile({ level: 0, index, width: entries.length }, cp);
    for (let i = 0; i < entries.length; i++) {
      const h = await leafHash(entries[i]!);
      const want = tile.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE);
      if (!bytesEqual(h, want)) {
        const leafIndex = index * BigInt(TILE_WIDTH) + BigInt(i);
        throw new VerificationError(`entry ${leafIndex} in the entry bundle does not match its leaf hash in the tree`, {
          check: 'leaf hash of bundle entry equals level-0 tile hash',
          tiles: [tilePath({ level: -1, index, width: entries.length }), tilePath({ level: 0, index, width: entries.length })],
          leafIndex: leafIndex.toString(),
          entryBase64: toBase64(entries[i]!),
          computedLeafHashHex: toHex(h),
          tileLeafHashHex: toHex(want),
        });
      }
    }
    return entries;
  }

  /** Inclusion of `leaf` at `leafIndex` in checkpoint `cp`: proof from tiles, verified per RFC 9162. */
  async inclusion(leafIndex: bigint, leaf: Uint8Array, cp: Checkpoint): Promise<InclusionResult> {
    if (leafIndex >= cp.treeSize) throw new Error(`index ${leafIndex} is not below the tree size ${cp.treeSize}`); // the caller's mistake, not the log's
    const touched = new Set<string>();
    const proof = await rangeHashes(inclusionRanges(leafIndex, cp.treeSize), cp.treeSize, this.reader(touched));
    const computedRoot = await rootFromInclusionProof(leafIndex, cp.treeSize, leaf, proof);
    const result: InclusionResult = { leafIndex, treeSize: cp.treeSize, leafHash: leaf, proof, computedRoot, tiles: [...touched] };
    if (computedRoot === undefined || !bytesEqual(computedRoot, cp.rootHash)) {
      throw new VerificationError(`the inclusion proof of entry ${leafIndex} does not lead to the checkpoint's root hash`, {
        check: 'RFC 9162 §2.1.3.2 inclusion proof verification (proof computed from hash tiles)',
        leafIndex: leafIndex.toString(),
        treeSize: cp.treeSize.toString(),
        leafHashHex: toHex(leaf),
        proofHex: proof.map(toHex),
        tiles: [...touched],
        expectedRootHex: toHex(cp.rootHash),
        computedRootHex: hex(computedRoot),
      });
    }
    return result;
  }

  /** Consistency of `older` with `newer` (same origin, older.treeSize ≤ newer.treeSize), proof from the newer tree's tiles. */
  async consistency(older: Checkpoint, newer: Checkpoint): Promise<readonly Uint8Array[]> {
    const fail = (message: string, proof: readonly Uint8Array[]) => new VerificationError(message, {
      check: 'RFC 9162 §2.1.4.2 consistency proof verification (proof computed from hash tiles)',
      oldTreeSize: older.treeSize.toString(),
      oldRootHex: toHex(older.rootHash),
      newTreeSize: newer.treeSize.toString(),
      newRootHex: toHex(newer.rootHash),
      proofHex: proof.map(toHex),
    });
    if (newer.treeSize < older.treeSize) throw fail(`the tree shrank from ${older.treeSize} to ${newer.treeSize}`, []);
    const proof = await rangeHashes(consistencyRanges(older.treeSize, newer.treeSize), newer.treeSize, this.reader());
    if (!(await verifyConsistency(older.treeSize, newer.treeSize, proof, older.rootHash, newer.rootHash))) {
      throw fail(`the checkpoint of size ${older.treeSize} is not consistent with the checkpoint of size ${newer.treeSize}`, proof);
    }
    return proof;
  }
}
