/**
 * `tilelog serve --storage s3://…` on a real Ceph RGW started by this test: the served tiles verify (full audit:
 * every tile, bundle and the root), and the BUCKET ITSELF serves the same tlog-tiles API to an anonymous client
 * (public-read policy): checkpoint, tiles and bundles audit against the log's key. Duplicates are found across a
 * restart (the create-only leaf index). Skips loudly without the Ceph binaries.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { HttpTiles, fetchCheckpoint, postEntries, waitForCheckpoint } from '../support/http-tiles.js';
import { skipMessage, startS3, type S3Server } from '../support/s3-server.js';
import { exportS3Env, makePublic, testClient, withS3 } from '../support/s3-log.js';
import { ServerProcess, cleanupAll, newDataDir } from '../support/server-process.js';

const skip = skipMessage();
let s3: S3Server | undefined;
let client: S3Client | undefined;
const BUCKET = 'tilelog-serve';

before(async () => {
  if (skip !== false) return;
  s3 = await startS3();
  exportS3Env(s3);
});
after(async () => {
  await cleanupAll();
  client?.destroy();
  await s3?.stop();
});

test('served tiles verify, the bucket serves the same tlog-tiles API, duplicates survive a restart', { skip, timeout: 80_000 }, async (t) => {
  const prefix = `serve-${randomBytes(4).toString('hex')}`;
  const opts = withS3({ dataDir: newDataDir(), origin: 'example.com/s3log', checkpointInterval: '100ms', batchDelay: '5ms' }, s3 as S3Server, BUCKET, prefix);
  const s = await ServerProcess.start(opts);
  const N = 700;
  const sent: string[] = [];
  for (let i = 0; i < N; i += 100) {
    const lines = Array.from({ length: 100 }, (_, j) => JSON.stringify({ n: i + j, p: prefix }));
    sent.push(...lines);
    const r = await postEntries(s.baseUrl, lines.join('\n'), { 'content-type': 'application/x-ndjson' });
    assert.equal(r.status, 200, r.text);
    r.entries.forEach((e, j) => assert.equal(e.index, BigInt(i + j)));
  }
  const cp = await waitForCheckpoint(s.baseUrl, s.vkey, BigInt(N));
  const served = await new HttpTiles(s.baseUrl).audit(cp, { entries: true });
  assert.equal(served.entries.length, N);
  assert.equal(Buffer.from(served.entries[5]!).toString(), sent[5]);

  // The bucket as a static tlog-tiles server (what a CDN in front of it would serve).
  client = testClient(s3 as S3Server);
  await makePublic(client, BUCKET);
  const bucketBase = `${(s3 as S3Server).endpoint}/${BUCKET}/${prefix}`;
  const bcp = await fetchCheckpoint(bucketBase, s.vkey, s.origin);
  assert.ok(bcp.treeSize >= BigInt(N));
  const fromBucket = await new HttpTiles(bucketBase).audit(bcp, { entries: true, gzip: false });
  assert.equal(fromBucket.entries.length, Number(bcp.treeSize));
  t.diagnostic(`audited ${cp.treeSize} entries from the server and ${bcp.treeSize} straight from the bucket`);

  // Restart: same tree; resubmitted entries are duplicates at their index (create-only leaf index objects).
  await s.stop();
  const s2 = await ServerProcess.start(opts);
  assert.equal(s2.startTreeSize, BigInt(N));
  const r = await postEntries(s2.baseUrl, [sent[3], sent[650], '{"fresh":1}'].join('\n'), { 'content-type': 'application/x-ndjson' });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.entries.map((e) => [e.index, e.duplicate]), [[3n, true], [650n, true], [BigInt(N), false]]);
  await s2.stop();
  assert.deepEqual(s2.errorRecords(), []);
});
