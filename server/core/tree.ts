/**
 * RFC 6962 / RFC 9162 §2.1 Merkle tree structure: perfect subtrees, the ranges that make up a tree hash,
 * an inclusion proof and a consistency proof, as pure bigint arithmetic (no hashing, no storage).
 *
 * Node coordinates: a perfect subtree is `{ height, index }`, covering leaves
 * `[index·2^height, (index+1)·2^height)`. Height 0 nodes are leaf hashes.
 *
 *   height 2:              (2,0)
 *                      /          \
 *   height 1:      (1,0)          (1,1)          (1,2)
 *                 /    \         /    \         /    \
 *   height 0:  (0,0)  (0,1)  (0,2)  (0,3)  (0,4)  (0,5)  (0,6)      ← tree of size 7
 *
 * Every proof element is the MTH of a half-open range of leaves `[begin, end)` (a "range"); the range is
 * aligned as RFC 6962 recursion produces it, so its MTH is the right fold of its perfect subtrees
 * ({@link rangeNodes}). Sizes and indexes are bigint, correct up to 2^63 - 1.
 */
import { badMath } from './errors.js';

/** A perfect subtree: leaves `[index·2^height, (index+1)·2^height)`. 0 ≤ height ≤ 63. */
export interface NodeId {
  readonly height: number;
  readonly index: bigint;
}

/** A half-open range of leaf indexes `[begin, end)`, begin < end. */
export type LeafRange = readonly [begin: bigint, end: bigint];

/** The largest power of two strictly less than n. Requires n ≥ 2. (RFC 9162 §2.1.1's k.) */
export function splitPoint(n: bigint): bigint {
  if (n < 2n) badMath(`splitPoint(${n})`);
  let k = 1n;
  while (k << 1n < n) k <<= 1n;
  return k;
}

/**
 * Decomposes `[begin, end)` into maximal aligned perfect subtrees, left to right. For ranges produced by RFC 6962
 * recursion the heights strictly decrease, and MTH(D[begin:end]) = N₁ ∘ (N₂ ∘ (… ∘ Nₜ)) (a right fold).
 * Requires 0 ≤ begin < end.
 */
export function rangeNodes(begin: bigint, end: bigint): NodeId[] {
  if (begin < 0n || end <= begin) badMath(`rangeNodes(${begin}, ${end})`);
  const out: NodeId[] = [];
  while (begin < end) {
    let h = 0;
    // Grow while begin stays aligned to 2^(h+1) and the subtree still fits.
    while (h < 63 && (begin & ((1n << BigInt(h + 1)) - 1n)) === 0n && begin + (1n << BigInt(h + 1)) <= end) h++;
    out.push({ height: h, index: begin >> BigInt(h) });
    begin += 1n << BigInt(h);
  }
  return out;
}

/**
 * The ranges whose MTHs form the inclusion proof PATH(index, D[0:treeSize]) (RFC 9162 §2.1.3.1), leaf's sibling
 * first, root's child last. Requires 0 ≤ index < treeSize.
 */
export function inclusionRanges(index: bigint, treeSize: bigint): LeafRange[] {
  if (index < 0n || index >= treeSize) badMath(`inclusionRanges(${index}, ${treeSize})`);
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

/**
 * The ranges whose MTHs form the consistency proof PROOF(oldSize, D[0:newSize]) (RFC 9162 §2.1.4.1).
 * Empty when oldSize = 0 or oldSize = newSize (tlog-witness). Requires 0 ≤ oldSize ≤ newSize.
 */
export function consistencyRanges(oldSize: bigint, newSize: bigint): LeafRange[] {
  if (oldSize < 0n || oldSize > newSize) badMath(`consistencyRanges(${oldSize}, ${newSize})`);
  const out: LeafRange[] = [];
  if (oldSize === 0n || oldSize === newSize) return out;
  const subproof = (lo: bigint, hi: bigint, complete: boolean): void => {
    if (oldSize === hi) {
      if (!complete) out.push([lo, hi]);
      return;
    }
    const k = splitPoint(hi - lo);
    if (oldSize <= lo + k) {
      subproof(lo, lo + k, complete);
      out.push([lo + k, hi]);
    } else {
      subproof(lo + k, hi, false);
      out.push([lo, lo + k]);
    }
  };
  subproof(0n, newSize, true);
  return out;
}
