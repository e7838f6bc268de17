/**
 * `tilelog migrate` between a LevelDB data directory and an S3 bucket on a real Ceph RGW started by this test:
 * LevelDB → S3 stopped half-way and resumed, S3 → LevelDB; servers on both copies start at the full size under
 * the same key and their tiles audit; the rebuilt leaf index finds duplicates. (Refusals — another log at the
 * destination, a corrupt source — are in test/unit/migrate.test.ts.) Skips loudly without the Ceph binaries.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { HttpTiles, fetchCheckpoint, postEntries, waitForCheckpoint } from '../support/http-tiles.js';
import { skipMessage as pgSkipMessage, startPostgres } from '../support/pg-server.js';
import { withS3, useS3 } from '../support/s3-log.js';
import { ServerProcess, TILELOG_BIN, newDataDir } from '../support/server-process.js';

const fx = useS3();
const skip = fx.skip;
const pgSkip = pgSkipMessage();
const BUCKET = 'tilelog-migrate';

test('tilelog migrate: LevelDB → S3 (resumed half-way) → LevelDB, verified, and the servers on the copies audit', { skip, timeout: 80_000 }, async () => {
  // A LevelDB log with 600 entries.
  const dirA = newDataDir();
  const a = await ServerProcess.start({ dataDir: dirA, origin: 'example.com/migrate', checkpointInterval: '100ms', batchDelay: '5ms' });
  const lines = Array.from({ length: 600 }, (_, i) => JSON.stringify({ m: i }));
  for (let i = 0; i < 600; i += 200) assert.equal((await postEntries(a.baseUrl, lines.slice(i, i + 200).join('\n'), { 'content-type': 'application/x-ndjson' })).status, 200);
  await waitForCheckpoint(a.baseUrl, a.vkey, 600n);
  await a.stop();
  const prefix = `migrated-${randomBytes(4).toString('hex')}`;
  const s3url = `s3://${BUCKET}/${prefix}`;
  const s3flags = ['--s3-endpoint', fx.s3.endpoint, '--s3-force-path-style', '--s3-create-bucket'];
  // First run stops after 300 entries; the second resumes and completes.
  const r1 = migrate(['--from', dirA, '--to', s3url, '--chunk', '256', '--max-entries', '300', ...s3flags]);
  assert.deepEqual({ resumedAt: r1.resumedAt, treeSize: r1.treeSize, complete: r1.complete }, { resumedAt: '0', treeSize: '300', complete: false });
  const r2 = migrate(['--from', dirA, '--to', s3url, '--chunk', '256', ...s3flags]);
  assert.deepEqual({ resumedAt: r2.resumedAt, treeSize: r2.treeSize, complete: r2.complete, checkpointCopied: r2.checkpointCopied }, { resumedAt: '300', treeSize: '600', complete: true, checkpointCopied: true });
  // The S3 copy serves and audits under the same key; and back into a fresh data directory.
  const b = await ServerProcess.start(withS3({ dataDir: newDataDir(), key: `${dirA}/log.key`, checkpointInterval: '100ms' }, fx.s3, BUCKET, prefix));
  assert.equal(b.startTreeSize, 600n);
  await new HttpTiles(b.baseUrl).audit(await fetchCheckpoint(b.baseUrl, a.vkey, a.origin));
  const dup = await postEntries(b.baseUrl, lines[42] as string, { 'content-type': 'application/x-ndjson' });
  assert.equal(dup.entries[0]?.index, 42n, 'the leaf index was rebuilt');
  await b.stop();
  const dirC = newDataDir();
  const r3 = migrate(['--from', s3url, '--to', dirC, ...s3flags]);
  assert.equal(r3.treeSize, '600');
  const c = await ServerProcess.start({ dataDir: dirC, key: `${dirA}/log.key`, checkpointInterval: '100ms' });
  assert.equal(c.startTreeSize, 600n);
  await new HttpTiles(c.baseUrl).audit(await fetchCheckpoint(c.baseUrl, a.vkey, a.origin));
  await c.stop();
});

test('tilelog migrate --coordination postgres://…: the copy\'s duplicate index is the PostgreSQL table its servers use', { skip: skip !== false ? skip : pgSkip, timeout: 80_000 }, async () => {
  const pg = await startPostgres();
  try {
    const dirA = newDataDir();
    const a = await ServerProcess.start({ dataDir: dirA, origin: 'example.com/migrate-pg', checkpointInterval: '100ms', batchDelay: '5ms' });
    const lines = Array.from({ length: 300 }, (_, i) => JSON.stringify({ p: i }));
    assert.equal((await postEntries(a.baseUrl, lines.join('\n'), { 'content-type': 'application/x-ndjson' })).status, 200);
    await waitForCheckpoint(a.baseUrl, a.vkey, 300n);
    await a.stop();
    const prefix = `migrated-pg-${randomBytes(4).toString('hex')}`;
    const s3flags = ['--s3-endpoint', fx.s3.endpoint, '--s3-force-path-style', '--s3-create-bucket'];
    const r = migrate(['--from', dirA, '--to', `s3://${BUCKET}/${prefix}`, '--coordination', pg.url, ...s3flags]);
    assert.equal(r.treeSize, '300');
    const opts = withS3({ dataDir: newDataDir(), key: `${dirA}/log.key`, checkpointInterval: '100ms' }, fx.s3, BUCKET, prefix);
    const b = await ServerProcess.start({ ...opts, extraArgs: [...(opts.extraArgs ?? []), '--coordination', pg.url] });
    assert.equal(b.startTreeSize, 300n);
    const dup = await postEntries(b.baseUrl, `${lines[7] as string}\n${lines[299] as string}\n{"p":"new"}`, { 'content-type': 'application/x-ndjson' });
    assert.deepEqual(dup.entries.map((e) => [e.index, e.duplicate]), [[7n, true], [299n, true], [300n, false]], 'found in the PostgreSQL table the migration filled');
    await b.stop();
    assert.equal(spawnSync(process.execPath, [TILELOG_BIN, 'migrate', '--from', dirA, '--to', `s3://${BUCKET}/x`, '--coordination', 'mysql://nope'], { encoding: 'utf8', timeout: 30_000 }).status, 1, '--coordination wants postgres://');
  } finally {
    await pg.stop();
  }
});

function migrate(args: string[]): { resumedAt: string; treeSize: string; complete: boolean; checkpointCopied: boolean } {
  const r = spawnSync(process.execPath, [TILELOG_BIN, 'migrate', ...args], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as { resumedAt: string; treeSize: string; complete: boolean; checkpointCopied: boolean };
}

