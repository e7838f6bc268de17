/**
 * C2SP tlog-tiles: tile coordinates and paths.
 * SPEC: c2sp.org/tlog-tiles (v0.1.0) — "Merkle Tree" and "Tiles" sections.
 *
 * A hash tile at level L holds up to 256 consecutive hashes of tree level 8·L: hash i of tile N at level L is
 * MTH(D[(N·256+i)·256^L : (N·256+i+1)·256^L]). An entry bundle N holds entries [N·256, N·256+256).
 * A tile is *full* at width 256 and *partial* (`.p/<W>`, 1 ≤ W ≤ 255) otherwise; partial tiles are never
 * hashed into the level above. Tile height is fixed at 8 and is not part of the path.
 */
import { malformed } from './errors.js';
import { MAX_INT63 } from './strict.js';

/** Levels of the tree per tile level (the spec's fixed tile height). */
export const TILE_HEIGHT = 8;
/** Hashes in a full hash tile, entries in a full entry bundle. */
export const TILE_WIDTH = 256;
/** Highest tile level a path may name (the spec allows L in 0..63). */
export const MAX_TILE_LEVEL = 63;

/**
 * A tile: `kind` 'hash' (level 0..63) or 'entries' (level is always 0), its index N within the level,
 * and its width W (1 ≤ W ≤ 256; 256 = full).
 */
export interface TileRef {
  readonly kind: 'hash' | 'entries';
  readonly level: number;
  readonly index: bigint;
  readonly width: number;
}

/**
 * Formats a tile index as the spec's path segments: zero-padded 3-digit groups, every group but the last
 * prefixed with `x`. 0 → `000`, 1000 → `x001/000`, 1234067 → `x001/x234/067`.
 */
export function formatTileIndex(index: bigint): string {
  if (index < 0n) throw new RangeError('tile index must be non-negative');
  let s = (index % 1000n).toString().padStart(3, '0');
  let n = index / 1000n;
  while (n > 0n) {
    s = `x${(n % 1000n).toString().padStart(3, '0')}/${s}`;
    n /= 1000n;
  }
  return s;
}

/** The tile's path relative to the log prefix, e.g. `tile/0/x001/234.p/7` or `tile/entries/000`. */
export function tilePath(t: TileRef): string {
  const head = t.kind === 'entries' ? 'tile/entries' : `tile/${t.level}`;
  const suffix = t.width === TILE_WIDTH ? '' : `.p/${t.width}`;
  return `${head}/${formatTileIndex(t.index)}${suffix}`;
}

const LEVEL = /^(0|[1-9][0-9]?)$/;
const GROUP = /^[0-9]{3}$/;
const XGROUP = /^x[0-9]{3}$/;
const WIDTH = /^[1-9][0-9]{0,2}$/;

/**
 * Parses a tile path (relative to the prefix, no leading slash), strictly: canonical level 0..63, canonical
 * index groups (no redundant leading `x000/`), width 1..255 without leading zeros. Untrusted input: throws
 * MALFORMED for anything else, so that `tilePath(parseTilePath(p)) === p` for every accepted `p`.
 */
export function parseTilePath(path: string): TileRef {
  if (path.length > 200) throw malformed('tile path too long');
  const parts = path.split('/');
  if (parts.length < 3 || parts[0] !== 'tile') throw malformed('tile path must start with tile/<L>/ or tile/entries/');
  const levelPart = parts[1] as string;
  let kind: 'hash' | 'entries';
  let level = 0;
  if (levelPart === 'entries') {
    kind = 'entries';
  } else {
    if (!LEVEL.test(levelPart)) throw malformed('tile level must be a decimal 0..63 without leading zeros');
    level = Number(levelPart);
    if (level > MAX_TILE_LEVEL) throw malformed('tile level must be 0..63');
    kind = 'hash';
  }
  let rest = parts.slice(2);
  let width = TILE_WIDTH;
  const dotP = rest.length >= 2 ? rest[rest.length - 2] as string : '';
  if (dotP.endsWith('.p')) {
    const w = rest[rest.length - 1] as string;
    if (!WIDTH.test(w) || Number(w) > 255) throw malformed('partial tile width must be 1..255 without leading zeros');
    width = Number(w);
    rest = [...rest.slice(0, -2), dotP.slice(0, -2)];
  }
  let index = 0n;
  rest.forEach((g, i) => {
    const last = i === rest.length - 1;
    if (last ? !GROUP.test(g) : !XGROUP.test(g)) throw malformed('tile index must be 3-digit groups, all but the last prefixed with x');
    index = index * 1000n + BigInt(last ? g : g.slice(1));
  });
  if (index > MAX_INT63) throw malformed('tile index out of range');
  const t: TileRef = { kind, level, index, width };
  if (tilePath(t) !== path) throw malformed('tile path is not canonical');
  return t;
}

/**
 * Number of hashes stored at tile level `level` for a tree of `treeSize` leaves: ⌊treeSize / 256^level⌋.
 * (For entry bundles use level 0: the number of entries.)
 */
export function levelCount(level: number, treeSize: bigint): bigint {
  return treeSize >> BigInt(TILE_HEIGHT * level);
}

/**
 * Width of tile `index` at `level` in a tree of `treeSize` leaves: 256 for a full tile, 1..255 for the partial
 * tile at the right edge, 0 if the tile does not exist at that size.
 */
export function tileWidth(level: number, index: bigint, treeSize: bigint): number {
  const n = levelCount(level, treeSize) - index * BigInt(TILE_WIDTH);
  if (n <= 0n) return 0;
  return n >= BigInt(TILE_WIDTH) ? TILE_WIDTH : Number(n);
}

/**
 * The tiles (hash tiles of every level, and entry bundles if `withEntries`) that make up a tree of `treeSize`
 * leaves and that are new or changed relative to a tree of `oldSize` leaves, in level order.
 * `oldSize = 0` lists every tile of the tree. Requires 0 ≤ oldSize ≤ treeSize.
 */
export function tilesForSize(oldSize: bigint, treeSize: bigint, withEntries = false): TileRef[] {
  const out: TileRef[] = [];
  const W = BigInt(TILE_WIDTH);
  const emit = (kind: 'hash' | 'entries', level: number) => {
    const oldCount = levelCount(level, oldSize);
    const newCount = levelCount(level, treeSize);
    if (newCount === oldCount) return;
    for (let n = oldCount / W; n * W < newCount; n++) {
      out.push({ kind, level, index: n, width: tileWidth(level, n, treeSize) });
    }
  };
  for (let level = 0; levelCount(level, treeSize) > 0n; level++) emit('hash', level);
  if (withEntries) emit('entries', 0);
  return out;
}
