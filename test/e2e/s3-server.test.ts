/**
 * `tilelog serve --storage s3://…` on a real Ceph RGW started by this test: the served tiles verify (full audit:
 * every tile, bundle and the root), and the BUCKET ITSELF serves the same tlog-tiles API to an anonymous client
 * (public-read policy): checkpoint, tiles and bundles audit against the log's key. Duplicates are found across a
 * restart (the create-only leaf index). Entry bundles are stored gzip-compressed with Content-Encoding: gzip:
 * Node's fetch, `curl --compressed` and (when Go is installed) Go's net/http read them from the bucket
 * transparently; restarted with --s3-uncompressed-bundles new bundles are plain, and the mixed log still audits.
 * Skips loudly without the Ceph binaries.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import type { S3Client } from '@aws-sdk/client-s3';
import { encodeEntryBundle } from '../../server/core/entry-bundle.js';
import { HttpTiles, fetchCheckpoint, postEntries, request, waitForCheckpoint } from '../support/http-tiles.js';
import { skipMessage, startS3, type S3Server } from '../support/s3-server.js';
import { exportS3Env, makePublic, testClient, withS3 } from '../support/s3-log.js';
import { REPO_ROOT, ServerProcess, cleanupAll, newDataDir } from '../support/server-process.js';

const run = promisify(execFile);

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
  // Bundles come from the bucket with Content-Encoding: gzip (the audit insists on it) and fetch decodes them.
  const fromBucket = await new HttpTiles(bucketBase).audit(bcp, { entries: true, gzip: true });
  assert.equal(fromBucket.entries.length, Number(bcp.treeSize));
  t.diagnostic(`audited ${cp.treeSize} entries from the server and ${bcp.treeSize} straight from the bucket`);

  // One full bundle, as different clients see it. The bucket does not negotiate: gzip whatever the request says.
  const bundleUrl = `${bucketBase}/tile/entries/000`;
  const bundle = Buffer.from(encodeEntryBundle(sent.slice(0, 256).map((l) => Buffer.from(l))));
  const identity = await request(bundleUrl, { headers: { 'accept-encoding': 'identity' } });
  assert.equal(identity.headers.get('content-encoding'), 'gzip', 'the bucket sends the stored gzip bytes even to Accept-Encoding: identity');
  assert.deepEqual(identity.body, bundle, "Node's fetch decodes Content-Encoding: gzip transparently");
  // curl without --compressed (no Accept-Encoding): the stored gzip stream, as a CDN's origin fetch sees it.
  const rawCurl = (await run('curl', ['-sS', '--fail', '--max-time', '10', bundleUrl], { encoding: 'buffer', maxBuffer: 1 << 24 })).stdout;
  assert.deepEqual(rawCurl.subarray(0, 2), Buffer.from([0x1f, 0x8b]), 'plain curl gets the gzip stream');
  assert.deepEqual(gunzipSync(rawCurl), bundle);
  const compressedCurl = (await run('curl', ['-sS', '--fail', '--compressed', '--max-time', '10', bundleUrl], { encoding: 'buffer', maxBuffer: 1 << 24 })).stdout;
  assert.deepEqual(compressedCurl, bundle, 'curl --compressed gets the bundle');
  t.diagnostic(`bundle 000 of ${N} JSON entries: ${bundle.length} bytes, stored gzip ${rawCurl.length} bytes`);
  // Go's net/http (http.Get: its Transport asks for gzip itself and decodes transparently).
  if (spawnSync('go', ['version']).status === 0) {
    const env = { ...process.env, GO111MODULE: 'off', GOFLAGS: '' };
    const go = await run('go', ['run', './test/interop/go/httpget', bundleUrl], { cwd: REPO_ROOT, env, encoding: 'utf8', timeout: 60_000 });
    const seen = JSON.parse(go.stdout) as { status: number; length: number; sha256: string; uncompressed: boolean; contentEncoding: string };
    assert.deepEqual(seen, { status: 200, length: bundle.length, sha256: createHash('sha256').update(bundle).digest('hex'), uncompressed: true, contentEncoding: '' });
  } else {
    t.diagnostic('go not installed: the Go net/http check is skipped');
  }

  // Restart with --s3-uncompressed-bundles: same tree; resubmitted entries are duplicates at their index
  // (create-only leaf index objects); the new partial bundle is stored plain, the old ones stay gzip.
  await s.stop();
  const s2 = await ServerProcess.start({ ...opts, extraArgs: [...(opts.extraArgs ?? []), '--s3-uncompressed-bundles'] });
  assert.equal(s2.startTreeSize, BigInt(N));
  const r = await postEntries(s2.baseUrl, [sent[3], sent[650], '{"fresh":1}'].join('\n'), { 'content-type': 'application/x-ndjson' });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.entries.map((e) => [e.index, e.duplicate]), [[3n, true], [650n, true], [BigInt(N), false]]);
  const cp2 = await waitForCheckpoint(s2.baseUrl, s2.vkey, BigInt(N + 1));
  const plain = await request(`${bucketBase}/tile/entries/002.p/${(N + 1) % 256}`, { headers: { 'accept-encoding': 'gzip' } });
  assert.equal(plain.status, 200);
  assert.equal(plain.headers.get('content-encoding'), null, 'with --s3-uncompressed-bundles bundles are stored without Content-Encoding');
  assert.equal((await request(bundleUrl)).headers.get('content-encoding'), 'gzip', 'full bundles are never rewritten');
  const mixed = await new HttpTiles(s2.baseUrl).audit(cp2, { entries: true });
  assert.equal(Buffer.from(mixed.entries[N]!).toString(), '{"fresh":1}');
  assert.equal(Buffer.from(mixed.entries[5]!).toString(), sent[5]);
  await s2.stop();
  assert.deepEqual(s2.errorRecords(), []);
});
