/**
 * C2SP tlog-tiles coordinates and paths (server/core/tile.ts): the spec's path examples, strict parsing of
 * untrusted paths, tile widths and the set of tiles of a tree (the spec's 70,000-entry example).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  MAX_TILE_LEVEL,
  TILE_WIDTH,
  formatTileIndex,
  levelCount,
  parseTilePath,
  tilePath,
  tileWidth,
  tilesForSize,
  type TileRef,
} from '../../server/core/tile.js';
import { MAX_INT63 } from '../../server/core/strict.js';
import { TlogError } from '../../server/core/errors.js';

const MAX = MAX_INT63;

function throwsMalformed(fn: () => unknown, label: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TlogError, `${label}: expected TlogError, got ${String(e)}`);
    assert.equal(e.code, 'MALFORMED', label);
    return true;
  }, `${label}: accepted`);
}

function parseOrMalformed(p: string): TileRef | undefined {
  try {
    return parseTilePath(p);
  } catch (e) {
    if (e instanceof TlogError && e.code === 'MALFORMED') return undefined;
    throw e;
  }
}

const hash = (level: number, index: bigint, width = 256): TileRef => ({ kind: 'hash', level, index, width });
const entries = (index: bigint, width = 256): TileRef => ({ kind: 'entries', level: 0, index, width });

/** An arbitrary valid TileRef: any level 0..63 for hash tiles, level 0 for entry bundles, index up to 2^63-1. */
const tileRefArb: fc.Arbitrary<TileRef> = fc
  .record({
    kind: fc.constantFrom<'hash' | 'entries'>('hash', 'entries'),
    level: fc.integer({ min: 0, max: MAX_TILE_LEVEL }),
    index: fc.oneof(fc.bigInt({ min: 0n, max: 5000n }), fc.bigInt({ min: 0n, max: MAX })),
    width: fc.oneof(fc.constant(256), fc.integer({ min: 1, max: 256 })),
  })
  .map((t) => ({ kind: t.kind, level: t.kind === 'entries' ? 0 : t.level, index: t.index, width: t.width }));

describe('formatTileIndex (spec examples)', () => {
  const cases: [bigint, string][] = [
    [0n, '000'],
    [1n, '001'],
    [999n, '999'],
    [1000n, 'x001/000'],
    [1234067n, 'x001/x234/067'],
    [19669n, 'x019/669'],
    [1000000n, 'x001/x000/000'],
    [1001000n, 'x001/x001/000'],
    [MAX, 'x009/x223/x372/x036/x854/x775/807'],
  ];
  for (const [n, want] of cases) test(`${n} -> ${want}`, () => assert.equal(formatTileIndex(n), want));
});

describe('tilePath', () => {
  const cases: [TileRef, string][] = [
    [hash(0, 0n), 'tile/0/000'],
    [hash(0, 1234067n, 7), 'tile/0/x001/x234/067.p/7'],
    [hash(1, 19669n, 255), 'tile/1/x019/669.p/255'],
    [hash(63, 0n, 1), 'tile/63/000.p/1'],
    [entries(0n), 'tile/entries/000'],
    [entries(1000n, 5), 'tile/entries/x001/000.p/5'],
  ];
  for (const [t, want] of cases) {
    test(`${JSON.stringify(t, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))} -> ${want}`, () => assert.equal(tilePath(t), want));
    test(`parseTilePath(${want}) gives the tile back`, () => assert.deepEqual(parseTilePath(want), t));
  }
});

describe('parseTilePath rejects non-canonical and junk paths with MALFORMED', () => {
  const bad: [string, string][] = [
    ['leading zero in level', 'tile/00/000'],
    ['leading zero in level 01', 'tile/01/000'],
    ['4-digit group', 'tile/0/0000'],
    ['2-digit group', 'tile/0/00'],
    ['redundant x000 group', 'tile/0/x000/001'],
    ['redundant x000 on entries', 'tile/entries/x000/001'],
    ['level 64', 'tile/64/000'],
    ['level 100', 'tile/100/000'],
    ['negative level', 'tile/-1/000'],
    ['plus level', 'tile/+1/000'],
    ['hex level', 'tile/0x1/000'],
    ['exponent level', 'tile/1e1/000'],
    ['width 0', 'tile/0/000.p/0'],
    ['width 256 (a full tile has no .p)', 'tile/0/000.p/256'],
    ['width 999', 'tile/0/000.p/999'],
    ['width 1000', 'tile/0/000.p/1000'],
    ['width with leading zero', 'tile/0/000.p/05'],
    ['width 00', 'tile/0/000.p/00'],
    ['negative width', 'tile/0/000.p/-1'],
    ['plus width', 'tile/0/000.p/+5'],
    ['empty width', 'tile/0/000.p/'],
    ['.p without width', 'tile/0/000.p'],
    ['.p on a bare level', 'tile/0.p/5'],
    ['.p on a bare level with index', 'tile/0.p/5/000'],
    ['.p on entries', 'tile/entries.p/5'],
    ['.p as its own segment', 'tile/0/.p/5'],
    ['.p twice', 'tile/0/000.p/5.p/5'],
    ['.q instead of .p', 'tile/0/000.q/5'],
    ['.P uppercase', 'tile/0/000.P/5'],
    ['entries junk', 'tile/entries/abc'],
    ['entries empty', 'tile/entries/'],
    ['entries bare', 'tile/entries'],
    ['entries with a level', 'tile/entries/0/000'],
    ['entries x-group only', 'tile/entries/x001'],
    ['entries width 256', 'tile/entries/000.p/256'],
    ['missing index', 'tile/0/'],
    ['missing index and slash', 'tile/0'],
    ['only tile/', 'tile/'],
    ['only tile', 'tile'],
    ['empty', ''],
    ['x-group without last group', 'tile/0/x001'],
    ['x-group then slash', 'tile/0/x001/'],
    ['last group prefixed x', 'tile/0/x001/x000'],
    ['middle group without x', 'tile/0/001/000'],
    ['empty segment', 'tile/0//000'],
    ['empty level', 'tile//000'],
    ['trailing slash', 'tile/0/000/'],
    ['trailing slash after width', 'tile/0/000.p/5/'],
    ['leading slash', '/tile/0/000'],
    ['uppercase X', 'tile/0/X001/000'],
    ['uppercase TILE', 'TILE/0/000'],
    ['dot-dot segment', 'tile/0/../000'],
    ['dot-dot before level', 'tile/../0/000'],
    ['dot-dot inside index', 'tile/0/x001/../000'],
    ['dot segment', 'tile/./0/000'],
    ['backslash', 'tile\\0\\000'],
    ['arabic-indic digits', 'tile/0/\u0660\u0660\u0660'],
    ['fullwidth level', 'tile/\uff10/000'],
    ['fullwidth width', 'tile/0/000.p/\uff15'],
    ['trailing newline', 'tile/0/000\n'],
    ['leading space', ' tile/0/000'],
    ['percent-encoded slash', 'tile/0%2F000'],
    ['query string', 'tile/0/000?x=1'],
    ['index 2^63', `tile/0/${formatTileIndex(MAX + 1n)}`],
    ['index 10^24-1', 'tile/0/x999/x999/x999/x999/x999/x999/x999/999'],
    ['over 200 characters', `tile/0/${'x001/'.repeat(40)}000`],
    ['wrong prefix', 'tiles/0/000'],
    ['checkpoint', 'checkpoint'],
  ];
  for (const [name, p] of bad) test(`${name}: ${JSON.stringify(p)}`, () => throwsMalformed(() => parseTilePath(p), name));

  test('the largest index 2^63-1 at level 63 with width 255 is accepted', () => {
    const p = `tile/63/${formatTileIndex(MAX)}.p/255`;
    assert.deepEqual(parseTilePath(p), hash(63, MAX, 255));
  });
});

describe('tile path properties', () => {
  test('parseTilePath(tilePath(t)) deep-equals t for any tile', () => {
    fc.assert(fc.property(tileRefArb, (t) => assert.deepEqual(parseTilePath(tilePath(t)), t)), { numRuns: 500 });
  });

  test('formatTileIndex round-trips for any bigint 0..2^63-1, with 3-digit groups and x on all but the last', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: MAX }), (n) => {
        const s = formatTileIndex(n);
        const groups = s.split('/');
        assert.match(groups[groups.length - 1] as string, /^[0-9]{3}$/);
        for (const g of groups.slice(0, -1)) assert.match(g, /^x[0-9]{3}$/);
        if (groups.length > 1) assert.notEqual(groups[0], 'x000', 'redundant leading group');
        assert.equal(BigInt(s.replace(/x|\//g, '')), n);
        assert.equal(parseTilePath(`tile/0/${s}`).index, n);
      }),
      { numRuns: 1000 },
    );
  });

  const token = fc.constantFrom(
    'tile', 'entries', '/', '0', '1', '63', '64', '00', 'x', 'x0', 'x001', 'x000', '000', '001', '999', '.p', '5', '255',
    '256', '0', '.', '..', '-', '+', ' ', 'X', '\u0660', '\uff10', '\n', '', 'p', 'e',
  );
  const nearPath = fc.array(token, { maxLength: 14 }).map((ts) => ts.join(''));

  test('arbitrary and near-valid strings only ever throw MALFORMED, and accepted ones are canonical', () => {
    const str = fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), nearPath, tileRefArb.map(tilePath).chain((p) =>
      fc.tuple(fc.nat(p.length), fc.nat(p.length), fc.string({ maxLength: 3 })).map(([i, j, s]) => p.slice(0, Math.min(i, j)) + s + p.slice(Math.max(i, j))),
    ));
    fc.assert(
      fc.property(str, (p) => {
        const t = parseOrMalformed(p);
        if (t !== undefined) {
          assert.equal(tilePath(t), p, 'accepted path is not canonical');
          assert.ok(t.width >= 1 && t.width <= 256 && t.level >= 0 && t.level <= 63 && t.index >= 0n && t.index <= MAX);
        }
      }),
      { numRuns: 400 },
    );
  });
});

describe('levelCount and tileWidth', () => {
  const widths: [number, bigint, bigint, number][] = [
    // level, index, tree size, width
    [0, 0n, 0n, 0],
    [0, 0n, 1n, 1],
    [0, 0n, 255n, 255],
    [0, 0n, 256n, 256],
    [0, 1n, 256n, 0],
    [0, 1n, 257n, 1],
    [0, 0n, 70000n, 256],
    [0, 273n, 70000n, 112],
    [0, 274n, 70000n, 0],
    [1, 0n, 255n, 0],
    [1, 0n, 256n, 1],
    [1, 0n, 65535n, 255],
    [1, 0n, 65536n, 256],
    [1, 1n, 70000n, 17],
    [2, 0n, 65535n, 0],
    [2, 0n, 65536n, 1],
    [2, 0n, 70000n, 1],
    [7, 0n, MAX, 127],
    [7, 1n, MAX, 0],
    [6, 126n, MAX, 256],
    [6, 127n, MAX, 255],
    [6, 128n, MAX, 0],
  ];
  for (const [level, index, size, want] of widths) {
    test(`tileWidth(level ${level}, index ${index}, size ${size}) = ${want}`, () => assert.equal(tileWidth(level, index, size), want));
  }

  test('property: tileWidth = clamp(floor(size / 256^L) - 256·N, 0, 256) for sizes up to 2^63-1', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 7 }), fc.bigInt({ min: 0n, max: MAX }), fc.bigInt({ min: 0n, max: 2n ** 56n }), (L, size, n) => {
        const count = size / 256n ** BigInt(L);
        assert.equal(levelCount(L, size), count);
        // Pick an index near the right edge half of the time, so partial tiles get exercised.
        const index = n % 2n === 0n ? n : count / 256n + (n % 3n) - 1n;
        if (index < 0n) return;
        const left = count - 256n * index;
        const want = left <= 0n ? 0 : left >= 256n ? 256 : Number(left);
        assert.equal(tileWidth(L, index, size), want);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('tilesForSize', () => {
  test('spec example: size 70,000 = 273 full L0 tiles + L0 .p/112, 1 full L1 + L1 .p/17, L2 .p/1', () => {
    const got = tilesForSize(0n, 70000n);
    const want: TileRef[] = [];
    for (let i = 0n; i < 273n; i++) want.push(hash(0, i));
    want.push(hash(0, 273n, 112), hash(1, 0n), hash(1, 1n, 17), hash(2, 0n, 1));
    assert.deepEqual(got, want);
    assert.equal(tilePath(got[273] as TileRef), 'tile/0/273.p/112');
    assert.equal(tilePath(got[275] as TileRef), 'tile/1/001.p/17');
    assert.equal(tilePath(got[276] as TileRef), 'tile/2/000.p/1');
  });

  test('spec example with entry bundles: 273 full bundles + .p/112', () => {
    const got = tilesForSize(0n, 70000n, true).filter((t) => t.kind === 'entries');
    assert.equal(got.length, 274);
    assert.deepEqual(got[273], entries(273n, 112));
    assert.ok(got.slice(0, 273).every((t, i) => t.width === 256 && t.index === BigInt(i)));
  });

  test('spec example: size 256 = one full L0 tile + L1 .p/1', () => {
    assert.deepEqual(tilesForSize(0n, 256n), [hash(0, 0n), hash(1, 0n, 1)]);
    assert.deepEqual(tilesForSize(0n, 256n, true), [hash(0, 0n), hash(1, 0n, 1), entries(0n)]);
  });

  const small: [bigint, bigint, TileRef[]][] = [
    [0n, 0n, []],
    [5n, 5n, []],
    [0n, 1n, [hash(0, 0n, 1)]],
    [1n, 2n, [hash(0, 0n, 2)]],
    [255n, 256n, [hash(0, 0n), hash(1, 0n, 1)]],
    [256n, 257n, [hash(0, 1n, 1)]],
    [200n, 600n, [hash(0, 0n), hash(0, 1n), hash(0, 2n, 88), hash(1, 0n, 2)]],
    [65535n, 65536n, [hash(0, 255n), hash(1, 0n), hash(2, 0n, 1)]],
  ];
  for (const [from, to, want] of small) {
    test(`tiles changed from ${from} to ${to}`, () => assert.deepEqual(tilesForSize(from, to), want));
  }

  test('property: exactly the tiles whose width changed, level order, entries last — also for sizes near 2^63', () => {
    const sizes = fc
      .tuple(fc.oneof(fc.bigInt({ min: 0n, max: 1n << 20n }), fc.bigInt({ min: 0n, max: MAX - 5000n })), fc.bigInt({ min: 0n, max: 3000n }), fc.bigInt({ min: 0n, max: 3000n }))
      .map(([base, a, b]) => (a <= b ? [base + a, base + b] : [base + b, base + a]) as [bigint, bigint]);
    fc.assert(
      fc.property(sizes, fc.boolean(), ([from, to], withEntries) => {
        const got = tilesForSize(from, to, withEntries);
        const want: TileRef[] = [];
        for (let L = 0; levelCount(L, to) > 0n; L++) {
          const first = levelCount(L, from) / 256n;
          const last = (levelCount(L, to) + 255n) / 256n;
          for (let n = first > 0n ? first - 1n : 0n; n < last; n++) {
            const w = tileWidth(L, n, to);
            if (w > 0 && w !== tileWidth(L, n, from)) want.push(hash(L, n, w));
          }
        }
        if (withEntries) for (const t of want.filter((t) => t.level === 0)) want.push(entries(t.index, t.width));
        assert.deepEqual(got, want);
      }),
      { numRuns: 400 },
    );
  });

  test('TILE_WIDTH is the spec constant 256', () => assert.equal(TILE_WIDTH, 256));
});
