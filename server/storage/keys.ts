/**
 * Binary key layout shared by key-value backends (LevelDB today). Big-endian integers keep keys in tree order.
 *
 *   't' u8(level) u64(index)   hash tile (its widest stored version)
 *   'e' u64(index)             entry bundle
 *   'h' hash[32]               leaf hash → u64 leaf index
 *   's' "tree"                 u64 tree size || root hash[32]
 *   's' "checkpoint"           latest published checkpoint (signed note text, UTF-8)
 */
import type { TileRef } from '../core/tile.js';

/** Key of a tile (hash tile or entry bundle), independent of its width. */
export function tileKey(t: TileRef): Uint8Array {
  if (t.kind === 'entries') {
    const k = Buffer.allocUnsafe(9);
    k[0] = 0x65; // 'e'
    k.writeBigUInt64BE(t.index, 1);
    return k;
  }
  const k = Buffer.allocUnsafe(10);
  k[0] = 0x74; // 't'
  k[1] = t.level;
  k.writeBigUInt64BE(t.index, 2);
  return k;
}

/** Key of a leaf-hash index entry. */
export function leafHashKey(leafHash: Uint8Array): Uint8Array {
  const k = Buffer.allocUnsafe(33);
  k[0] = 0x68; // 'h'
  k.set(leafHash, 1);
  return k;
}

export const TREE_KEY: Uint8Array = Buffer.from('stree');
export const CHECKPOINT_KEY: Uint8Array = Buffer.from('scheckpoint');

/** u64 big-endian. */
export function encodeU64(n: bigint): Uint8Array {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(n);
  return b;
}

/** Reads a u64 big-endian from the first 8 bytes. */
export function decodeU64(b: Uint8Array): bigint {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).readBigUInt64BE(0);
}
