/**
 * C2SP tlog-tiles arithmetic for the browser (port of server/core/tile.ts and tile-proof.ts): tile paths,
 * widths, where a perfect subtree's hash lives, and range hashes computed from hash tiles.
 * SPEC: c2sp.org/tlog-tiles — tile height 8, width 256, partial tiles `.p/<W>`.
 */
import { HASH_SIZE, nodeHash, rangeNodes, type LeafRange, type NodeId } from './merkle.js';

/** Tree levels per tile level. */
export const TILE_HEIGHT = 8;
/** Hashes in a full hash tile, entries in a full entry bundle. */
export const TILE_WIDTH = 256;

/** A hash tile (`level` ≥ 0) or an entry bundle (`level` = -1), index N, width 1..256. */
export interface TileRef {
  readonly level: number;
  readonly index: bigint;
  readonly width: number;
}

/** Index N as the spec's path segments: `000`, `x001/000`, `x001/x234/067`. */
export function formatTileIndex(index: bigint): string {
  let s = (index % 1000n).toString().padStart(3, '0');
  let n = index / 1000n;
  while (n > 0n) {
    s = `x${(n % 1000n).toString().padStart(3, '0')}/${s}`;
    n /= 1000n;
  }
  return s;
}

/** `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]` (no leading slash). */
export function tilePath(t: TileRef): string {
  const head = t.level < 0 ? 'tile/entries' : `tile/${t.level}`;
  return `${head}/${formatTileIndex(t.index)}${t.width === TILE_WIDTH ? '' : `.p/${t.width}`}`;
}

/** ⌊treeSize / 256^level⌋: hashes stored at tile level `level`. */
export function levelCount(level: number, treeSize: bigint): bigint {
  return treeSize >> BigInt(TILE_HEIGHT * Math.max(0, level));
}

/** Width of tile `index` at `level` (entries: -1) in a tree of `treeSize`: 256, 1..255 (right edge), 0 (absent). */
export function tileWidth(level: number, index: bigint, treeSize: bigint): number {
  const n = levelCount(level, treeSize) - index * BigInt(TILE_WIDTH);
  if (n <= 0n) return 0;
  return n >= BigInt(TILE_WIDTH) ? TILE_WIDTH : Number(n);
}

/** Where perfect subtree `node` is: `count` hashes from `offset` of `tile`, hashed up. */
export function tileForNode(node: NodeId, treeSize: bigint): { tile: TileRef; offset: number; count: number } {
  const level = Math.floor(node.height / TILE_HEIGHT);
  const r = node.height % TILE_HEIGHT;
  const first = node.index << BigInt(r);
  const index = first / BigInt(TILE_WIDTH);
  const offset = Number(first % BigInt(TILE_WIDTH));
  const count = 1 << r;
  const width = tileWidth(level, index, treeSize);
  if (offset + count > width) throw new Error(`node (${node.height},${node.index}) is not in a tree of size ${treeSize}`);
  return { tile: { level, index, width }, offset, count };
}

/** MTH of `count` (a power of two) consecutive hashes of `tile` from `offset`. */
export async function hashFromTile(tile: Uint8Array, offset: number, count: number): Promise<Uint8Array> {
  if ((offset + count) * HASH_SIZE > tile.length) throw new Error('tile is shorter than the hashes it must hold');
  let level: Uint8Array[] = [];
  for (let i = 0; i < count; i++) level.push(tile.subarray((offset + i) * HASH_SIZE, (offset + i + 1) * HASH_SIZE));
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(await nodeHash(level[i]!, level[i + 1]!));
    level = next;
  }
  return level[0]!;
}

/** Reads hash tiles: one buffer of exactly `width · 32` bytes per tile, or rejects. */
export type TileReader = (tile: TileRef) => Promise<Uint8Array>;

/** MTH of each range (RFC 6962 recursion ranges) of a tree of `treeSize`, from its hash tiles. */
export async function rangeHashes(ranges: readonly LeafRange[], treeSize: bigint, read: TileReader): Promise<Uint8Array[]> {
  const memo = new Map<string, Uint8Array>();
  const subtree = async (n: NodeId): Promise<Uint8Array> => {
    const key = `${n.height}/${n.index}`;
    let h = memo.get(key);
    if (h !== undefined) return h;
    if (n.height % TILE_HEIGHT === 0) {
      const loc = tileForNode(n, treeSize);
      h = await hashFromTile(await read(loc.tile), loc.offset, 1);
    } else {
      const height = n.height - 1;
      h = await nodeHash(await subtree({ height, index: n.index * 2n }), await subtree({ height, index: n.index * 2n + 1n }));
    }
    memo.set(key, h);
    return h;
  };
  const out: Uint8Array[] = [];
  for (const [b, e] of ranges) {
    const nodes = rangeNodes(b, e);
    let acc: Uint8Array | undefined;
    for (let i = nodes.length - 1; i >= 0; i--) {
      const h = await subtree(nodes[i]!);
      acc = acc === undefined ? h : await nodeHash(h, acc);
    }
    out.push(acc!);
  }
  return out;
}
