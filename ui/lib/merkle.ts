/**
 * RFC 6962 / RFC 9162 §2.1 Merkle trees for the browser, over WebCrypto SHA-256 (async):
 *
 *   leafHash = SHA-256(0x00 || entry),  nodeHash = SHA-256(0x01 || left || right),  MTH({}) = SHA-256("")
 *
 * plus the pure range arithmetic of proofs (which ranges of leaves a proof's hashes cover) and the RFC 9162
 * §2.1.3.2 / §2.1.4.2 verification algorithms. This is a browser port of server/core/tree.ts and proof.ts (which
 * use node:crypto): test/unit/ui-verify.test.ts checks it against them. Sizes and indexes are bigint.
 */
import { ab, bytesEqual, concat } from './bytes.js';

/** Size in bytes of every hash in the tree. */
export const HASH_SIZE = 32;

/** SHA-256 of `data` (WebCrypto). */
export async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', ab(data)));
}

/** Leaf hash: SHA-256(0x00 || entry) (RFC 6962 §2.1). */
export function leafHash(entry: Uint8Array): Promise<Uint8Array> {
  return sha256(concat(new Uint8Array([0]), entry));
}

/** Interior node hash: SHA-256(0x01 || left || right) (RFC 6962 §2.1). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Promise<Uint8Array> {
  return sha256(concat(new Uint8Array([1]), left, right));
}

/** A perfect subtree: leaves `[index·2^height, (index+1)·2^height)`. */
export interface NodeId {
  readonly height: number;
  readonly index: bigint;
}

/** A half-open range of leaf indexes `[begin, end)`. */
export type LeafRange = readonly [begin: bigint, end: bigint];

/** The largest power of two strictly less than n (n ≥ 2). */
export function splitPoint(n: bigint): bigint {
  if (n < 2n) throw new Error(`splitPoint(${n})`);
  let k = 1n;
  while (k << 1n < n) k <<= 1n;
  return k;
}

/** `[begin, end)` as maximal aligned perfect subtrees, left to right (MTH = right fold of their hashes). */
export function rangeNodes(begin: bigint, end: bigint): NodeId[] {
  if (begin < 0n || end <= begin) throw new Error(`rangeNodes(${begin}, ${end})`);
  const out: NodeId[] = [];
  while (begin < end) {
    let h = 0;
    while (h < 63 && (begin & ((1n << BigInt(h + 1)) - 1n)) === 0n && begin + (1n << BigInt(h + 1)) <= end) h++;
    out.push({ height: h, index: begin >> BigInt(h) });
    begin += 1n << BigInt(h);
  }
  return out;
}

/** Ranges of the inclusion proof PATH(index, D[0:treeSize]) (RFC 9162 §2.1.3.1), leaf's sibling first. */
export function inclusionRanges(index: bigint, treeSize: bigint): LeafRange[] {
  if (index < 0n || index >= treeSize) throw new Error(`inclusionRanges(${index}, ${treeSize})`);
  const out: LeafRange[] = [];
  const path = (lo: bigint, hi: bigint): void => {
    if (hi - lo <= 1n) return;
    const k = splitPoint(hi - lo);
    if (index < lo + k) {
      path(lo, lo + k);
      out.push([lo + k, hi]);
    } else {
      path(lo + k, hi);
      out.push([lo, lo + k]);
    }
  };
  path(0n, treeSize);
  return out;
}

/** Ranges of the consistency proof PROOF(oldSize, D[0:newSize]) (RFC 9162 §2.1.4.1); empty for 0 or equal sizes. */
export function consistencyRanges(oldSize: bigint, newSize: bigint): LeafRange[] {
  if (oldSize < 0n || oldSize > newSize) throw new Error(`consistencyRanges(${oldSize}, ${newSize})`);
  const out: LeafRange[] = [];
  if (oldSize === 0n || oldSize === newSize) return out;
  const sub = (lo: bigint, hi: bigint, complete: boolean): void => {
    if (oldSize === hi) {
      if (!complete) out.push([lo, hi]);
      return;
    }
    const k = splitPoint(hi - lo);
    if (oldSize <= lo + k) {
      sub(lo, lo + k, complete);
      out.push([lo + k, hi]);
    } else {
      sub(lo + k, hi, false);
      out.push([lo, lo + k]);
    }
  };
  sub(0n, newSize, true);
  return out;
}

/**
 * RFC 9162 §2.1.3.2: the root hash that `proof` and `leaf` at `index` give for a tree of `treeSize`, or
 * undefined when the proof has the wrong shape. The proof verifies iff the result equals the checkpoint's root.
 */
export async function rootFromInclusionProof(index: bigint, treeSize: bigint, leaf: Uint8Array, proof: readonly Uint8Array[]): Promise<Uint8Array | undefined> {
  if (index < 0n || index >= treeSize) return undefined;
  let fn = index;
  let sn = treeSize - 1n;
  let r = leaf;
  for (const p of proof) {
    if (p.length !== HASH_SIZE || sn === 0n) return undefined;
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n ? r : undefined;
}

/** RFC 9162 §2.1.4.2: true iff `proof` shows that tree (size1, root1) is a prefix of tree (size2, root2). */
export async function verifyConsistency(size1: bigint, size2: bigint, proof: readonly Uint8Array[], root1: Uint8Array, root2: Uint8Array): Promise<boolean> {
  if (size1 < 0n || size2 < size1) return false;
  if (size1 === size2) return proof.length === 0 && bytesEqual(root1, root2);
  if (size1 === 0n) return proof.length === 0;
  if (proof.length === 0 || proof.some((p) => p.length !== HASH_SIZE)) return false;
  const path = (size1 & (size1 - 1n)) === 0n ? [root1, ...proof] : [...proof];
  let fn = size1 - 1n;
  let sn = size2 - 1n;
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return bytesEqual(fr, root1) && bytesEqual(sr, root2) && sn === 0n;
}
