/**
 * Test oracles for the Merkle core, written from the RFC text and not from server/core:
 *
 *  - {@link ReferenceTree}: MTH, PATH and PROOF of RFC 6962 §2.1 (= RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1), computed
 *    by the naive recursion over an array of leaf hashes, each proof element tagged with the leaf range it hashes
 *    and the side it is combined on.
 *  - {@link TileStore}: an in-memory log fed by `integrate` that enforces the tlog-tiles storage rules (a tile's
 *    first hashes never change) and serves tiles exactly as an HTTP client would see them (`width · 32` bytes),
 *    recording every read.
 *
 * Hashing uses node:crypto directly, so a bug in server/core/hash.ts cannot hide in both sides of a comparison.
 */
import { createHash } from 'node:crypto';
import { integrate, EMPTY_EDGE, type TileData, type TreeEdge, type Integration } from '../../server/core/edge.js';
import type { TileRef } from '../../server/core/tile.js';
import type { TileReader } from '../../server/core/tile-proof.js';

export type Hash = Uint8Array;

/** SHA-256 of the concatenation of `parts`. */
export function sha256(...parts: Uint8Array[]): Hash {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** RFC 6962 leaf hash: SHA-256(0x00 || entry). */
export function refLeafHash(entry: Uint8Array): Hash {
  return sha256(Uint8Array.of(0), entry);
}

/** RFC 6962 interior node hash: SHA-256(0x01 || left || right). */
export function refNodeHash(left: Hash, right: Hash): Hash {
  return sha256(Uint8Array.of(1), left, right);
}

/** SHA-256(""): MTH of the empty tree. */
export const REF_EMPTY_ROOT: Hash = sha256();

/** The largest power of two strictly less than n (n ≥ 2): RFC 6962's k. Number arithmetic, sizes < 2^53. */
export function largestPow2Below(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** One element of an RFC proof: MTH(D[begin:end]) and where the verifier combines it. */
export interface RefElement {
  readonly begin: number;
  readonly end: number;
  readonly hash: Hash;
  /**
   * Inclusion: 'left' if the element is the left sibling (r = H(p || r)), 'right' otherwise.
   * Consistency: 'seed' for the subtree the old tree ends in, 'left' for a subtree both trees share
   * (SUBPROOF's MTH(D[0:k])), 'right' for a subtree only the new tree has (MTH(D[k:n])).
   */
  readonly side: 'left' | 'right' | 'seed';
}

/** A Merkle tree over leaf hashes, computed by the RFC 6962 recursion (with a memo on ranges). */
export class ReferenceTree {
  readonly leaves: Hash[] = [];
  private readonly memo = new Map<string, Hash>();

  constructor(leaves: readonly Hash[] = []) {
    for (const l of leaves) this.leaves.push(l);
  }

  get size(): number {
    return this.leaves.length;
  }

  /** Appends leaf hashes (the memo stays valid: a range's MTH never changes). */
  push(...hashes: Hash[]): void {
    for (const h of hashes) this.leaves.push(h);
  }

  /** MTH(D[begin:end]) (RFC 6962 §2.1). MTH({}) = SHA-256(""). */
  mth(begin = 0, end = this.size): Hash {
    if (begin < 0 || end > this.size || begin > end) throw new Error(`ref: bad range [${begin}, ${end}) of ${this.size}`);
    const n = end - begin;
    if (n === 0) return REF_EMPTY_ROOT;
    if (n === 1) return this.leaves[begin] as Hash;
    const key = `${begin},${end}`;
    const hit = this.memo.get(key);
    if (hit !== undefined) return hit;
    const k = largestPow2Below(n);
    const h = refNodeHash(this.mth(begin, begin + k), this.mth(begin + k, end));
    this.memo.set(key, h);
    return h;
  }

  /** PATH(m, D[0:n]) (RFC 6962 §2.1.1), leaf's sibling first. */
  path(m: number, n = this.size): RefElement[] {
    if (!(m >= 0 && m < n && n <= this.size)) throw new Error(`ref: PATH(${m}, ${n})`);
    const go = (m: number, lo: number, hi: number): RefElement[] => {
      if (hi - lo === 1) return [];
      const k = largestPow2Below(hi - lo);
      if (m < k) return [...go(m, lo, lo + k), { begin: lo + k, end: hi, hash: this.mth(lo + k, hi), side: 'right' }];
      return [...go(m - k, lo + k, hi), { begin: lo, end: lo + k, hash: this.mth(lo, lo + k), side: 'left' }];
    };
    return go(m, 0, n);
  }

  /** PROOF(m, D[0:n]) = SUBPROOF(m, D[0:n], true) (RFC 6962 §2.1.2). Requires 0 < m < n. */
  proof(m: number, n = this.size): RefElement[] {
    if (!(m > 0 && m < n && n <= this.size)) throw new Error(`ref: PROOF(${m}, ${n})`);
    const sub = (m: number, lo: number, hi: number, b: boolean): RefElement[] => {
      const size = hi - lo;
      if (m === size) return b ? [] : [{ begin: lo, end: hi, hash: this.mth(lo, hi), side: 'seed' }];
      const k = largestPow2Below(size);
      if (m <= k) return [...sub(m, lo, lo + k, b), { begin: lo + k, end: hi, hash: this.mth(lo + k, hi), side: 'right' }];
      return [...sub(m - k, lo + k, hi, false), { begin: lo, end: lo + k, hash: this.mth(lo, lo + k), side: 'left' }];
    };
    return sub(m, 0, n, true);
  }

  /** The root of D[0:n]. */
  root(n = this.size): Hash {
    return this.mth(0, n);
  }
}

/**
 * The operation sequence an RFC 9162 verifier performs for an inclusion proof of (m, n): it accepts a proof built
 * for another (m', n') iff the two sequences are equal (same hashes in the same order). Used as the oracle for
 * "wrong size": RFC 9162 verification does not bind the tree size by itself (the size is authenticated by the
 * signed checkpoint), so a proof may legitimately verify for a different size with the same shape.
 */
export function inclusionShape(tree: ReferenceTree, m: number, n: number): string {
  return tree.path(m, n).map((e) => e.side[0]).join('');
}

/** Same for consistency proofs: whether the verifier prepends the old root, then the combine sides. */
export function consistencyShape(tree: ReferenceTree, m: number, n: number): string {
  const pow2 = (m & (m - 1)) === 0;
  return (pow2 ? 'S' : '') + tree.proof(m, n).map((e) => e.side[0]).join('');
}

/** Hex of bytes (for readable assertions and deep comparisons across Buffer/Uint8Array). */
export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** A copy of `b` with bit `bit` (0 = MSB of byte 0) flipped. */
export function flipBit(b: Uint8Array, bit: number): Uint8Array {
  const out = Uint8Array.from(b);
  out[bit >> 3] = (out[bit >> 3] as number) ^ (0x80 >> (bit & 7));
  return out;
}

/** Deterministic distinct entries: entry i is the 8-byte big-endian i followed by `i mod 7` bytes of 0xAB. */
export function makeEntry(i: number): Uint8Array {
  const e = new Uint8Array(8 + (i % 7)).fill(0xab);
  new DataView(e.buffer).setBigUint64(0, BigInt(i));
  return e;
}

function tileKey(t: { kind: string; level: number; index: bigint }): string {
  return `${t.kind}/${t.level}/${t.index}`;
}

/**
 * An in-memory tlog-tiles store fed by `integrate`. It keeps the widest version of every tile, refuses any write that
 * changes a hash or entry already written (tiles are append-only), and serves hash tiles exactly `width · 32` bytes
 * long, so code that reads past the width the tree size implies fails loudly.
 */
export class TileStore {
  edge: TreeEdge = EMPTY_EDGE;
  /** Edges after each append, by tree size. */
  readonly edges = new Map<bigint, TreeEdge>([[0n, EMPTY_EDGE]]);
  /** Roots after each append, by tree size. */
  readonly roots = new Map<bigint, Hash>();
  readonly data = new Map<string, { tile: TileRef; data: Uint8Array }>();
  /** Every batch of tiles the reader was asked for. */
  readonly reads: TileRef[][] = [];
  readonly ref = new ReferenceTree();

  /** Integrates `entries` (their leaf hashes computed with node:crypto) and stores the tiles. */
  append(entries: readonly Uint8Array[]): Integration {
    const hashes = entries.map(refLeafHash);
    const r = integrate(this.edge, entries, hashes);
    for (const t of r.tiles) this.put(t);
    this.edge = r.edge;
    this.edges.set(r.edge.treeSize, r.edge);
    this.roots.set(r.edge.treeSize, r.rootHash);
    for (const h of hashes) this.ref.push(h);
    return r;
  }

  /** Stores a tile, enforcing that what was stored before is a prefix of the new data. */
  put(t: TileData): void {
    const key = tileKey(t.tile);
    const old = this.data.get(key);
    if (old !== undefined) {
      const prefix = t.data.subarray(0, old.data.length);
      if (t.data.length < old.data.length || hex(prefix) !== hex(old.data)) {
        throw new Error(`TileStore: tile ${key} rewritten: width ${old.tile.width} -> ${t.tile.width} changes stored bytes`);
      }
    }
    this.data.set(key, { tile: t.tile, data: new Uint8Array(t.data) }); // a copy: later writes cannot alias it
  }

  /** The stored bytes of a tile (widest version). */
  get(t: { kind: 'hash' | 'entries'; level: number; index: bigint }): Uint8Array | undefined {
    return this.data.get(tileKey(t))?.data;
  }

  /** A TileReader serving hash tiles cut to exactly their requested width. */
  readonly reader: TileReader = async (tiles) => {
    this.reads.push([...tiles]);
    return tiles.map((t) => {
      if (t.kind !== 'hash') throw new Error(`TileStore: reader asked for ${t.kind} tile`);
      if (t.width < 1 || t.width > 256) throw new Error(`TileStore: reader asked for width ${t.width}`);
      const d = this.get(t);
      const want = t.width * 32;
      if (d === undefined || d.length < want) throw new Error(`TileStore: no tile ${tileKey(t)} of width ${t.width}`);
      return d.subarray(0, want); // a view: exactly what a `.p/<W>` (or full) tile fetch returns
    });
  };
}

/**
 * A tree of any size up to 2^63 - 1 whose leaf hashes are all `x` except the one at `special`, which is `y`.
 * Every subtree hash is then computable in O(63) (subtrees not containing `special` depend only on their size), so
 * the RFC 6962 recursion — MTH, PATH, PROOF in bigint arithmetic, written here from the RFC text — serves as an
 * oracle for trees far too large to build; {@link BigTree.reader} synthesizes the hash tiles such a log would
 * serve. A proof element fetched from the wrong position at the right height differs from the oracle exactly
 * when one of the two positions covers `special`.
 */
export class BigTree {
  /** clean[h]: a perfect subtree of height h not containing `special`. */
  private readonly clean: Hash[] = [];
  /** dirty[h]: the perfect subtree of height h that contains `special`. */
  private readonly dirty: Hash[] = [];
  private readonly memo = new Map<string, Hash>();
  readonly reads: TileRef[][] = [];

  constructor(readonly size: bigint, readonly special: bigint, readonly x: Hash, readonly y: Hash) {
    this.clean.push(x);
    this.dirty.push(y);
    for (let h = 1; h <= 64; h++) {
      const c = this.clean[h - 1] as Hash;
      const d = this.dirty[h - 1] as Hash;
      this.clean.push(refNodeHash(c, c));
      this.dirty.push(((special >> BigInt(h - 1)) & 1n) === 0n ? refNodeHash(d, c) : refNodeHash(c, d));
    }
  }

  /** Hash of the perfect subtree of height h, index k. */
  perfect(h: number, k: bigint): Hash {
    return (this.special >> BigInt(h)) === k ? (this.dirty[h] as Hash) : (this.clean[h] as Hash);
  }

  /** MTH(D[b:e]) by the RFC recursion (bigint). */
  mth(b: bigint, e: bigint): Hash {
    const n = e - b;
    if (n <= 0n || e > this.size) throw new Error(`BigTree: bad range [${b}, ${e})`);
    if ((n & (n - 1n)) === 0n && b % n === 0n) {
      let h = 0;
      while (1n << BigInt(h) < n) h++;
      return this.perfect(h, b >> BigInt(h));
    }
    const key = `${b},${e}`;
    const hit = this.memo.get(key);
    if (hit !== undefined) return hit;
    let k = 1n;
    while (k << 1n < n) k <<= 1n;
    const r = refNodeHash(this.mth(b, b + k), this.mth(b + k, e));
    this.memo.set(key, r);
    return r;
  }

  root(n: bigint = this.size): Hash {
    return n === 0n ? REF_EMPTY_ROOT : this.mth(0n, n);
  }

  leaf(i: bigint): Hash {
    return i === this.special ? this.y : this.x;
  }

  /** PATH(m, D[0:n]) (RFC 6962 §2.1.1), bigint. */
  path(m: bigint, n: bigint = this.size): Hash[] {
    const out: Hash[] = [];
    const go = (lo: bigint, hi: bigint): void => {
      if (hi - lo === 1n) return;
      let k = 1n;
      while (k << 1n < hi - lo) k <<= 1n;
      if (m < lo + k) {
        go(lo, lo + k);
        out.push(this.mth(lo + k, hi));
      } else {
        go(lo + k, hi);
        out.push(this.mth(lo, lo + k));
      }
    };
    go(0n, n);
    return out;
  }

  /** PROOF(m, D[0:n]) (RFC 6962 §2.1.2), bigint. Requires 0 < m < n. */
  proof(m: bigint, n: bigint = this.size): Hash[] {
    const out: Hash[] = [];
    const sub = (lo: bigint, hi: bigint, b: boolean): void => {
      const size = hi - lo;
      const mm = m - lo; // the old tree's leaves inside [lo, hi)
      if (mm === size) {
        if (!b) out.push(this.mth(lo, hi));
        return;
      }
      let k = 1n;
      while (k << 1n < size) k <<= 1n;
      if (mm <= k) {
        sub(lo, lo + k, b);
        out.push(this.mth(lo + k, hi));
      } else {
        sub(lo + k, hi, false);
        out.push(this.mth(lo, lo + k));
      }
    };
    sub(0n, n, true);
    return out;
  }

  /** A TileReader for the tree of `n` leaves: serves each tile cut to its width at size n, recording the reads. */
  reader(n: bigint = this.size): TileReader {
    return async (tiles) => {
      this.reads.push([...tiles]);
      return tiles.map((t) => {
        if (t.kind !== 'hash') throw new Error('BigTree: entry bundle requested');
        const h = 8 * t.level;
        const count = (n >> BigInt(h)) - t.index * 256n;
        const avail = count >= 256n ? 256 : Number(count);
        if (t.width < 1 || t.width > avail) throw new Error(`BigTree: tile ${t.level}/${t.index} width ${t.width} not in a tree of ${n}`);
        const out = new Uint8Array(t.width * 32);
        for (let j = 0; j < t.width; j++) out.set(this.perfect(h, t.index * 256n + BigInt(j)), j * 32);
        return out;
      });
    };
  }
}
