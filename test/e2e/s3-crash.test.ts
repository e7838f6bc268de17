/**
 * The log server's fault tests (test/support/crash-load.ts, the same checks as test/e2e/crash.test.ts) with the
 * log in an S3 bucket on a real Ceph RGW started by this test: kill -9 at random moments under concurrent writes
 * loses no acknowledged entry and never forks; SIGTERM drains. Skips loudly without the Ceph binaries.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Record_, killCycle, prng, startLoad, verifyAgainstRecord } from '../support/crash-load.js';
import { withS3, useS3 } from '../support/s3-log.js';
import { ServerProcess, newDataDir, sleep, withTimeout } from '../support/server-process.js';

const fx = useS3();
const skip = fx.skip;
const BUCKET = 'tilelog-crash';
const SEED = Number(process.env['E2E_SEED'] ?? Math.floor(Math.random() * 2 ** 31));

test(`S3: kill -9 at random moments under concurrent writes loses no acknowledged entry and never forks (seed ${SEED})`, { skip, timeout: 80_000 }, async (t) => {
  const rng = prng(SEED);
  const opts = withS3({ dataDir: newDataDir(), origin: 'example.com/s3crash', checkpointInterval: '50ms', batchDelay: '5ms' }, fx.s3, BUCKET, `crash-${randomBytes(4).toString('hex')}`);
  let s = await ServerProcess.start(opts);
  const rec = new Record_();
  const t0 = Date.now();
  let cycles = 0;
  for (let cycle = 0; cycle < 3 && Date.now() - t0 < 40_000; cycle++) {
    cycles++;
    const killAfter = 2000 + Math.floor(rng() * 3000); // S3 commits take longer than LevelDB's
    s = await killCycle(t, s, opts, rec, rng, cycle, killAfter);
  }
  assert.ok(rec.acked.size > 0, 'some writes were acknowledged');
  assert.ok(cycles >= 2, `only ${cycles} kill cycles fit in the time bound`);
  t.diagnostic(`statuses: ${JSON.stringify(Object.fromEntries(rec.statuses))}; ${Date.now() - t0} ms`);
  await s.stop();
  assert.deepEqual(s.errorRecords(), []);
});

test(`S3: SIGTERM while writes are in flight: exit 0, every 200 is in the log and covered by the final checkpoint (seed ${SEED})`, { skip, timeout: 60_000 }, async (t) => {
  const rng = prng(SEED ^ 0x5eed);
  const opts = withS3({ dataDir: newDataDir(), origin: 'example.com/s3term', checkpointInterval: '5s', batchDelay: '40ms' }, fx.s3, BUCKET, `term-${randomBytes(4).toString('hex')}`);
  const s = await ServerProcess.start(opts);
  const rec = new Record_();
  const load = startLoad(s, rec, rng, 'term', 4, Date.now() + 20_000);
  await sleep(500 + Math.floor(rng() * 500));
  await s.stop(20_000); // SIGTERM; asserts exit code 0
  load.stop();
  await withTimeout(load.done, 15_000, 'clients to stop');
  assert.deepEqual(rec.problems, []);
  assert.ok(rec.acked.size > 0, 'some writes were acknowledged');
  const stopped = s.logRecords().find((r) => r['msg'] === 'stopped');
  assert.ok(stopped !== undefined, `"stopped" logged\n${s.describe()}`);
  const finalSize = BigInt(stopped['treeSize'] as string);
  assert.ok(finalSize > rec.maxAcked, `the final checkpoint (size ${finalSize}) covers every acknowledged entry (max index ${rec.maxAcked})`);
  const s2 = await ServerProcess.start(opts);
  assert.equal(s2.startTreeSize, finalSize, 'nothing was integrated after the final checkpoint');
  const cp = await verifyAgainstRecord(t, s2, rec, s.vkey, s.origin, rng);
  assert.equal(cp.treeSize, finalSize);
  await s2.stop();
});
