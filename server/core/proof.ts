/**
 * Verification of RFC 9162 inclusion and consistency proofs.
 * SPEC: RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency), with c2sp.org/tlog-witness's edge cases:
 * old size 0 ⇒ the proof MUST be empty; equal sizes ⇒ empty proof and equal roots; the empty tree's root is
 * SHA-256(""). Every function returns a boolean for a proof that does not verify and never throws on it;
 * malformed proof hashes (not 32 bytes) simply fail.
 */
import { EMPTY_ROOT, HASH_SIZE, nodeHash, type Hash } from './hash.js';
import { bytesEqual } from './strict.js';

/** Verifies that `leafHash` is at `index` in the tree of `treeSize` leaves with root `rootHash`. */
export function verifyInclusion(leafHash: Hash, index: bigint, treeSize: bigint, proof: readonly Hash[], rootHash: Hash): boolean {
  const r = rootFromInclusionProof(leafHash, index, treeSize, proof);
  return r !== undefined && bytesEqual(r, rootHash);
}

/**
 * The root implied by an inclusion proof (RFC 9162 §2.1.3.2 steps 1–5), or undefined if the proof has the
 * wrong shape for (index, treeSize).
 */
export function rootFromInclusionProof(leafHash: Hash, index: bigint, treeSize: bigint, proof: readonly Hash[]): Hash | undefined {
  if (index < 0n || index >= treeSize || leafHash.length !== HASH_SIZE) return undefined;
  let fn = index;
  let sn = treeSize - 1n;
  let r = leafHash;
  for (const p of proof) {
    if (p.length !== HASH_SIZE || sn === 0n) return undefined;
    if ((fn & 1n) === 1n || fn === sn) {
      r = nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n ? r : undefined;
}

/**
 * Verifies that the tree of `newSize` leaves with root `newRoot` extends the tree of `oldSize` leaves with root
 * `oldRoot` (RFC 9162 §2.1.4.2 plus the tlog-witness edge cases). Requires nothing of its inputs: any
 * inconsistent or malformed input returns false.
 */
export function verifyConsistency(oldSize: bigint, newSize: bigint, oldRoot: Hash, newRoot: Hash, proof: readonly Hash[]): boolean {
  if (oldSize < 0n || oldSize > newSize) return false;
  // tlog-witness: an empty old tree has root SHA-256(""), and then the proof MUST be empty.
  if (oldSize === 0n) return proof.length === 0 && bytesEqual(oldRoot, EMPTY_ROOT) && (newSize > 0n || bytesEqual(newRoot, EMPTY_ROOT));
  if (oldSize === newSize) return proof.length === 0 && bytesEqual(oldRoot, newRoot);
  if (proof.length === 0) return false;
  for (const p of proof) if (p.length !== HASH_SIZE) return false;
  let path = proof;
  if (isPowerOfTwo(oldSize)) path = [oldRoot, ...proof];
  let fn = oldSize - 1n;
  let sn = newSize - 1n;
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = path[0] as Hash;
  let sr = path[0] as Hash;
  for (let i = 1; i < path.length; i++) {
    const c = path[i] as Hash;
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && bytesEqual(fr, oldRoot) && bytesEqual(sr, newRoot);
}

function isPowerOfTwo(n: bigint): boolean {
  return n > 0n && (n & (n - 1n)) === 0n;
}
