/**
 * Proofs and tree hashes computed from hash tiles (server/core/tile-proof.ts) and the integration that writes the
 * tiles (server/core/edge.ts), against the naive RFC recursion of test/support/reference-tree.ts:
 *  - the spec's 70,000-entry and 256-entry examples, as integrate's output;
 *  - integrate in any batch split = one big append; edgeFromTiles(edgeTiles) restores the edge;
 *  - root from integrate, edgeRoot and treeHash = the naive MTH for every size 0..600;
 *  - inclusion and consistency proofs from tiles = RFC PATH / PROOF byte for byte, for every small tree, for random
 *    sizes of a 70,000-leaf log, and for synthetic trees of any size up to 2^63 - 1; tampering fails.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EMPTY_ROOT } from '../../server/core/hash.js';
import { tileForNode, hashFromTile, inclusionProof, inclusionProofs, consistencyProof, treeHash, rangeHashes, type TileReader } from '../../server/core/tile-proof.js';
import { EMPTY_EDGE, edgeFromTiles, edgeRoot, edgeTiles, integrate, type TileData, type TreeEdge } from '../../server/core/edge.js';
import { decodeEntryBundle, entryBundlePrefixLength } from '../../server/core/entry-bundle.js';
import { tilePath, tileWidth, tilesForSize, type TileRef } from '../../server/core/tile.js';
import { verifyConsistency, verifyInclusion } from '../../server/core/proof.js';
import { MAX_INT63 } from '../../server/core/strict.js';
import { BigTree, REF_EMPTY_ROOT, ReferenceTree, TileStore, flipBit, hex, makeEntry, refLeafHash, refNodeHash, sha256, type Hash } from '../support/reference-tree.js';

const MAX = MAX_INT63;
const hexes = (xs: readonly Uint8Array[]): string[] => xs.map(hex);
const key = (t: TileRef): string => `${t.kind}/${t.level}/${t.index}/${t.width}`;
const keys = (ts: readonly TileRef[]): string[] => ts.map(key).sort();
const normEdge = (e: TreeEdge) => ({ treeSize: e.treeSize, partials: e.partials.map((p) => p.map(hex)), entries: e.partialEntries.map(hex) });

/** A small deterministic PRNG (mulberry32), for reproducible batch splits. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Asserts the tiles one proof read: one batch, no tile twice, at most `maxPerLevel` per level (a single proof needs
 * the tile on the leaf's path and the right-edge partial tile), each exactly its width at `size`.
 */
function checkReads(reads: TileRef[][], before: number, size: bigint, label: string, maxPerLevel = 2): void {
  const batches = reads.slice(before);
  assert.ok(batches.length <= 1, `${label}: ${batches.length} reader calls`);
  const tiles = batches.flat();
  assert.equal(new Set(tiles.map(key)).size, tiles.length, `${label}: a tile requested twice`);
  const perLevel = new Map<number, number>();
  for (const t of tiles) {
    perLevel.set(t.level, (perLevel.get(t.level) ?? 0) + 1);
    assert.equal(t.width, tileWidth(t.level, t.index, size), `${label}: ${tilePath(t)} is not the width of that tile at size ${size}`);
  }
  for (const [L, n] of perLevel) assert.ok(n <= maxPerLevel, `${label}: ${n} tiles at level ${L}`);
}

const N = 70000;
const ENTRIES = Array.from({ length: N }, (_, i) => makeEntry(i));
const LEAVES = ENTRIES.map(refLeafHash);

/** One big append of the spec's 70,000 entries. */
const oneShot = integrate(EMPTY_EDGE, ENTRIES, LEAVES);

/** The same 70,000 entries integrated in uneven batches (1..3000, plus batches that stop on tile boundaries). */
const S = new TileStore();
const stepLog: { from: bigint; to: bigint; tiles: TileData[]; root: Hash }[] = [];
{
  const rnd = prng(20250101);
  let i = 0;
  const stops = new Set([1, 2, 255, 256, 257, 511, 512, 65535, 65536, 65537]);
  while (i < N) {
    let n = 1 + Math.floor(rnd() ** 3 * 3000);
    for (const s of stops) if (i < s && i + n > s) n = s - i;
    n = Math.min(n, N - i);
    const from = BigInt(i);
    const r = S.append(ENTRIES.slice(i, i + n));
    stepLog.push({ from, to: BigInt(i + n), tiles: r.tiles, root: r.rootHash });
    i += n;
  }
}
const ref = S.ref;

describe('tileForNode and hashFromTile', () => {
  const cases: [string, number, bigint, bigint, TileRef, number, number][] = [
    // name, height, index, tree size, tile, offset, count
    ['leaf 0 of a 1-leaf tree', 0, 0n, 1n, { kind: 'hash', level: 0, index: 0n, width: 1 }, 0, 1],
    ['leaf 300 of 1000', 0, 300n, 1000n, { kind: 'hash', level: 0, index: 1n, width: 256 }, 44, 1],
    ['height 3 node 33 of 300', 3, 33n, 300n, { kind: 'hash', level: 0, index: 1n, width: 44 }, 8, 8],
    ['height 7 node 1 of 256', 7, 1n, 256n, { kind: 'hash', level: 0, index: 0n, width: 256 }, 128, 128],
    ['height 8 node 0 of 256', 8, 0n, 256n, { kind: 'hash', level: 1, index: 0n, width: 1 }, 0, 1],
    ['height 9 node 1 of 1024', 9, 1n, 1024n, { kind: 'hash', level: 1, index: 0n, width: 4 }, 2, 2],
    ['height 16 node 0 of 70000', 16, 0n, 70000n, { kind: 'hash', level: 2, index: 0n, width: 1 }, 0, 1],
    ['height 62 node 0 of 2^63-1', 62, 0n, MAX, { kind: 'hash', level: 7, index: 0n, width: 127 }, 0, 64],
    ['height 0 node 2^63-2 of 2^63-1', 0, MAX - 1n, MAX, { kind: 'hash', level: 0, index: (MAX - 1n) / 256n, width: 255 }, 254, 1],
  ];
  for (const [name, height, index, size, tile, offset, count] of cases) {
    test(`tileForNode: ${name}`, () => assert.deepEqual(tileForNode({ height, index }, size), { tile, offset, count }));
  }
  test('tileForNode of a node outside the tree is bad math', () => {
    assert.throws(() => tileForNode({ height: 0, index: 5n }, 5n), /bad math/);
    assert.throws(() => tileForNode({ height: 3, index: 1n }, 15n), /bad math/);
    assert.throws(() => tileForNode({ height: 8, index: 0n }, 255n), /bad math/);
  });

  test('property: tileForNode coordinates derived from leaf ranges, for trees up to 2^63-1', () => {
    const arb = fc.bigInt({ min: 1n, max: MAX }).chain((n) =>
      fc.integer({ min: 0, max: 62 }).filter((ht) => n >> BigInt(ht) > 0n).chain((ht) => fc.bigInt({ min: 0n, max: (n >> BigInt(ht)) - 1n }).map((k) => [n, ht, k] as const)),
    );
    fc.assert(
      fc.property(arb, ([n, ht, k]) => {
        const loc = tileForNode({ height: ht, index: k }, n);
        const L = Math.floor(ht / 8);
        const firstLeaf = k << BigInt(ht);
        const hashIndex = firstLeaf / 256n ** BigInt(L); // position of the node's first hash among level-L hashes
        assert.equal(loc.tile.level, L);
        assert.equal(loc.tile.kind, 'hash');
        assert.equal(loc.tile.index, hashIndex / 256n);
        assert.equal(loc.offset, Number(hashIndex % 256n));
        assert.equal(BigInt(loc.count) * 256n ** BigInt(L), 1n << BigInt(ht));
        assert.equal(loc.tile.width, tileWidth(L, loc.tile.index, n));
        assert.ok(loc.offset + loc.count <= loc.tile.width);
      }),
      { numRuns: 1000 },
    );
  });

  test('hashFromTile hashes up 1, 2 or 4 consecutive hashes; reading past the data is a RangeError', () => {
    const hs = [0, 1, 2, 3].map((i) => sha256(Uint8Array.of(i)));
    const tile = new Uint8Array(hs.flatMap((x) => [...x]));
    assert.equal(hex(hashFromTile(tile, 2, 1)), hex(hs[2]!));
    assert.equal(hex(hashFromTile(tile, 2, 2)), hex(refNodeHash(hs[2]!, hs[3]!)));
    assert.equal(hex(hashFromTile(tile, 0, 4)), hex(refNodeHash(refNodeHash(hs[0]!, hs[1]!), refNodeHash(hs[2]!, hs[3]!))));
    assert.throws(() => hashFromTile(tile, 3, 2), RangeError);
    assert.throws(() => hashFromTile(tile.subarray(0, 100), 2, 2), RangeError);
  });
});

describe('integrate: the spec examples', () => {
  test('70,000 entries in one append produce exactly the tiles the spec lists, and bundles alongside', () => {
    assert.deepEqual(keys(oneShot.tiles.map((t) => t.tile)), keys(tilesForSize(0n, 70000n, true)));
    const byKey = new Map(oneShot.tiles.map((t) => [`${t.tile.kind}/${t.tile.level}/${t.tile.index}`, t]));
    assert.equal(byKey.get('hash/0/273')?.tile.width, 112);
    assert.equal(byKey.get('hash/1/0')?.tile.width, 256);
    assert.equal(byKey.get('hash/1/1')?.tile.width, 17);
    assert.equal(byKey.get('hash/2/0')?.tile.width, 1);
    assert.equal(byKey.get('entries/0/273')?.tile.width, 112);
    assert.equal(oneShot.tiles.filter((t) => t.tile.kind === 'hash' && t.tile.level === 0 && t.tile.width === 256).length, 273);
    assert.equal(oneShot.tiles.filter((t) => t.tile.kind === 'entries' && t.tile.width === 256).length, 273);
    assert.equal(hex(oneShot.rootHash), hex(ref.root(N)));
  });

  test('tile contents: L0 = leaf hashes, L1 hash i = MTH of L0 tile i (full tiles only), L2 = MTH of the first 65,536', () => {
    const get = (kind: string, level: number, index: bigint) => oneShot.tiles.find((t) => t.tile.kind === kind && t.tile.level === level && t.tile.index === index)!.data;
    const l0 = get('hash', 0, 273n);
    assert.equal(l0.length, 112 * 32);
    assert.equal(hex(l0), LEAVES.slice(273 * 256).map(hex).join(''));
    const l1 = get('hash', 1, 1n);
    assert.equal(l1.length, 17 * 32, 'the partial L0 tile 273 must not be hashed into L1');
    assert.equal(hex(l1), Array.from({ length: 17 }, (_, i) => hex(ref.mth((256 + i) * 256, (257 + i) * 256))).join(''));
    assert.equal(hex(get('hash', 2, 0n)), hex(ref.mth(0, 65536)));
    assert.deepEqual(hexes(decodeEntryBundle(get('entries', 0, 273n), 112)), hexes(ENTRIES.slice(273 * 256)));
    assert.deepEqual(hexes(decodeEntryBundle(get('entries', 0, 5n), 256)), hexes(ENTRIES.slice(5 * 256, 6 * 256)));
  });

  test('256 entries: one full L0 tile, L1 .p/1 holding its MTH, one full bundle', () => {
    const r = integrate(EMPTY_EDGE, ENTRIES.slice(0, 256), LEAVES.slice(0, 256));
    assert.deepEqual(keys(r.tiles.map((t) => t.tile)), keys([
      { kind: 'hash', level: 0, index: 0n, width: 256 },
      { kind: 'hash', level: 1, index: 0n, width: 1 },
      { kind: 'entries', level: 0, index: 0n, width: 256 },
    ]));
    assert.equal(hex(r.tiles.find((t) => t.tile.level === 1)!.data), hex(ref.mth(0, 256)));
    assert.equal(hex(r.rootHash), hex(ref.mth(0, 256)));
  });
});

describe('integrate: batch splits, purity, edges', () => {
  test('each batch of the uneven build wrote exactly tilesForSize(old, new) and the right root', () => {
    assert.ok(stepLog.length > 40);
    for (const s of stepLog) {
      assert.deepEqual(keys(s.tiles.map((t) => t.tile)), keys(tilesForSize(s.from, s.to, true)), `${s.from} -> ${s.to}`);
      assert.equal(hex(s.root), hex(ref.root(Number(s.to))), `root at ${s.to}`);
    }
  });

  test('the uneven build stored the same bytes for every tile as the one big append, and the same edge', () => {
    const final = new Map(oneShot.tiles.map((t) => [`${t.tile.kind}/${t.tile.level}/${t.tile.index}`, hex(t.data)]));
    assert.equal(S.data.size, final.size);
    for (const [k, v] of S.data) assert.equal(hex(v.data), final.get(k), k);
    assert.deepEqual(normEdge(S.edge), normEdge(oneShot.edge));
  });

  test('property: random batch splits of up to 2,000 entries give the same tiles, edge and root as one append', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2000 }), fc.array(fc.integer({ min: 0, max: 600 }), { maxLength: 30 }), (total, cuts) => {
        const whole = integrate(EMPTY_EDGE, ENTRIES.slice(0, total), LEAVES.slice(0, total));
        const st = new TileStore();
        let at = 0;
        for (const c of [...cuts, total]) {
          const n = Math.min(c, total - at);
          st.append(ENTRIES.slice(at, at + n)); // includes empty batches
          at += n;
        }
        assert.equal(at, total);
        const want = new Map(whole.tiles.map((t) => [`${t.tile.kind}/${t.tile.level}/${t.tile.index}`, hex(t.data)]));
        assert.equal(st.data.size, want.size);
        for (const [k, v] of st.data) assert.equal(hex(v.data), want.get(k), k);
        assert.deepEqual(normEdge(st.edge), normEdge(whole.edge));
        assert.equal(hex(st.roots.get(BigInt(total)) ?? EMPTY_ROOT), hex(whole.rootHash));
      }),
      { numRuns: 25 },
    );
  });

  test('an empty append writes nothing and keeps root and edge', () => {
    const e = S.edges.get(300n) ?? integrate(EMPTY_EDGE, ENTRIES.slice(0, 300), LEAVES.slice(0, 300)).edge;
    const r = integrate(e, [], []);
    assert.deepEqual(r.tiles, []);
    assert.deepEqual(normEdge(r.edge), normEdge(e));
    assert.equal(hex(r.rootHash), hex(edgeRoot(e)));
    assert.deepEqual(integrate(EMPTY_EDGE, [], []).tiles, []);
    assert.equal(hex(integrate(EMPTY_EDGE, [], []).rootHash), hex(EMPTY_ROOT));
  });

  test('integrate does not modify the edge it is given', () => {
    const base = S.edges.get(65535n)!;
    const before = normEdge(base);
    integrate(base, ENTRIES.slice(65535, 66000), LEAVES.slice(65535, 66000));
    integrate(base, ENTRIES.slice(65535, 65536), LEAVES.slice(65535, 65536));
    assert.deepEqual(normEdge(base), before);
  });

  test('an entry over 65,535 bytes makes integrate throw TOO_LARGE (never truncated into a bundle)', () => {
    const big = new Uint8Array(65536);
    for (const before of [0, 255]) {
      const e = integrate(EMPTY_EDGE, ENTRIES.slice(0, before), LEAVES.slice(0, before)).edge;
      assert.throws(() => integrate(e, [big], [refLeafHash(big)]), (err: unknown) => (err as { code?: string }).code === 'TOO_LARGE', `after ${before}`);
    }
    const ok = new Uint8Array(65535);
    assert.equal(integrate(EMPTY_EDGE, [ok], [refLeafHash(ok)]).tiles.length, 2);
  });

  test('entries and leaf hashes of different lengths are bad math', () => {
    assert.throws(() => integrate(EMPTY_EDGE, ENTRIES.slice(0, 2), LEAVES.slice(0, 1)), /bad math/);
  });

  test('edgeTiles(s) lists exactly the partial tiles of size s', () => {
    for (const s of [0n, 1n, 255n, 256n, 257n, 65535n, 65536n, 70000n, MAX, 1n << 40n]) {
      const want = s <= 70000n ? tilesForSize(0n, s, true).filter((t) => t.width < 256) : [];
      if (s <= 70000n) assert.deepEqual(keys(edgeTiles(s)), keys(want), `size ${s}`);
      for (const t of edgeTiles(s)) assert.equal(t.width, t.kind === 'entries' ? Number(s % 256n) : tileWidth(t.level, t.index, s));
    }
    assert.equal(edgeTiles(MAX).length, 8 + 1);
    assert.deepEqual(edgeTiles(1n << 40n), [{ kind: 'hash', level: 5, index: 0n, width: 1 }], '2^40 = 256^5: only L5 .p/1');
  });

  test('edgeFromTiles(edgeTiles(s)) restores the edge at every size the uneven build reached', () => {
    for (const [s, edge] of S.edges) {
      const ts = edgeTiles(s);
      // Stored tiles may have grown past size s: edgeFromTiles must use only the first `width` hashes/entries.
      const data = ts.map((t) => S.get(t)!);
      const wide = edgeFromTiles(s, ts, data);
      assert.deepEqual(normEdge(wide), normEdge(edge), `size ${s} (stored tiles)`);
      // Exactly-sized tiles, as read back from `.p/<W>` paths, with the strict bundle decoder.
      const exact = ts.map((t, i) => (t.kind === 'hash' ? data[i]!.subarray(0, t.width * 32) : data[i]!.subarray(0, entryBundlePrefixLength(data[i]!, t.width))));
      assert.deepEqual(normEdge(edgeFromTiles(s, ts, exact)), normEdge(edge), `size ${s} (exact tiles)`);
      assert.equal(hex(edgeRoot(wide)), hex(ref.root(Number(s))));
    }
  });

  test('a restored edge integrates onward exactly like the original', () => {
    for (const s of [1n, 255n, 256n, 257n, 65535n, 65536n, 65537n]) {
      const orig = S.edges.get(s)!;
      const ts = edgeTiles(s);
      const restored = edgeFromTiles(s, ts, ts.map((t) => S.get(t)!));
      const more = ENTRIES.slice(Number(s), Number(s) + 300);
      const a = integrate(orig, more, LEAVES.slice(Number(s), Number(s) + 300));
      const b = integrate(restored, more, LEAVES.slice(Number(s), Number(s) + 300));
      assert.equal(hex(b.rootHash), hex(a.rootHash), `from ${s}`);
      assert.equal(hex(b.rootHash), hex(ref.root(Number(s) + 300)), `from ${s}`);
      assert.deepEqual(b.tiles.map((t) => [key(t.tile), hex(t.data)]), a.tiles.map((t) => [key(t.tile), hex(t.data)]));
    }
  });
});

describe('roots for every size 0..600', () => {
  const T = new TileStore();
  test('integrate root, edgeRoot and treeHash from tiles equal the naive MTH at each size, one leaf at a time', async () => {
    assert.equal(hex(await treeHash(0n, T.reader)), hex(REF_EMPTY_ROOT));
    assert.equal(hex(edgeRoot(EMPTY_EDGE)), hex(REF_EMPTY_ROOT));
    for (let n = 1; n <= 600; n++) {
      const r = T.append([ENTRIES[n - 1]!]);
      const want = hex(ref.root(n));
      assert.equal(hex(r.rootHash), want, `integrate ${n}`);
      assert.equal(hex(edgeRoot(r.edge)), want, `edgeRoot ${n}`);
      assert.equal(hex(await treeHash(BigInt(n), T.reader)), want, `treeHash ${n}`);
    }
  });
  test('treeHash of every older size 0..600 from the grown tiles', async () => {
    for (let n = 0; n <= 600; n++) assert.equal(hex(await treeHash(BigInt(n), T.reader)), hex(ref.root(n)), `size ${n}`);
  });
  test('treeHash of the empty tree is SHA-256("") and reads no tile', async () => {
    const before = T.reads.length;
    assert.equal(hex(await treeHash(0n, T.reader)), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.equal(T.reads.length, before);
  });
  test('edgeFromTiles(edgeTiles(s)) restores the edge at every size 0..600', () => {
    for (const [s, edge] of T.edges) {
      const ts = edgeTiles(s);
      assert.deepEqual(normEdge(edgeFromTiles(s, ts, ts.map((t) => T.get(t)!))), normEdge(edge), `size ${s}`);
    }
    assert.equal(T.edges.size, 601);
  });
});

describe('proofs from tiles: every small tree and tile boundaries', () => {
  /** Every index of every size 1..48; around the first tile boundaries, every 11th index plus the edges. */
  const cases: [number, number[]][] = [
    ...Array.from({ length: 48 }, (_, k): [number, number[]] => [k + 1, Array.from({ length: k + 1 }, (_, i) => i)]),
    ...[255, 256, 257, 511, 512, 513].map((n): [number, number[]] => [n, [...new Set([0, 1, 127, 128, 254, 255, 256, n - 2, n - 1, ...Array.from({ length: Math.ceil(n / 11) }, (_, k) => 11 * k)])].filter((i) => i < n)]),
  ];
  test('inclusion proofs = RFC PATH, verify against the naive root, read one tile per level and side at most', async () => {
    for (const [n, idxs] of cases) {
      const root = ref.root(n);
      for (const i of idxs) {
        const before = S.reads.length;
        const p = await inclusionProof(BigInt(i), BigInt(n), S.reader);
        checkReads(S.reads, before, BigInt(n), `PATH(${i}, ${n})`);
        assert.deepEqual(hexes(p), hexes(ref.path(i, n).map((e) => e.hash)), `PATH(${i}, ${n})`);
        assert.ok(verifyInclusion(LEAVES[i]!, BigInt(i), BigInt(n), p, root));
      }
    }
  });
  test('consistency proofs = RFC PROOF for those old sizes, empty for 0 and n, and verify', async () => {
    for (const [n, olds] of cases) {
      const r2 = ref.root(n);
      assert.deepEqual(await consistencyProof(0n, BigInt(n), S.reader), []);
      assert.deepEqual(await consistencyProof(BigInt(n), BigInt(n), S.reader), []);
      for (const m of olds.filter((m) => m > 0)) {
        const before = S.reads.length;
        const p = await consistencyProof(BigInt(m), BigInt(n), S.reader);
        checkReads(S.reads, before, BigInt(n), `PROOF(${m}, ${n})`);
        assert.deepEqual(hexes(p), hexes(ref.proof(m, n).map((e) => e.hash)), `PROOF(${m}, ${n})`);
        assert.ok(verifyConsistency(BigInt(m), BigInt(n), ref.root(m), r2, p));
      }
    }
  });
});

/** Sizes of the 70,000-leaf log, biased toward tile and power-of-two boundaries. */
const logSize = fc.oneof(
  fc.integer({ min: 1, max: N }),
  fc.integer({ min: 1, max: 273 }).chain((k) => fc.constantFrom(k * 256 - 1, k * 256, k * 256 + 1)),
  fc.integer({ min: 0, max: 16 }).chain((k) => fc.constantFrom(2 ** k, 2 ** k + 1, Math.max(1, 2 ** k - 1))),
  fc.constantFrom(65535, 65536, 65537, 69999, 70000),
);

describe('proofs from tiles: random sizes of a 70,000-leaf log', () => {
  test('property: inclusion proof = RFC PATH, verifies; any flipped bit, wrong index, extra hash or truncation fails', async () => {
    await fc.assert(
      fc.asyncProperty(logSize, fc.nat(), fc.nat(), async (n, r, bit) => {
        const i = r % n;
        const before = S.reads.length;
        const p = await inclusionProof(BigInt(i), BigInt(n), S.reader);
        checkReads(S.reads, before, BigInt(n), `PATH(${i}, ${n})`);
        assert.deepEqual(hexes(p), hexes(ref.path(i, n).map((e) => e.hash)));
        const root = await treeHash(BigInt(n), S.reader);
        assert.equal(hex(root), hex(ref.root(n)));
        const leaf = LEAVES[i]!;
        assert.ok(verifyInclusion(leaf, BigInt(i), BigInt(n), p, root));
        if (p.length > 0) {
          const k = r % p.length;
          assert.equal(verifyInclusion(leaf, BigInt(i), BigInt(n), p.map((x, j) => (j === k ? flipBit(x, bit % 256) : x)), root), false, 'flipped bit');
          assert.equal(verifyInclusion(leaf, BigInt(i), BigInt(n), p.slice(0, -1), root), false, 'truncated');
        }
        assert.equal(verifyInclusion(leaf, BigInt(i), BigInt(n), [...p, root], root), false, 'trailing garbage');
        assert.equal(verifyInclusion(leaf, BigInt(i), BigInt(n), p, flipBit(root, bit % 256)), false, 'flipped root');
        if (n > 1) assert.equal(verifyInclusion(leaf, BigInt((i + 1 + (bit % (n - 1))) % n), BigInt(n), p, root), false, 'wrong index');
      }),
      { numRuns: 60 },
    );
  });

  test('property: a subtree-hash cache shared across calls and tree sizes gives the same proofs (and is used)', async () => {
    const cache = new Map<string, Hash>();
    await fc.assert(
      fc.asyncProperty(logSize, fc.nat(), async (n, r) => {
        const i = r % n;
        const m = r % (n + 1);
        assert.deepEqual(hexes(await inclusionProof(BigInt(i), BigInt(n), S.reader, cache)), hexes(ref.path(i, n).map((e) => e.hash)));
        const c = await consistencyProof(BigInt(m), BigInt(n), S.reader, cache);
        if (m !== 0 && m !== n) assert.deepEqual(hexes(c), hexes(ref.proof(m, n).map((e) => e.hash)));
      }),
      { numRuns: 80 },
    );
    assert.ok(cache.size > 0, 'inside-tile subtree hashes were cached');
  });

  test('property: consistency proof = RFC PROOF, verifies; flipped bits, swapped roots, extra hash fail', async () => {
    await fc.assert(
      fc.asyncProperty(logSize, fc.nat(), fc.nat(), async (n, r, bit) => {
        const m = r % (n + 1);
        const before = S.reads.length;
        const p = await consistencyProof(BigInt(m), BigInt(n), S.reader);
        checkReads(S.reads, before, BigInt(n), `PROOF(${m}, ${n})`);
        const [r1, r2] = [await treeHash(BigInt(m), S.reader), await treeHash(BigInt(n), S.reader)];
        if (m === 0 || m === n) {
          assert.deepEqual(p, []);
        } else {
          assert.deepEqual(hexes(p), hexes(ref.proof(m, n).map((e) => e.hash)));
        }
        assert.ok(verifyConsistency(BigInt(m), BigInt(n), r1, r2, p));
        assert.equal(verifyConsistency(BigInt(m), BigInt(n), r1, r2, [...p, r2]), false, 'trailing garbage');
        assert.equal(verifyConsistency(BigInt(m), BigInt(n), flipBit(r1, bit % 256), r2, p), false, 'flipped old root');
        // From the empty tree every new root is consistent (nothing to prove); otherwise the new root is bound.
        assert.equal(verifyConsistency(BigInt(m), BigInt(n), r1, flipBit(r2, bit % 256), p), m === 0, 'flipped new root');
        if (m > 0 && m < n) {
          const k = r % p.length;
          assert.equal(verifyConsistency(BigInt(m), BigInt(n), r1, r2, p.map((x, j) => (j === k ? flipBit(x, bit % 256) : x))), false, 'flipped proof bit');
          assert.equal(verifyConsistency(BigInt(m), BigInt(n), r2, r1, p), false, 'swapped roots');
        }
      }),
      { numRuns: 60 },
    );
  });

  test('property: inclusionProofs (batched) = RFC PATH for each index, in order, in one read without duplicate tiles', async () => {
    await fc.assert(
      fc.asyncProperty(logSize, fc.array(fc.nat(), { maxLength: 20 }), async (n, rs) => {
        const idxs = rs.map((r) => BigInt(r % n));
        const before = S.reads.length;
        const ps = await inclusionProofs(idxs, BigInt(n), S.reader);
        checkReads(S.reads, before, BigInt(n), `batch of ${idxs.length} in ${n}`, Infinity);
        if (idxs.length === 0) assert.equal(S.reads.length, before, 'no index: no read');
        assert.equal(ps.length, idxs.length);
        ps.forEach((p, k) => assert.deepEqual(hexes(p), hexes(ref.path(Number(idxs[k]), n).map((e) => e.hash)), `PATH(${idxs[k]}, ${n})`));
      }),
      { numRuns: 40 },
    );
  });

  const edgeSizes = [1, 2, 3, 4, 5, 8, 9, 16, 17, 255, 256, 257, 511, 512, 513, 4096, 4097, 65535, 65536, 65537, 69999, 70000];
  for (const n of edgeSizes) {
    test(`size ${n}: first, middle and last leaf; consistency from 0, 1, n/2, n-1 and n`, async () => {
      const root = await treeHash(BigInt(n), S.reader);
      assert.equal(hex(root), hex(ref.root(n)));
      for (const i of new Set([0, Math.floor(n / 2), n - 1])) {
        const p = await inclusionProof(BigInt(i), BigInt(n), S.reader);
        assert.deepEqual(hexes(p), hexes(ref.path(i, n).map((e) => e.hash)), `leaf ${i}`);
        assert.ok(verifyInclusion(LEAVES[i]!, BigInt(i), BigInt(n), p, root), `leaf ${i}`);
      }
      assert.deepEqual(await consistencyProof(0n, BigInt(n), S.reader), [], 'old size 0: empty proof');
      assert.ok(verifyConsistency(0n, BigInt(n), EMPTY_ROOT, root, []));
      assert.deepEqual(await consistencyProof(BigInt(n), BigInt(n), S.reader), [], 'equal sizes: empty proof');
      assert.ok(verifyConsistency(BigInt(n), BigInt(n), root, root, []));
      for (const m of new Set([1, Math.floor(n / 2), n - 1].filter((m) => m > 0 && m < n))) {
        const p = await consistencyProof(BigInt(m), BigInt(n), S.reader);
        assert.deepEqual(hexes(p), hexes(ref.proof(m, n).map((e) => e.hash)), `${m} -> ${n}`);
        assert.ok(verifyConsistency(BigInt(m), BigInt(n), ref.root(m), root, p), `${m} -> ${n}`);
      }
    });
  }

  test('out-of-range requests are refused (bad math), never answered', async () => {
    await assert.rejects(inclusionProof(0n, 0n, S.reader), /bad math/);
    await assert.rejects(inclusionProof(10n, 10n, S.reader), /bad math/);
    await assert.rejects(consistencyProof(11n, 10n, S.reader), /bad math/);
  });

  test('a failing or short-changing tile reader makes the proof fail, not return garbage', async () => {
    const failing: TileReader = async () => {
      throw new Error('storage down');
    };
    await assert.rejects(inclusionProof(5n, 1000n, failing), /storage down/);
    const tooFew: TileReader = async (tiles) => (await S.reader(tiles)).slice(1);
    await assert.rejects(inclusionProof(5n, 1000n, tooFew));
    const truncated: TileReader = async (tiles) => (await S.reader(tiles)).map((d) => d.subarray(0, d.length - 32));
    await assert.rejects(inclusionProof(999n, 1000n, truncated), RangeError);
    assert.deepEqual(await rangeHashes([], 10n, failing), [], 'no ranges: no read');
  });
});

describe('proofs from tiles: synthetic trees up to 2^63 - 1', () => {
  const X = sha256(Uint8Array.of(0xaa));
  const Y = sha256(Uint8Array.of(0xbb));
  const big = fc.oneof(
    fc.bigInt({ min: 2n, max: MAX }),
    fc.constantFrom(MAX, MAX - 1n, 1n << 62n, (1n << 62n) + 1n, 1n << 32n, (1n << 32n) + 1n, (1n << 32n) - 1n, 70000n, 256n ** 5n, 256n ** 5n + 255n),
  );
  test('sanity: the synthetic oracle agrees with the naive tree on small sizes', async () => {
    for (const n of [1n, 2n, 3n, 7n, 256n, 300n]) {
      for (const s of [0n, n - 1n, n / 2n]) {
        const bt = new BigTree(n, s, X, Y);
        const leaves = Array.from({ length: Number(n) }, (_, i) => (BigInt(i) === s ? Y : X));
        const naive = new ReferenceTree(leaves);
        assert.equal(hex(bt.root()), hex(naive.root()));
        assert.equal(hex(await treeHash(n, bt.reader())), hex(naive.root()));
        for (const i of [0, Number(n) - 1]) assert.deepEqual(hexes(bt.path(BigInt(i))), hexes(naive.path(i).map((e) => e.hash)));
        if (n > 1n) assert.deepEqual(hexes(bt.proof(1n)), hexes(naive.proof(1).map((e) => e.hash)));
      }
    }
  });

  test('property: treeHash, inclusion and consistency proofs equal the RFC recursion and verify, for any size', async () => {
    await fc.assert(
      fc.asyncProperty(big, fc.bigInt({ min: 0n, max: MAX }), fc.bigInt({ min: 0n, max: MAX }), fc.bigInt({ min: 0n, max: MAX }), async (n, a, b, c) => {
        const i = a % n;
        const special = c % 3n === 0n ? i : b % n; // the marked leaf: the proven one, or elsewhere
        const bt = new BigTree(n, special, X, Y);
        const reader = bt.reader(n);
        const root = await treeHash(n, reader);
        assert.equal(hex(root), hex(bt.root()), 'treeHash');

        let before = bt.reads.length;
        const p = await inclusionProof(i, n, reader);
        checkReads(bt.reads, before, n, `PATH(${i}, ${n})`);
        assert.deepEqual(hexes(p), hexes(bt.path(i)), `PATH(${i}, ${n})`);
        assert.ok(verifyInclusion(bt.leaf(i), i, n, p, root));

        const m = 1n + (b % (n - 1n));
        before = bt.reads.length;
        const q = await consistencyProof(m, n, reader);
        checkReads(bt.reads, before, n, `PROOF(${m}, ${n})`);
        assert.deepEqual(hexes(q), hexes(bt.proof(m)), `PROOF(${m}, ${n})`);
        const r1 = await treeHash(m, bt.reader(m));
        assert.equal(hex(r1), hex(bt.root(m)));
        assert.ok(verifyConsistency(m, n, r1, root, q));
        assert.equal(verifyConsistency(m, n, root, r1, q), false, 'swapped roots');
      }),
      { numRuns: 20 },
    );
  });
});
