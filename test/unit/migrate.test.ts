/**
 * server/migrate.ts on in-memory storages: a full copy equals the source (tree, tiles, leaf index, checkpoint);
 * a copy limited by maxEntries resumes where it stopped; a destination holding another log, or a source whose
 * entries do not hash to its tree, is refused before anything is written.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EMPTY_EDGE, integrate, type TreeEdge } from '../../server/core/edge.js';
import { leafHash } from '../../server/core/hash.js';
import { auditEntry, auditIdentity } from '../../server/ingest/k8s-audit.js';
import { migrateLog } from '../../server/migrate.js';
import { Sequencer } from '../../server/sequencer.js';
import { MemoryStorage } from '../../server/storage/memory-storage.js';

const entries = (tag: string, from: number, n: number) => Array.from({ length: n }, (_, i) => new TextEncoder().encode(`${tag} ${from + i}`));

/** A log of `sizes` commits (so that its tiles have the widths a real log's have). */
function makeLog(tag: string, sizes: number[]): MemoryStorage {
  const s = new MemoryStorage();
  let edge: TreeEdge = EMPTY_EDGE;
  let n = 0;
  for (const k of sizes) {
    const es = entries(tag, n, k);
    const hs = es.map(leafHash);
    const r = integrate(edge, es, hs);
    void s.commit({ tiles: r.tiles, leafIndexes: hs.map((h, i) => ({ leafHash: h, leafIndex: BigInt(n + i) })), tree: { treeSize: r.edge.treeSize, rootHash: r.rootHash } });
    edge = r.edge;
    n += k;
  }
  s.checkpoint = `example\n${n}\nAAAA\n`;
  return s;
}

test('a full copy has the same tree, tiles, leaf index and checkpoint', async () => {
  const src = makeLog('a', [5, 300, 1, 700]);
  const dst = new MemoryStorage();
  const r = await migrateLog(src, dst, { chunk: 512 });
  assert.deepEqual(r, { sourceSize: 1006n, resumedAt: 0n, treeSize: 1006n, checkpointCopied: true });
  assert.deepEqual(Buffer.from(dst.tree!.rootHash), Buffer.from(src.tree!.rootHash));
  assert.equal(dst.checkpoint, src.checkpoint);
  assert.deepEqual(await dst.lookupLeafHashes([leafHash(entries('a', 777, 1)[0]!)]), [777n]);
  for (const k of ['hash/0/2', 'hash/1/0', 'entries/0/3']) assert.ok(dst.tiles.has(k), k);
});

test('a copy stopped by maxEntries resumes where it stopped', async () => {
  const src = makeLog('a', [1000]);
  const dst = new MemoryStorage();
  const r1 = await migrateLog(src, dst, { chunk: 256, maxEntries: 300n });
  assert.equal(r1.treeSize, 300n);
  assert.equal(r1.checkpointCopied, false);
  assert.equal(dst.checkpoint, undefined);
  const r2 = await migrateLog(src, dst, { chunk: 256 });
  assert.deepEqual(r2, { sourceSize: 1000n, resumedAt: 300n, treeSize: 1000n, checkpointCopied: true });
  assert.deepEqual(Buffer.from(dst.tree!.rootHash), Buffer.from(src.tree!.rootHash));
});

test('a destination holding another log is refused', async () => {
  const dst = new MemoryStorage();
  await migrateLog(makeLog('b', [100]), dst);
  await assert.rejects(migrateLog(makeLog('a', [200]), dst), /another log/);
  assert.equal(dst.tree?.treeSize, 100n, 'nothing written');
});

test('a source whose entries do not hash to its tree is refused before writing', async () => {
  const src = makeLog('a', [300]);
  const bundle = src.tiles.get('entries/0/0')!;
  bundle[bundle.length - 1] = (bundle[bundle.length - 1] as number) ^ 1; // flip a bit of entry 255
  const dst = new MemoryStorage();
  await assert.rejects(migrateLog(src, dst), /do not hash to its tree/);
  assert.equal(dst.tree, undefined);
});

test('the identity rows of audit entries are copied as the source has them: duplicates stay duplicates', async () => {
  const event = (auditID: string, note: string) => ({ kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'Metadata', auditID, stage: 'ResponseComplete', verb: 'get', requestURI: `/api/v1/${note}` });
  // The source, written by a real sequencer: audit events with their identities (as the k8s route adds them),
  // plain entries, and an audit-looking entry added as plain bytes (no identity row in the source).
  const src = new MemoryStorage();
  const seq = await Sequencer.open(src, { batchSize: 1000, batchDelayMs: 1, maxPending: 10_000 });
  const audit = Array.from({ length: 300 }, (_, i) => event(`id-${i}`, 'a'));
  await seq.add(audit.map((e) => auditEntry(e, undefined)), audit.map(auditIdentity));
  await seq.add(entries('plain', 0, 10));
  const lookalike = event('not-registered', 'x');
  const [raw] = await seq.add([auditEntry(lookalike, undefined)]); // index 310, leaf-hash key only
  // A retried event with other bytes is a duplicate in the source.
  const [again] = await seq.add([auditEntry(event('id-7', 'changed'), undefined)], [auditIdentity(event('id-7', 'x'))]);
  assert.equal(again?.duplicate, true);
  await seq.drain();
  const ids = [auditIdentity(audit[0]!), auditIdentity(audit[7]!), auditIdentity(audit[299]!), auditIdentity(lookalike)];
  assert.deepEqual(await src.lookupLeafHashes(ids), [0n, 7n, 299n, undefined]);
  assert.equal(raw?.leafIndex, 310n);

  // Copied in two runs (resume) with chunks across the audit entries.
  const dst = new MemoryStorage();
  await migrateLog(src, dst, { chunk: 256, maxEntries: 100n });
  await migrateLog(src, dst, { chunk: 256 });
  assert.deepEqual(dst.tree, src.tree);
  assert.deepEqual(await dst.lookupLeafHashes(ids), [0n, 7n, 299n, undefined], 'exactly the source\'s identity rows');
  assert.deepEqual(new Map(dst.leaves), new Map(src.leaves), 'the whole index is the source\'s');

  // The migrated log still detects a retried audit event with changed bytes as a duplicate.
  const moved = await Sequencer.open(dst, { batchSize: 1000, batchDelayMs: 1, maxPending: 10_000 });
  const [retried] = await moved.add([auditEntry(event('id-299', 'changed again'), undefined)], [auditIdentity(audit[299]!)]);
  assert.deepEqual({ duplicate: retried?.duplicate, leafIndex: retried?.leafIndex }, { duplicate: true, leafIndex: 299n });
  await moved.drain();
  assert.equal(dst.tree?.treeSize, src.tree?.treeSize, 'nothing appended');
});
