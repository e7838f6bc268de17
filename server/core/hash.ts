/**
 * RFC 6962 §2.1 / RFC 9162 §2.1.1 Merkle hashing with SHA-256.
 *
 *   MTH({})   = SHA-256("")
 *   leafHash  = SHA-256(0x00 || entry)
 *   nodeHash  = SHA-256(0x01 || left || right)
 *
 * Every hash is exactly {@link HASH_SIZE} bytes.
 */
import { createHash } from 'node:crypto';

/** Size in bytes of every hash in the tree. */
export const HASH_SIZE = 32;

/** A 32-byte SHA-256 Merkle tree hash. */
export type Hash = Uint8Array;

const LEAF_PREFIX = new Uint8Array([0x00]);
const NODE_PREFIX = new Uint8Array([0x01]);

/** MTH({}) = SHA-256(""): the root of the empty tree (RFC 9162 §2.1.1; tlog-witness requires it for size 0). */
export const EMPTY_ROOT: Hash = sha256(new Uint8Array(0));

/** SHA-256 of `data`. */
export function sha256(data: Uint8Array): Hash {
  return createHash('sha256').update(data).digest();
}

/** Leaf hash: SHA-256(0x00 || entry) (RFC 6962 §2.1). */
export function leafHash(entry: Uint8Array): Hash {
  return createHash('sha256').update(LEAF_PREFIX).update(entry).digest();
}

/** Interior node hash: SHA-256(0x01 || left || right) (RFC 6962 §2.1). */
export function nodeHash(left: Hash, right: Hash): Hash {
  return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
}
