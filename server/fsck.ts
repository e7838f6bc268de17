/**
 * Offline verification of a stored log (`tilelog fsck`), for operators after a disk incident and before a restored
 * copy is trusted. Cf. sunlight `CheckLog`, tessera `fsck`. SPEC: c2sp.org/tlog-tiles, c2sp.org/tlog-checkpoint.
 *
 * What is checked, from the LevelDB alone (key layout: server/storage/keys.ts):
 * 1. The latest checkpoint: a signed note that the log's key opens, for the log's origin; its size is at most the
 *    stored tree size.
 * 2. The tree is rebuilt from the entry bundles only (leaf hash = SHA-256(0x00 || entry), RFC 6962 §2.1), with the
 *    same pure integration the sequencer uses (core/edge.ts). Every bundle must exist, decode strictly and hold
 *    exactly its width of entries; every hash tile of every level must exist and equal the rebuilt one, byte for
 *    byte (a partial tile: its width of hashes). The rebuilt root at the checkpoint's size must be the
 *    checkpoint's root hash, and at the stored tree size the stored tree state's root.
 * 3. The leaf-hash index: every entry's leaf hash maps to the entry's index, every Kubernetes audit entry's identity
 *    hash (server/ingest/k8s-audit.ts) maps to its index, and there is no other index row.
 * 4. No stored key lies outside the tree (a tile or bundle beyond the tree size, an unknown key).
 *
 * Each problem names the object (tile path, bundle path, index row), what was expected and what was found.
 * A missing or undecodable bundle does not stop the run: the level-0 hash tile stands in for its leaf hashes.
 *
 * Memory: the rebuilt leaf hashes (32 bytes per entry) and audit identities are kept to check the index rows.
 * The database is opened with createIfMissing false and never written; LevelDB's lock means the server must be
 * stopped (or fsck run on a copy).
 */
import { Level } from 'level';
import { join } from 'node:path';
import { openCheckpoint, type Checkpoint } from './core/checkpoint.js';
import { decodeHashTile, edgeRoot, edgeTiles, encodeHashTile, integrate, EMPTY_EDGE, type TreeEdge } from './core/edge.js';
import { decodeEntryBundle } from './core/entry-bundle.js';
import { HASH_SIZE, leafHash, type Hash } from './core/hash.js';
import type { NoteVerifier } from './core/note.js';
import { bytesEqual, encodeHex } from './core/strict.js';
import { TILE_WIDTH, tilePath, tileWidth, type TileRef } from './core/tile.js';
import { auditEntryIdentity } from './ingest/k8s-audit.js';
import { CHECKPOINT_KEY, TREE_KEY, decodeU64, leafHashKey, tileKey } from './storage/keys.js';

/** One thing that is wrong, named precisely. */
export interface FsckProblem {
  /** What kind of object: checkpoint, tree (stored tree state), tile, bundle, index, key. */
  readonly object: 'checkpoint' | 'tree' | 'tile' | 'bundle' | 'index' | 'key';
  /** Which one: a tlog-tiles path (`tile/0/001`, `tile/entries/000.p/5`), `index h/<hex leaf hash>`, … */
  readonly where: string;
  /** What is wrong, with expected vs found where there is a comparison. */
  readonly message: string;
  readonly expected?: string;
  readonly found?: string;
}

/** The outcome of {@link fsckLog}. `problems` is empty iff the log is sound. */
export interface FsckReport {
  readonly origin: string | undefined;
  readonly checkpointSize: bigint | undefined;
  readonly treeSize: bigint;
  readonly entries: bigint;
  readonly tiles: number;
  readonly indexRows: number;
  readonly problems: FsckProblem[];
}

type Db = Level<Uint8Array, Uint8Array>;
const W = BigInt(TILE_WIDTH);
const hex = (b: Uint8Array): string => encodeHex(b);
const latin1 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');

/** MTH of a full tile's 256 leaf hashes (the hash the level above stores), with the sequencer's own integration. */
function subtreeHash(hashes: readonly Hash[]): Hash {
  return integrate(EMPTY_EDGE, hashes.map(() => new Uint8Array(0)), hashes).rootHash;
}

/** Describes the first differing hash of two hash tiles of equal length. */
function firstHashDifference(expected: Uint8Array, found: Uint8Array): { i: number; count: number } {
  let first = -1;
  let count = 0;
  for (let i = 0; i * HASH_SIZE < expected.length; i++) {
    if (!bytesEqual(expected.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE), found.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE))) {
      if (first < 0) first = i;
      count++;
    }
  }
  return { i: first, count };
}

/**
 * Verifies the log stored in `dataDir` (its `leveldb/` directory) against `verifier` (the log's key). Rejects only
 * if the database cannot be opened (missing, locked by a running server); every inconsistency is a problem in
 * the report.
 */
export async function fsckLog(dataDir: string, verifier: NoteVerifier): Promise<FsckReport> {
  const db: Db = new Level<Uint8Array, Uint8Array>(join(dataDir, 'leveldb'), { keyEncoding: 'view', valueEncoding: 'view', createIfMissing: false });
  await db.open();
  try {
    return await check(db, verifier);
  } finally {
    await db.close();
  }
}

async function check(db: Db, verifier: NoteVerifier): Promise<FsckReport> {
  const problems: FsckProblem[] = [];
  const problem = (p: FsckProblem): void => void problems.push(p);

  // 1. Stored tree state and checkpoint.
  let treeSize = 0n;
  let treeRoot: Hash | undefined;
  const treeValue = await db.get(TREE_KEY);
  if (treeValue !== undefined) {
    if (treeValue.length !== 8 + HASH_SIZE) problem({ object: 'tree', where: 'tree state', message: `is ${treeValue.length} bytes, want ${8 + HASH_SIZE}` });
    else {
      treeSize = decodeU64(treeValue);
      treeRoot = Uint8Array.from(treeValue.subarray(8));
    }
  }
  let checkpoint: Checkpoint | undefined;
  const cpValue = await db.get(CHECKPOINT_KEY);
  if (cpValue === undefined) {
    if (treeSize > 0n) problem({ object: 'checkpoint', where: 'checkpoint', message: `no checkpoint is stored, but the tree holds ${treeSize} entries` });
  } else {
    try {
      checkpoint = openCheckpoint(Buffer.from(cpValue).toString('utf8'), [verifier], verifier.name).checkpoint;
    } catch (err) {
      problem({ object: 'checkpoint', where: 'checkpoint', message: `does not verify with ${verifier.name}: ${(err as Error).message}` });
    }
    if (checkpoint !== undefined && checkpoint.treeSize > treeSize) {
      problem({ object: 'checkpoint', where: 'checkpoint', message: 'is larger than the stored tree (storage rolled back?)', expected: `size ≤ ${treeSize}`, found: `size ${checkpoint.treeSize}` });
    }
  }

  // 2. Rebuild from the bundles; compare every hash tile as it is completed.
  const leafHashes = Buffer.alloc(Number(treeSize) * HASH_SIZE);
  const identities = new Map<string, bigint>();
  let edge: TreeEdge = EMPTY_EDGE;
  let checkpointRoot: Hash | undefined = checkpoint !== undefined && checkpoint.treeSize === 0n ? edgeRoot(EMPTY_EDGE) : undefined;
  let tiles = 0;
  let rebuilt = true;
  const compareTile = async (t: TileRef, expected: Uint8Array, stored?: Uint8Array): Promise<void> => {
    tiles++;
    const found = stored ?? (await db.get(tileKey(t)));
    if (found === undefined) return problem({ object: 'tile', where: tilePath(t), message: 'is missing' });
    if (found.length !== expected.length) {
      return problem({ object: 'tile', where: tilePath(t), message: 'has the wrong length', expected: `${expected.length / HASH_SIZE} hashes (${expected.length} bytes)`, found: `${found.length} bytes` });
    }
    const d = firstHashDifference(expected, found);
    if (d.i >= 0) {
      problem({
        object: 'tile',
        where: tilePath(t),
        message: `${d.count} of ${expected.length / HASH_SIZE} hashes differ from the tree rebuilt from the entries; the first is hash ${d.i}`,
        expected: hex(expected.subarray(d.i * HASH_SIZE, (d.i + 1) * HASH_SIZE)),
        found: hex(found.subarray(d.i * HASH_SIZE, (d.i + 1) * HASH_SIZE)),
      });
    }
  };
  const bundles = (treeSize + W - 1n) / W;
  const CHUNK = 64n;
  for (let b0 = 0n; b0 < bundles && rebuilt; b0 += CHUNK) {
    const refs: TileRef[] = [];
    for (let b = b0; b < bundles && b < b0 + CHUNK; b++) refs.push({ kind: 'entries', level: 0, index: b, width: tileWidth(0, b, treeSize) });
    const data = await db.getMany(refs.map(tileKey));
    for (const [k, ref] of refs.entries()) {
      const where = tilePath(ref);
      const raw = data[k];
      let entries: Uint8Array[] | undefined;
      if (raw === undefined) problem({ object: 'bundle', where, message: 'is missing' });
      else {
        try {
          entries = decodeEntryBundle(raw);
          if (entries.length !== ref.width) {
            problem({ object: 'bundle', where, message: 'holds the wrong number of entries', expected: `${ref.width} entries`, found: `${entries.length} entries` });
            entries = entries.length > ref.width ? entries.slice(0, ref.width) : undefined;
          }
        } catch (err) {
          problem({ object: 'bundle', where, message: `does not decode: ${(err as Error).message}` });
        }
      }
      const first = ref.index * W;
      const tile0Ref: TileRef = { kind: 'hash', level: 0, index: ref.index, width: ref.width };
      const t0 = await db.get(tileKey(tile0Ref));
      const storedHashes = t0 !== undefined && t0.length === ref.width * HASH_SIZE ? decodeHashTile(t0).map((h) => Uint8Array.from(h)) : undefined;
      let hashes: Hash[];
      if (entries !== undefined) {
        hashes = entries.map(leafHash);
        entries.forEach((e, i) => {
          const id = auditEntryIdentity(e);
          if (id !== undefined) identities.set(latin1(id), first + BigInt(i));
        });
        // Bundle and level-0 tile disagree: blame the bundle if the stored tile is the one the level above commits
        // to (then the stored hashes stand in, so the damage is reported once, not as a cascade up the tree).
        const differing = storedHashes === undefined ? [] : hashes.flatMap((h, i) => (bytesEqual(h, storedHashes[i] as Hash) ? [] : [i]));
        if (storedHashes !== undefined && differing.length > 0) {
          // Which one does the tree above commit to? A full tile: its hash in the level-1 tile. The partial tile at
          // the right edge has no parent: the stored tree state's root decides.
          let confirmedBy: string | undefined;
          if (ref.width === TILE_WIDTH) {
            const parent = await db.get(tileKey({ kind: 'hash', level: 1, index: ref.index / W, width: TILE_WIDTH }));
            const off = Number(ref.index % W) * HASH_SIZE;
            const committed = parent !== undefined && parent.length >= off + HASH_SIZE ? parent.subarray(off, off + HASH_SIZE) : undefined;
            if (committed !== undefined && bytesEqual(subtreeHash(storedHashes), committed) && !bytesEqual(subtreeHash(hashes), committed)) confirmedBy = 'the level above';
          } else if (treeRoot !== undefined && first + BigInt(ref.width) === treeSize) {
            const dummies = storedHashes.map(() => new Uint8Array(0));
            if (bytesEqual(integrate(edge, dummies, storedHashes).rootHash, treeRoot) && !bytesEqual(integrate(edge, dummies, hashes).rootHash, treeRoot)) confirmedBy = 'the stored tree root';
          }
          if (confirmedBy !== undefined) {
            for (const i of differing.slice(0, 10)) {
              problem({ object: 'bundle', where, message: `entry ${i} (index ${first + BigInt(i)}) is not the entry the tree commits to (${tilePath(tile0Ref)} hash ${i}, which ${confirmedBy} confirms)`, expected: `leaf hash ${hex(storedHashes[i] as Hash)}`, found: `leaf hash ${hex(hashes[i] as Hash)}` });
            }
            if (differing.length > 10) problem({ object: 'bundle', where, message: `${differing.length - 10} more entries differ likewise` });
            hashes = storedHashes;
          }
        }
      } else {
        // Stand-in: the stored level-0 tile's leaf hashes, so that the rest of the tree is still checked.
        if (storedHashes === undefined) {
          problem({ object: 'tile', where: tilePath(tile0Ref), message: `cannot stand in for ${where}: ${t0 === undefined ? 'missing' : 'wrong length'}; the tree above entry ${first} was not checked` });
          rebuilt = false;
          break;
        }
        hashes = storedHashes;
        entries = hashes.map(() => new Uint8Array(0));
      }
      hashes.forEach((h, i) => leafHashes.set(h, Number(first) * HASH_SIZE + i * HASH_SIZE));
      // Integrate, splitting at the checkpoint's size to get the root there.
      let cut = entries.length;
      if (checkpoint !== undefined && checkpoint.treeSize > first && checkpoint.treeSize < first + BigInt(entries.length)) cut = Number(checkpoint.treeSize - first);
      const parts = cut < entries.length ? [[0, cut], [cut, entries.length]] : [[0, entries.length]];
      for (const [from, to] of parts as [number, number][]) {
        const step = integrate(edge, entries.slice(from, to), hashes.slice(from, to));
        edge = step.edge;
        if (checkpoint !== undefined && edge.treeSize === checkpoint.treeSize) checkpointRoot = step.rootHash;
        for (const t of step.tiles) if (t.tile.kind === 'hash' && t.tile.width === TILE_WIDTH) await compareTile(t.tile, t.data);
      }
    }
  }
  if (rebuilt) {
    for (const t of edgeTiles(treeSize)) {
      if (t.kind === 'hash') await compareTile(t, encodeHashTile(edge.partials[t.level] ?? []));
    }
    const root = edgeRoot(edge);
    if (treeRoot !== undefined && !bytesEqual(root, treeRoot)) {
      problem({ object: 'tree', where: `tree state (size ${treeSize})`, message: 'root hash differs from the root of the tree rebuilt from the entries', expected: hex(root), found: hex(treeRoot) });
    }
    if (checkpoint !== undefined && checkpointRoot !== undefined && !bytesEqual(checkpointRoot, checkpoint.rootHash)) {
      problem({ object: 'checkpoint', where: `checkpoint (size ${checkpoint.treeSize})`, message: 'root hash differs from the root of the tree rebuilt from the entries', expected: hex(checkpointRoot), found: hex(checkpoint.rootHash) });
    }
  }

  // 3. The leaf-hash index, from the entries' side: every leaf hash maps to its index.
  const n = Number(treeSize);
  for (let i0 = 0; i0 < n && rebuilt; i0 += 1024) {
    const hs: Hash[] = [];
    for (let i = i0; i < Math.min(n, i0 + 1024); i++) hs.push(leafHashes.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE));
    const got = await db.getMany(hs.map(leafHashKey));
    got.forEach((v, j) => {
      const i = BigInt(i0 + j);
      const h = hs[j] as Hash;
      if (v === undefined) problem({ object: 'index', where: `index h/${hex(h)}`, message: `row of entry ${i} is missing`, expected: `${i}` });
      else if (v.length !== 8 || decodeU64(v) !== i) problem({ object: 'index', where: `index h/${hex(h)}`, message: `row of entry ${i} names another index`, expected: `${i}`, found: v.length === 8 ? `${decodeU64(v)}` : `${v.length} bytes` });
    });
  }
  for (const [id, i] of identities) {
    const v = await db.get(leafHashKey(Buffer.from(id, 'latin1')));
    const where = `index h/${hex(Buffer.from(id, 'latin1'))}`;
    if (v === undefined) problem({ object: 'index', where, message: `identity row of audit entry ${i} is missing`, expected: `${i}` });
    else if (v.length !== 8 || decodeU64(v) !== i) problem({ object: 'index', where, message: `identity row of audit entry ${i} names another index`, expected: `${i}`, found: v.length === 8 ? `${decodeU64(v)}` : `${v.length} bytes` });
  }

  // 3b. …and from the index's side: no other rows.
  let indexRows = 0;
  for await (const [key, v] of db.iterator({ gte: Uint8Array.of(0x68), lt: Uint8Array.of(0x69) })) {
    indexRows++;
    if (!rebuilt) continue;
    const h = key.subarray(1);
    const where = `index h/${hex(h)}`;
    if (key.length !== 1 + HASH_SIZE) {
      problem({ object: 'index', where: `key ${hex(key)}`, message: `index key is ${key.length} bytes, want ${1 + HASH_SIZE}` });
      continue;
    }
    const i = v.length === 8 ? decodeU64(v) : -1n;
    const isLeaf = i >= 0n && i < treeSize && bytesEqual(leafHashes.subarray(Number(i) * HASH_SIZE, Number(i + 1n) * HASH_SIZE), h);
    if (!isLeaf && identities.get(latin1(h)) !== i) {
      const found = i < 0n ? `a ${v.length}-byte value` : i >= treeSize ? `${i} (beyond the tree)` : `${i} (whose leaf hash is ${hex(leafHashes.subarray(Number(i) * HASH_SIZE, Number(i + 1n) * HASH_SIZE))})`;
      problem({ object: 'index', where, message: 'extra row: no entry has this leaf hash or identity at the index it names', found });
    }
  }

  // 4. No key outside the tree.
  for await (const key of db.keys()) {
    const kind = key[0];
    if (kind === 0x68) continue;
    if (kind === 0x74 && key.length === 10) {
      const t: TileRef = { kind: 'hash', level: key[1] as number, index: decodeU64(key.subarray(2)), width: TILE_WIDTH };
      if (tileWidth(t.level, t.index, treeSize) === 0) problem({ object: 'key', where: tilePath(t), message: `tile lies beyond the tree (size ${treeSize})` });
    } else if (kind === 0x65 && key.length === 9) {
      const t: TileRef = { kind: 'entries', level: 0, index: decodeU64(key.subarray(1)), width: TILE_WIDTH };
      if (tileWidth(0, t.index, treeSize) === 0) problem({ object: 'key', where: tilePath(t), message: `bundle lies beyond the tree (size ${treeSize})` });
    } else if (!bytesEqual(key, TREE_KEY) && !bytesEqual(key, CHECKPOINT_KEY)) {
      problem({ object: 'key', where: `key ${hex(key)}`, message: 'unknown key' });
    }
  }

  return { origin: checkpoint?.origin, checkpointSize: checkpoint?.treeSize, treeSize, entries: treeSize, tiles, indexRows, problems };
}
