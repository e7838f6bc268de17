/**
 * The sequencer and publisher over in-memory storage with injected faults (cf. Sunlight's TestSequenceErrors):
 * one row per storage write, each followed by a full check of the log from storage, as a client would.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { openCheckpoint } from '../../server/core/checkpoint.js';
import { TlogError } from '../../server/core/errors.js';
import { leafHash } from '../../server/core/hash.js';
import { newEd25519Signer, newVerifier } from '../../server/core/keys.js';
import { verifyConsistency, verifyInclusion } from '../../server/core/proof.js';
import { bytesEqual } from '../../server/core/strict.js';
import { consistencyProof, inclusionProof, treeHash, type TileReader } from '../../server/core/tile-proof.js';
import { Log } from '../../server/log.js';
import { MemoryStorage, type Fault } from '../../server/storage/memory-storage.js';

const ORIGIN = 'example.test/seq';
const signer = newEd25519Signer(ORIGIN, new Uint8Array(32).fill(7));
const verifier = newVerifier(signer.vkey);

function reader(storage: MemoryStorage): TileReader {
  return async (tiles) =>
    (await storage.readTiles(tiles)).map((d, i) => {
      assert.ok(d, `tile ${JSON.stringify(tiles[i], (_k, v) => (typeof v === 'bigint' ? v.toString() : v))} missing`);
      return d;
    });
}

async function openLog(storage: MemoryStorage, opts: Partial<{ maxPending: number; batchSize: number; batchDelayMs: number }> = {}): Promise<Log> {
  return Log.open({
    storage,
    signer,
    origin: ORIGIN,
    sequencer: { batchSize: opts.batchSize ?? 100, batchDelayMs: opts.batchDelayMs ?? 1, maxPending: opts.maxPending ?? 10_000 },
    checkpointIntervalMs: 3_600_000, // publication is driven by hand in these tests
  });
}

const entry = (i: number) => new TextEncoder().encode(`entry ${i}`);

/** fsck: the stored tiles hash to the stored root, every acknowledged entry is at its index, checkpoints are consistent. */
async function fsck(storage: MemoryStorage, acked: Map<bigint, Uint8Array>, checkpoints: string[]): Promise<void> {
  const tree = await storage.readTree();
  const size = tree?.treeSize ?? 0n;
  const read = reader(storage);
  if (tree !== undefined) assert.ok(bytesEqual(await treeHash(size, read), tree.rootHash), 'tiles do not hash to the stored root');
  for (const [index, e] of acked) {
    assert.ok(index < size, `acknowledged entry ${index} lost (size ${size})`);
    const proof = await inclusionProof(index, size, read);
    assert.ok(verifyInclusion(leafHash(e), index, size, proof, (tree as { rootHash: Uint8Array }).rootHash), `entry ${index} not included`);
  }
  const opened = checkpoints.map((c) => openCheckpoint(c, [verifier], ORIGIN).checkpoint);
  for (let i = 1; i < opened.length; i++) {
    const a = opened[i - 1]!;
    const b = opened[i]!;
    assert.ok(a.treeSize <= b.treeSize, 'checkpoint went backwards');
    const p = await consistencyProof(a.treeSize, b.treeSize, read);
    assert.ok(verifyConsistency(a.treeSize, b.treeSize, a.rootHash, b.rootHash, p), `checkpoints ${a.treeSize} → ${b.treeSize} inconsistent`);
  }
}

describe('sequencer', () => {
  test('assigns consecutive indexes in submission order and detects duplicates in the batch and in the log', async () => {
    const storage = new MemoryStorage();
    const log = await openLog(storage);
    const r1 = await log.add([entry(0), entry(1), entry(0)]);
    assert.deepEqual(r1.map((r) => [r.leafIndex, r.duplicate]), [[0n, false], [1n, false], [0n, true]]);
    const r2 = await log.add([entry(1), entry(2)]);
    assert.deepEqual(r2.map((r) => [r.leafIndex, r.duplicate]), [[1n, true], [2n, false]]);
    assert.equal(log.tree.treeSize, 3n);
    await log.drain();
    await fsck(storage, new Map([[0n, entry(0)], [1n, entry(1)], [2n, entry(2)]]), [storage.checkpoint!]);
    await log.close();
  });

  test('concurrent requests are grouped into batches and all acknowledged once', async () => {
    const storage = new MemoryStorage();
    const log = await openLog(storage, { batchSize: 64 });
    const results = await Promise.all(Array.from({ length: 50 }, (_, r) => log.add(Array.from({ length: 7 }, (_, i) => entry(r * 7 + i)))));
    const indexes = results.flat().map((x) => x.leafIndex).sort((a, b) => (a < b ? -1 : 1));
    assert.deepEqual(indexes, Array.from({ length: 350 }, (_, i) => BigInt(i)));
    await log.drain();
    await log.close();
  });

  test('an entry over 65,535 bytes is refused with TOO_LARGE and nothing of its request is added', async () => {
    const log = await openLog(new MemoryStorage());
    await assert.rejects(log.add([entry(1), new Uint8Array(65_536)]), (e: unknown) => e instanceof TlogError && e.code === 'TOO_LARGE' && /65535/.test(e.message));
    assert.equal((await log.add([new Uint8Array(65_535)]))[0]!.leafIndex, 0n);
    await log.drain();
    await log.close();
  });

  test('a full pool pushes back with PUSHBACK and a retry delay', async () => {
    const log = await openLog(new MemoryStorage(), { maxPending: 10, batchSize: 1000, batchDelayMs: 50 });
    const first = log.add(Array.from({ length: 8 }, (_, i) => entry(i)));
    await assert.rejects(log.add([entry(100), entry(101), entry(102)]), (e: unknown) => e instanceof TlogError && e.code === 'PUSHBACK' && e.retryAfter !== undefined);
    assert.equal((await first).length, 8);
    await log.drain();
    await log.close();
  });

  const faults: { name: string; fault: Fault; expectGrowth: boolean }[] = [
    { name: 'commit lost', fault: { op: 'commit', mode: 'lost' }, expectGrowth: false },
    { name: 'commit persisted but reported failed', fault: { op: 'commit', mode: 'persisted' }, expectGrowth: true },
  ];
  for (const row of faults) {
    test(`storage fault: ${row.name} — nobody is acknowledged, no index is reused, the log stays consistent`, async () => {
      const storage = new MemoryStorage();
      const log = await openLog(storage);
      const acked = new Map<bigint, Uint8Array>();
      for (const r of await log.add([entry(0), entry(1)])) acked.set(r.leafIndex, entry(Number(r.leafIndex)));
      await log.publisher.publish();
      const checkpoints = [storage.checkpoint!];
      storage.failNext(row.fault);
      await assert.rejects(log.add([entry(2), entry(3)]), (e: unknown) => e instanceof TlogError && e.code === 'INTERNAL');
      assert.equal(log.tree.treeSize, row.expectGrowth ? 4n : 2n);
      // Retrying the same entries: either they are appended now, or found as duplicates at the indexes storage kept.
      const retry = await log.add([entry(2), entry(3), entry(4)]);
      assert.deepEqual(retry.map((r) => r.leafIndex), [2n, 3n, 4n]);
      assert.deepEqual(retry.map((r) => r.duplicate), row.expectGrowth ? [true, true, false] : [false, false, false]);
      retry.forEach((r, i) => acked.set(r.leafIndex, entry(2 + i)));
      await log.publisher.publish();
      checkpoints.push(storage.checkpoint!);
      await fsck(storage, acked, checkpoints);
      await log.drain();
      await log.close();
    });
  }

  for (const mode of ['lost', 'persisted'] as const) {
    test(`checkpoint write ${mode}: not served unless stored; the next publication is consistent`, async () => {
      const storage = new MemoryStorage();
      const log = await openLog(storage);
      const before = log.published.checkpoint;
      await log.add([entry(0)]);
      storage.failNext({ op: 'writeCheckpoint', mode });
      await assert.rejects(log.publisher.publish());
      assert.equal(log.published.checkpoint, before, 'a checkpoint that failed to store was served');
      await log.add([entry(1)]);
      const p = await log.publisher.publish();
      assert.equal(p.treeSize, 2n);
      await fsck(storage, new Map([[0n, entry(0)], [1n, entry(1)]]), [before, p.checkpoint]);
      await log.close();
    });
  }

  test('waitFor resolves once a published checkpoint covers the size', async () => {
    const storage = new MemoryStorage();
    const log = await openLog(storage);
    const [r] = await log.add([entry(0)]);
    let resolved = false;
    const w = log.publisher.waitFor(r!.leafIndex + 1n).then((p) => ((resolved = true), p));
    await new Promise((res) => setTimeout(res, 20));
    assert.equal(resolved, false, 'resolved before publication');
    await log.publisher.publish();
    const p = await w;
    assert.equal(p.treeSize, 1n);
    await log.close();
  });
});

describe('Log.open refuses to fork', () => {
  test('restart on the same storage resumes at the next index with the same checkpoint', async () => {
    const storage = new MemoryStorage();
    const log = await openLog(storage);
    await log.add(Array.from({ length: 300 }, (_, i) => entry(i)));
    await log.drain();
    const cp = log.published.checkpoint;
    const again = await openLog(storage);
    assert.equal(again.published.checkpoint, cp);
    const [r] = await again.add([entry(1000)]);
    assert.equal(r!.leafIndex, 300n);
    await again.close();
  });

  test('a stored checkpoint larger than the stored tree (rolled-back storage) stops the start', async () => {
    const storage = new MemoryStorage();
    const log = await openLog(storage);
    await log.add([entry(0), entry(1)]);
    await log.drain();
    const newer = storage.checkpoint!;
    // Roll the tree back to an empty log, keeping the newer checkpoint.
    storage.tree = undefined;
    storage.tiles.clear();
    storage.leaves.clear();
    storage.checkpoint = newer;
    await assert.rejects(openLog(storage), /rolled back/);
  });

  test('a stored checkpoint whose root differs from the stored tree stops the start', async () => {
    const a = new MemoryStorage();
    const logA = await openLog(a);
    await logA.add([entry(0), entry(1)]);
    await logA.drain();
    const b = new MemoryStorage();
    const logB = await openLog(b);
    await logB.add([entry(5), entry(6), entry(7)]);
    await logB.drain();
    b.checkpoint = a.checkpoint; // size 2 of another history
    await assert.rejects(openLog(b), /does not match/);
  });

  test('a checkpoint signed by another key stops the start', async () => {
    const storage = new MemoryStorage();
    const other = newEd25519Signer(ORIGIN, new Uint8Array(32).fill(9));
    const log = await Log.open({ storage, signer: other, origin: ORIGIN, sequencer: { batchSize: 10, batchDelayMs: 1, maxPending: 100 }, checkpointIntervalMs: 3_600_000 });
    await log.drain();
    await assert.rejects(openLog(storage));
  });
});
