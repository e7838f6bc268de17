/**
 * The S3 backend against a real Ceph RGW started by this test: the storage conformance suite, the commit
 * discipline under injected crashes (stop after step k, reopen: nothing acknowledged lost, tree and tiles
 * consistent), the compare-and-swap between two writers, and the objects' HTTP metadata in the bucket (entry
 * bundles gzip-compressed with Content-Encoding: gzip, or plain with `uncompressedBundles`; a log with both reads).
 * Skips loudly if the Ceph binaries are not installed (.ci/run installs them).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { EMPTY_EDGE, integrate, type TreeEdge } from '../../server/core/edge.js';
import { leafHash } from '../../server/core/hash.js';
import { encodeEntryBundle } from '../../server/core/entry-bundle.js';
import { tilePath, type TileRef } from '../../server/core/tile.js';
import { loadTree, Sequencer } from '../../server/sequencer.js';
import { S3Storage, s3ClientConfig, TreeConflict, type CommitStep } from '../../server/storage/s3-storage.js';
import { Fenced, type Commit } from '../../server/storage/storage.js';
import { PutObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { skipMessage, startS3, type S3Server } from '../support/s3-server.js';
import { conformance } from '../support/storage-conformance.js';

const skip = skipMessage();
let s3: S3Server | undefined;
let client: S3Client | undefined;
const BUCKET = 'tilelog-test';

before(async () => {
  if (skip !== false) return;
  s3 = await startS3();
  client = new S3Client({ ...s3ClientConfig({ endpoint: s3.endpoint, forcePathStyle: true }, {}), region: s3.env.AWS_REGION, credentials: { accessKeyId: s3.env.AWS_ACCESS_KEY_ID, secretAccessKey: s3.env.AWS_SECRET_ACCESS_KEY } });
  // Creates the bucket once.
  await (await S3Storage.open({ bucket: BUCKET, prefix: 'init/', client, createBucket: true })).close();
});

after(async () => {
  client?.destroy();
  await s3?.stop();
});

const open = (prefix: string, afterStep?: (s: CommitStep) => void) => S3Storage.open({ bucket: BUCKET, prefix, client: client as S3Client, ...(afterStep !== undefined ? { afterStep } : {}) });
const freshPrefix = () => `log-${randomBytes(6).toString('hex')}/`;
const entries = (from: number, n: number) => Array.from({ length: n }, (_, i) => new TextEncoder().encode(`entry ${from + i}`));

function commitOf(edge: TreeEdge, es: Uint8Array[]): { commit: Commit; edge: TreeEdge } {
  const hs = es.map(leafHash);
  const r = integrate(edge, es, hs);
  return { commit: { tiles: r.tiles, leafIndexes: hs.map((h, i) => ({ leafHash: h, leafIndex: edge.treeSize + BigInt(i) })), tree: { treeSize: r.edge.treeSize, rootHash: r.rootHash } }, edge: r.edge };
}

conformance(
  {
    name: 's3 (Ceph RGW)',
    async open() {
      const prefix = freshPrefix();
      const storage = await open(prefix);
      return { storage, reopen: () => open(prefix), cleanup: () => {} };
    },
  },
  { skip },
);

describe('s3 storage: commit discipline', { skip }, () => {
  for (const step of ['staged', 'swapped', 'final'] as const) {
    test(`a crash right after step "${step}" is recovered on reopening`, async () => {
      const prefix = freshPrefix();
      const a = await open(prefix, (s) => {
        if (s === step && crash) throw new Error(`injected crash after ${s}`);
      });
      let crash = false;
      assert.equal(await a.readTree(), undefined);
      const c1 = commitOf(EMPTY_EDGE, entries(0, 200));
      await a.commit(c1.commit); // acknowledged
      await a.readTree(); // waits for c1's background step 3, so that the crash is c2's
      crash = true;
      const c2 = commitOf(c1.edge, entries(200, 100));
      // Step 3 runs in the background: a crash after it does not reject the (already durable) commit.
      if (step === 'final') await a.commit(c2.commit);
      else await assert.rejects(a.commit(c2.commit), /injected crash/);
      // "Restart": a new process opens the same prefix.
      const b = await open(prefix);
      const { tree } = await loadTree(b); // checks the stored tiles hash to the stored root
      const want = step === 'staged' ? c1.commit.tree : c2.commit.tree;
      assert.equal(tree.treeSize, want.treeSize);
      assert.deepEqual(Buffer.from(tree.rootHash), Buffer.from(want.rootHash));
      // Every acknowledged entry is findable; the crashed batch is all-or-nothing.
      const [first] = await b.lookupLeafHashes([leafHash(entries(5, 1)[0]!)]);
      assert.equal(first, 5n);
      const [last] = await b.lookupLeafHashes([leafHash(entries(299, 1)[0]!)]);
      assert.equal(last, step === 'staged' ? undefined : 299n);
      if (step !== 'staged') {
        const [t] = await b.readTiles([{ kind: 'hash', level: 0, index: 0n, width: 256 }]);
        assert.equal(t?.length, 256 * 32, 'the final objects were completed from the staging object');
      }
      // The log goes on from the recovered tree.
      const next = commitOf((await loadTree(b)).edge, entries(1000, 3));
      await b.commit(next.commit);
      assert.equal((await b.readTree())?.treeSize, want.treeSize + 3n);
      await a.close();
      await b.close();
    });
  }

  test('a sequencer on S3 never acknowledges an entry that a crash then loses', async () => {
    const prefix = freshPrefix();
    let failures = 0;
    let calls = 0;
    const storage = await open(prefix, (s) => {
      // Fail some commits at varying steps (every third step call), as a crash or a network error would.
      if (++calls % 3 === 2) {
        failures++;
        throw new Error(`injected failure after ${s}`);
      }
    });
    const seq = await Sequencer.open(storage, { batchSize: 20, maxBatchEntries: 60, batchDelayMs: 2, maxPending: 100_000 });
    const acked = new Map<string, bigint>();
    await Promise.all(
      Array.from({ length: 40 }, async (_, r) => {
        const es = entries(r * 20, 20);
        try {
          const res = await seq.add(es);
          res.forEach((x, i) => acked.set(`entry ${r * 20 + i}`, x.leafIndex));
        } catch {
          /* not acknowledged: may or may not be in the log */
        }
      }),
    );
    assert.ok(failures > 0, 'some failures were injected');
    assert.ok(acked.size > 0, 'some entries were acknowledged');
    const reopened = await open(prefix);
    const { tree } = await loadTree(reopened);
    const found = await reopened.lookupLeafHashes([...acked.keys()].map((e) => leafHash(new TextEncoder().encode(e))));
    [...acked.values()].forEach((idx, i) => assert.equal(found[i], idx, 'an acknowledged entry is at its acknowledged index'));
    assert.ok(tree.treeSize >= BigInt(acked.size));
    await storage.close();
    await reopened.close();
  });

  test('without the leaf index (leafIndex: false) no index objects are written and lookups find nothing', async () => {
    const prefix = freshPrefix();
    const s = await S3Storage.open({ bucket: BUCKET, prefix, client: client as S3Client, leafIndex: false });
    await s.readTree();
    const c = commitOf(EMPTY_EDGE, entries(0, 10));
    await s.commit(c.commit);
    assert.deepEqual(await s.lookupLeafHashes([leafHash(entries(3, 1)[0]!)]), [undefined]);
    await s.close(); // waits for step 3
    const withIndex = await open(prefix);
    assert.deepEqual(await withIndex.lookupLeafHashes([leafHash(entries(3, 1)[0]!)]), [undefined], 'no index object in the bucket');
    assert.equal((await loadTree(withIndex)).tree.treeSize, 10n);
    await withIndex.close();
  });

  test('two writers on one prefix: the compare-and-swap lets exactly one extend a given tree', async () => {
    const prefix = freshPrefix();
    const a = await open(prefix);
    const b = await open(prefix);
    await a.readTree();
    await b.readTree();
    const ca = commitOf(EMPTY_EDGE, entries(0, 10));
    const cb = commitOf(EMPTY_EDGE, entries(100, 10));
    const results = await Promise.allSettled([a.commit(ca.commit), b.commit(cb.commit)]);
    const won = results.filter((r) => r.status === 'fulfilled').length;
    assert.equal(won, 1, 'exactly one commit of the same tree wins');
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.ok(lost.reason instanceof TreeConflict, String(lost.reason));
    // The loser re-reads and continues on the winner's tree (also the fencing of a stale writer).
    const loser = results[0]!.status === 'rejected' ? a : b;
    const { edge } = await loadTree(loser);
    assert.equal(edge.treeSize, 10n);
    await loser.commit(commitOf(edge, entries(200, 5)).commit);
    const { tree } = await loadTree(await open(prefix));
    assert.equal(tree.treeSize, 15n);
    await a.close();
    await b.close();
  });

  test('fencing: once a newer lease epoch stamps the tree, an older leader can neither commit nor publish', async () => {
    const prefix = freshPrefix();
    const getText = async (key: string) => {
      try {
        const r = await (client as S3Client).send(new GetObjectCommand({ Bucket: BUCKET, Key: prefix + key }));
        return await (r.Body as { transformToString(): Promise<string> }).transformToString();
      } catch {
        return undefined;
      }
    };
    const a = await open(prefix);
    await a.fence(1n); // A leads with epoch 1 (an empty log: the fence creates the tree state)
    assert.match((await getText('.tilelog/tree')) ?? '', /^tilelog-tree\/v2\n0\n/);
    const c1 = commitOf(EMPTY_EDGE, entries(0, 10));
    await a.commit(c1.commit);
    await a.writeCheckpoint('example.com/fence\n10\nAAAA\n\n— a 10\n');
    // B takes over with epoch 2: it stamps the tree (A's next swap loses on the ETag and finds the newer epoch).
    const b = await open(prefix);
    await b.fence(2n);
    const { edge } = await loadTree(b);
    assert.equal(edge.treeSize, 10n, 'the new leader continues the same tree');
    // The stale leader A wakes up: its commit and its checkpoint are refused, and nothing of them is stored.
    const c2 = commitOf(c1.edge, entries(10, 5));
    await assert.rejects(a.commit(c2.commit), (e: unknown) => e instanceof Fenced && e.storedEpoch === 2n && e.epoch === 1n);
    await assert.rejects(a.writeCheckpoint('example.com/fence\n15\nBBBB\n\n— a 15\n'), Fenced);
    assert.equal(await getText('checkpoint'), 'example.com/fence\n10\nAAAA\n\n— a 10\n', 'the stale leader published nothing');
    assert.equal((await loadTree(await open(prefix))).tree.treeSize, 10n);
    // A cannot fence its way back with an old epoch either.
    await assert.rejects(a.fence(1n), Fenced);
    // B goes on.
    await b.commit(commitOf(edge, entries(100, 3)).commit);
    await b.writeCheckpoint('example.com/fence\n13\nCCCC\n\n— b 13\n');
    assert.equal((await getText('checkpoint'))?.split('\n')[1], '13');
    assert.equal((await loadTree(await open(prefix))).tree.treeSize, 13n);
    // The log's coordination changed (stopped, restarted with another lease store): epochs restart in the new
    // store, and its leader still fences every leader of the old one.
    const c = await open(prefix);
    await c.fence(1n, 'postgres');
    const { edge: edgeC } = await loadTree(c);
    await assert.rejects(b.commit(commitOf(edgeC, entries(200, 1)).commit), Fenced);
    await c.commit(commitOf(edgeC, entries(300, 2)).commit);
    assert.equal((await loadTree(await open(prefix))).tree.treeSize, 15n);
    await c.close();
    await a.close();
    await b.close();
  });

  test('a tree state in format v1 (written before leases) is read, and fenced to v2', async () => {
    const prefix = freshPrefix();
    const a = await open(prefix);
    await a.commit(commitOf(EMPTY_EDGE, entries(0, 3)).commit);
    await a.close();
    const v2 = (await (await (client as S3Client).send(new GetObjectCommand({ Bucket: BUCKET, Key: prefix + '.tilelog/tree' }))).Body!.transformToString()).split('\n');
    const v1 = ['tilelog-tree/v1', ...v2.slice(1, 5), ''].join('\n');
    await (client as S3Client).send(new PutObjectCommand({ Bucket: BUCKET, Key: prefix + '.tilelog/tree', Body: v1 }));
    const b = await open(prefix);
    assert.equal((await loadTree(b)).tree.treeSize, 3n);
    await b.fence(5n);
    const now = await (await (client as S3Client).send(new GetObjectCommand({ Bucket: BUCKET, Key: prefix + '.tilelog/tree' }))).Body!.transformToString();
    assert.match(now, /^tilelog-tree\/v2\n3\n[0-9a-f]{64}\n\.tilelog\/staging\/[^\n]+\n[0-9a-f]+\n5 lease\n[0-9a-f]+\n$/);
    await b.close();
  });

  test('objects carry the tlog-tiles paths, Content-Type and Cache-Control for serving from the bucket', async () => {
    const prefix = freshPrefix();
    const s = await open(prefix);
    await s.readTree();
    const c = commitOf(EMPTY_EDGE, entries(0, 260));
    await s.commit(c.commit);
    await s.writeCheckpoint('example\n260\nAAAA\n');
    const head = (path: string) => (client as S3Client).send(new HeadObjectCommand({ Bucket: BUCKET, Key: prefix + path }));
    const full = await head(tilePath({ kind: 'hash', level: 0, index: 0n, width: 256 }));
    assert.equal(full.ContentType, 'application/octet-stream');
    assert.equal(full.CacheControl, 'public, max-age=31536000, immutable');
    assert.equal(full.ContentLength, 256 * 32);
    const partial = await head('tile/0/001.p/4');
    assert.equal(partial.ContentLength, 4 * 32);
    assert.equal(full.ContentEncoding, undefined, 'hash tiles are not compressed');
    assert.equal(partial.ContentEncoding, undefined);
    const bundle = await head('tile/entries/000');
    assert.equal(bundle.ContentType, 'application/octet-stream');
    assert.equal(bundle.CacheControl, 'public, max-age=31536000, immutable');
    assert.equal(bundle.ContentEncoding, 'gzip', 'entry bundles are stored gzip-compressed');
    // The stored bytes (the SDK does not decode) are a gzip stream of exactly the bundle, full and partial.
    for (const [path, from, n] of [['tile/entries/000', 0, 256], ['tile/entries/001.p/4', 256, 4]] as const) {
      const raw = await getRaw(prefix + path);
      assert.equal(raw.contentEncoding, 'gzip', path);
      assert.deepEqual(raw.body.subarray(0, 2), Buffer.from([0x1f, 0x8b]), path);
      assert.equal(raw.body.readUInt32LE(4), 0, `${path}: no mtime in the gzip header`);
      assert.equal(raw.body[3]! & 0x08, 0, `${path}: no file name in the gzip header`);
      assert.deepEqual(gunzipSync(raw.body), Buffer.from(encodeEntryBundle(entries(from, n))), path);
      if (n === 256) assert.ok(raw.body.length < encodeEntryBundle(entries(from, n)).length / 2, `${path}: compressed (${raw.body.length} bytes)`);
    }
    // Read back through a fresh process (no pending overlay): the bundles as they are, not compressed.
    const fresh = await open(prefix);
    await fresh.readTree();
    const [b0, b1] = await fresh.readTiles([{ kind: 'entries', level: 0, index: 0n, width: 256 }, { kind: 'entries', level: 0, index: 1n, width: 4 }]);
    assert.deepEqual(Buffer.from(b0!), Buffer.from(encodeEntryBundle(entries(0, 256))));
    assert.deepEqual(Buffer.from(b1!), Buffer.from(encodeEntryBundle(entries(256, 4))));
    await fresh.close();
    const cp = await head('checkpoint');
    assert.equal(cp.ContentType, 'text/plain; charset=utf-8');
    assert.equal(cp.CacheControl, 'no-store');
    // A smaller checkpoint never replaces a larger one (stale publisher).
    await s.writeCheckpoint('example\n100\nBBBB\n');
    assert.equal(await (await open(prefix)).readCheckpoint(), 'example\n260\nAAAA\n');
    await s.close();
  });

  test('uncompressedBundles: bundles stored as they are; a log with plain and gzip bundles reads back', async () => {
    const prefix = freshPrefix();
    // An entry of 0x1f8b = 8075 bytes: the plain bundle then BEGINS with the gzip magic 1f 8b, and must still be
    // read as it is (decoding goes by Content-Encoding, never by the bytes).
    const big = Buffer.alloc(0x1f8b, 'x');
    const first = [big, ...entries(1, 299)];
    const plain = await S3Storage.open({ bucket: BUCKET, prefix, client: client as S3Client, uncompressedBundles: true });
    await plain.readTree();
    const c1 = commitOf(EMPTY_EDGE, first);
    await plain.commit(c1.commit);
    await plain.close();
    const bundle0 = encodeEntryBundle(first.slice(0, 256));
    assert.deepEqual(Buffer.from(bundle0).subarray(0, 2), Buffer.from([0x1f, 0x8b]));
    for (const [path, want] of [['tile/entries/000', bundle0], ['tile/entries/001.p/44', encodeEntryBundle(first.slice(256))]] as const) {
      const raw = await getRaw(prefix + path);
      assert.equal(raw.contentEncoding, undefined, `${path}: no Content-Encoding`);
      assert.deepEqual(raw.body, Buffer.from(want), `${path}: stored as it is`);
    }
    // The default (gzip) takes over the same log: bundle 001 is completed compressed, 002 starts compressed.
    const gz = await open(prefix);
    const { edge } = await loadTree(gz);
    const more = entries(300, 300);
    await gz.commit(commitOf(edge, more).commit);
    await gz.close();
    assert.equal((await getRaw(prefix + 'tile/entries/000')).contentEncoding, undefined, 'full bundles are never rewritten');
    assert.equal((await getRaw(prefix + 'tile/entries/001')).contentEncoding, 'gzip');
    assert.equal((await getRaw(prefix + 'tile/entries/002.p/88')).contentEncoding, 'gzip');
    // A fresh reader gets every bundle's content, whichever way it is stored.
    const all = [...first, ...more];
    const reader = await open(prefix);
    const { tree } = await loadTree(reader); // the stored tiles hash to the stored root
    assert.equal(tree.treeSize, 600n);
    const refs: TileRef[] = [0n, 1n, 2n].map((i) => ({ kind: 'entries', level: 0, index: i, width: i < 2n ? 256 : 88 }));
    const got = await reader.readTiles(refs);
    refs.forEach((r, i) => assert.deepEqual(Buffer.from(got[i]!), Buffer.from(encodeEntryBundle(all.slice(Number(r.index) * 256, Number(r.index) * 256 + r.width))), tilePath(r)));
    await reader.close();
  });

  test('a bundle object with an unknown Content-Encoding, or gzip that does not gunzip, is an error, not data', async () => {
    const prefix = freshPrefix();
    const s = await open(prefix);
    await s.readTree();
    await s.commit(commitOf(EMPTY_EDGE, entries(0, 3)).commit);
    await s.close();
    const ref: TileRef = { kind: 'entries', level: 0, index: 0n, width: 3 };
    const put = (body: Uint8Array, ContentEncoding: string) => (client as S3Client).send(new PutObjectCommand({ Bucket: BUCKET, Key: prefix + tilePath(ref), Body: body, ContentEncoding }));
    await put(encodeEntryBundle(entries(0, 3)), 'gzip');
    const r = await open(prefix);
    await r.readTree();
    await assert.rejects(r.readTiles([ref]), /does not gunzip/);
    await put(encodeEntryBundle(entries(0, 3)), 'br');
    await assert.rejects(r.readTiles([ref]), /Content-Encoding "br"/);
    await r.close();
  });
});

/** The stored bytes and Content-Encoding of an object (the SDK sends no Accept-Encoding and decodes nothing). */
async function getRaw(key: string): Promise<{ body: Buffer; contentEncoding: string | undefined }> {
  const r = await (client as S3Client).send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return { body: Buffer.from(await r.Body!.transformToByteArray()), contentEncoding: r.ContentEncoding };
}
