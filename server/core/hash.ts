/**
 * RFC 6962 §2.1 / RFC 9162 §2.1.1 Merkle hashing with SHA-256.
 *
 *   MTH({})   = SHA-256("")
 *   leafHash  = SHA-256(0x00 || entry)
 *   nodeHash  = SHA-256(0x01 || left || right)
 *
 * Every hash is exactly {@link HASH_SIZE} bytes.
 */
import * as crypto from 'node:crypto';
import { Buffer } from 'node:buffer';

/** Size in bytes of every hash in the tree. */
export const HASH_SIZE = 32;

/** A 32-byte SHA-256 Merkle tree hash. */
export type Hash = Uint8Array;

// One-shot hashing (`crypto.hash`, Node ≥ 20.12) skips the Hash object: the sequencer hashes every leaf and every
// interior node on its hot path. Older runtimes fall back to createHash.
const oneShot = (crypto as { hash?: (alg: string, data: Uint8Array, enc: 'buffer') => Buffer }).hash;

const LEAF_PREFIX = new Uint8Array([0x00]);
const NODE_PREFIX = new Uint8Array([0x01]);

/** MTH({}) = SHA-256(""): the root of the empty tree (RFC 9162 §2.1.1; tlog-witness requires it for size 0). */
export const EMPTY_ROOT: Hash = sha256(new Uint8Array(0));

/** SHA-256 of `data`. */
export function sha256(data: Uint8Array): Hash {
  return oneShot !== undefined ? oneShot('sha256', data, 'buffer') : crypto.createHash('sha256').update(data).digest();
}

// Scratch space for the 65-byte node preimage and short leaf preimages; safe because hashing is synchronous.
const nodeScratch = Buffer.alloc(1 + 2 * 32);
nodeScratch[0] = 0x01;
const leafScratch = Buffer.alloc(1 + 1024);

/** Leaf hash: SHA-256(0x00 || entry) (RFC 6962 §2.1). */
export function leafHash(entry: Uint8Array): Hash {
  if (oneShot === undefined) return crypto.createHash('sha256').update(LEAF_PREFIX).update(entry).digest();
  if (entry.length < leafScratch.length) {
    leafScratch[0] = 0x00;
    leafScratch.set(entry, 1);
    return oneShot('sha256', leafScratch.subarray(0, entry.length + 1), 'buffer');
  }
  return crypto.createHash('sha256').update(LEAF_PREFIX).update(entry).digest();
}

/** Interior node hash: SHA-256(0x01 || left || right) (RFC 6962 §2.1). Requires 32-byte inputs. */
export function nodeHash(left: Hash, right: Hash): Hash {
  if (oneShot === undefined || left.length !== 32 || right.length !== 32) {
    return crypto.createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
  }
  nodeScratch.set(left, 1);
  nodeScratch.set(right, 33);
  return oneShot('sha256', nodeScratch, 'buffer');
}
