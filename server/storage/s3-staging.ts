/**
 * The staging object of one S3 commit: everything a batch produces (tiles, bundles, leaf-hash index entries) and
 * the tree it leads to, in one object written BEFORE the tree state is swapped (Sunlight's order). After the swap
 * the staged objects are made final from it; after a crash at any point, `S3Storage.readTree` re-applies the
 * staging object named by the current tree state, so the final objects always catch up with the tree.
 *
 * Encoding (big-endian): "TLSTAGE1" | u64 treeSize | rootHash[32] | u32 tileCount | tileCount × (u8 kind
 * (0 hash, 1 entries) | u8 level | u64 index | u16 width | u32 length | bytes) | u32 leafCount | leafCount ×
 * (leafHash[32] | u64 leafIndex). Decoding is strict: a truncated or padded object is rejected.
 */
import { HASH_SIZE } from '../core/hash.js';
import { TILE_WIDTH } from '../core/tile.js';
import type { Commit } from './storage.js';

const MAGIC = Buffer.from('TLSTAGE1');

/** Encodes a commit as a staging object. */
export function encodeStaging(c: Commit): Uint8Array {
  let size = MAGIC.length + 8 + HASH_SIZE + 4 + 4 + c.leafIndexes.length * (HASH_SIZE + 8);
  for (const t of c.tiles) size += 16 + t.data.length;
  const b = Buffer.allocUnsafe(size);
  let o = MAGIC.copy(b, 0);
  o = b.writeBigUInt64BE(c.tree.treeSize, o);
  b.set(c.tree.rootHash, o);
  o += HASH_SIZE;
  o = b.writeUInt32BE(c.tiles.length, o);
  for (const t of c.tiles) {
    o = b.writeUInt8(t.tile.kind === 'hash' ? 0 : 1, o);
    o = b.writeUInt8(t.tile.level, o);
    o = b.writeBigUInt64BE(t.tile.index, o);
    o = b.writeUInt16BE(t.tile.width, o);
    o = b.writeUInt32BE(t.data.length, o);
    b.set(t.data, o);
    o += t.data.length;
  }
  o = b.writeUInt32BE(c.leafIndexes.length, o);
  for (const l of c.leafIndexes) {
    b.set(l.leafHash, o);
    o += HASH_SIZE;
    o = b.writeBigUInt64BE(l.leafIndex, o);
  }
  if (o !== size) throw new Error('tlog: bad math: staging size');
  return b;
}

/** Decodes a staging object; throws on anything malformed (the object is the log's own, so this is corruption). */
export function decodeStaging(data: Uint8Array): Commit {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const need = (o: number, n: number) => {
    if (o + n > b.length) throw new Error('storage: truncated staging object');
  };
  need(0, MAGIC.length + 8 + HASH_SIZE + 4);
  if (!b.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error('storage: not a staging object');
  let o = MAGIC.length;
  const treeSize = b.readBigUInt64BE(o);
  o += 8;
  const rootHash = Uint8Array.from(b.subarray(o, o + HASH_SIZE));
  o += HASH_SIZE;
  const nTiles = b.readUInt32BE(o);
  o += 4;
  const tiles: Commit['tiles'][number][] = [];
  for (let i = 0; i < nTiles; i++) {
    need(o, 16);
    const kind = b.readUInt8(o) === 0 ? 'hash' : 'entries';
    const level = b.readUInt8(o + 1);
    const index = b.readBigUInt64BE(o + 2);
    const width = b.readUInt16BE(o + 10);
    const len = b.readUInt32BE(o + 12);
    o += 16;
    need(o, len);
    if (width < 1 || width > TILE_WIDTH) throw new Error('storage: bad tile width in staging object');
    tiles.push({ tile: { kind, level, index, width }, data: Uint8Array.from(b.subarray(o, o + len)) });
    o += len;
  }
  need(o, 4);
  const nLeaves = b.readUInt32BE(o);
  o += 4;
  need(o, nLeaves * (HASH_SIZE + 8));
  const leafIndexes: Commit['leafIndexes'][number][] = [];
  for (let i = 0; i < nLeaves; i++) {
    const leafHash = Uint8Array.from(b.subarray(o, o + HASH_SIZE));
    o += HASH_SIZE;
    leafIndexes.push({ leafHash, leafIndex: b.readBigUInt64BE(o) });
    o += 8;
  }
  if (o !== b.length) throw new Error('storage: trailing bytes in staging object');
  return { tiles, leafIndexes, tree: { treeSize, rootHash } };
}
