/**
 * Crash consistency against the real server process (issue #9, item 2):
 *  - kill -9 at random moments while concurrent clients post batches (some with ?wait=published), a poller records
 *    every checkpoint it sees at /checkpoint and a reader rebuilds roots from tiles under load; after each restart
 *    the whole tree is audited from tiles (the root rebuilt from tiles is the checkpoint's, every level-0 hash is the
 *    leaf hash of its entry), every acknowledged entry's bytes are at its acknowledged index, no index was
 *    acknowledged for two entries, and every checkpoint seen before any crash is consistent with the new one by a
 *    consistency proof the client computes itself from authenticated tiles (clients/tlog ProofBuilder).
 *    5 kill cycles in `npm test`, 50 with TILELOG_LONG=1, on one data directory.
 *  (The collector's spool under kill -9 is covered by test/e2e/collector.test.ts.)
 *  - SIGTERM while writes are in flight: the process exits 0, every 200 is in the log, and the final checkpoint
 *    covers all of them.
 * The random schedule is seeded; set E2E_SEED to replay one.
 */
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Record_, killCycle, prng, startLoad, verifyAgainstRecord } from '../support/crash-load.js';
import type { VerifiedCheckpoint } from '../support/http-tiles.js';
import { ServerProcess, cleanupAll, newDataDir, sleep, withTimeout } from '../support/server-process.js';

after(cleanupAll);

const SEED = Number(process.env['E2E_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
const LONG = process.env['TILELOG_LONG'] === '1';
/** Kill cycles, and the time bound of the kill test. */
const CYCLES = LONG ? 50 : 5;
const KILL_TEST_MS = LONG ? 900_000 : 30_000;

test(`kill -9 at random moments under concurrent writes loses no acknowledged entry and never forks (${CYCLES} cycles, seed ${SEED})`, { timeout: KILL_TEST_MS + 30_000 }, async (t) => {
  const rng = prng(SEED);
  const dataDir = newDataDir();
  const opts = { dataDir, origin: 'example.com/crash', checkpointInterval: '50ms', batchDelay: '5ms' };
  let s = await ServerProcess.start(opts);
  const rec = new Record_();
  const t0 = Date.now();
  let cycles = 0;
  for (let cycle = 0; cycle < CYCLES && Date.now() - t0 < KILL_TEST_MS; cycle++) {
    cycles++;
    const killAfter = 30 + Math.floor(rng() * 1400);
    s = await killCycle(t, s, opts, rec, rng, cycle, killAfter);
  }
  assert.ok(rec.acked.size > 0, 'some writes were acknowledged');
  assert.ok(cycles >= (LONG ? 50 : 3), `only ${cycles} kill cycles fit in the time bound`);
  t.diagnostic(`statuses: ${JSON.stringify(Object.fromEntries(rec.statuses))}; ${Date.now() - t0} ms`);
  await s.stop();
  assert.deepEqual(s.errorRecords(), []);
});

test(`SIGTERM while writes are in flight: exit 0, every 200 is in the log and covered by the final checkpoint (seed ${SEED})`, { timeout: 60_000 }, async (t) => {
  const rng = prng(SEED ^ 0x5eed);
  const dataDir = newDataDir();
  // A long checkpoint interval: only the drain's final publication can cover the last entries.
  const opts = { dataDir, origin: 'example.com/sigterm', checkpointInterval: '5s', batchDelay: '40ms' };
  const s = await ServerProcess.start(opts);
  const rec = new Record_();
  const load = startLoad(s, rec, rng, 'term', 6, Date.now() + 20_000);
  await sleep(300 + Math.floor(rng() * 500));
  const pending = rec.acked.size;
  const t0 = Date.now();
  await s.stop(20_000); // SIGTERM; asserts exit code 0
  const shutdownMs = Date.now() - t0;
  load.stop();
  await withTimeout(load.done, 15_000, 'clients to stop');
  assert.deepEqual(rec.problems, []);
  assert.ok(rec.acked.size > 0, 'some writes were acknowledged');
  t.diagnostic(`SIGTERM after ${pending} acknowledged; ${rec.acked.size} in the end; shutdown took ${shutdownMs} ms; statuses ${JSON.stringify(Object.fromEntries(rec.statuses))}`);

  const stopped = s.logRecords().find((r) => r['msg'] === 'stopped');
  assert.ok(stopped !== undefined, `"stopped" logged\n${s.describe()}`);
  const finalSize = BigInt(stopped['treeSize'] as string);
  assert.ok(finalSize > rec.maxAcked, `the final published checkpoint (size ${finalSize}) covers every acknowledged entry (max index ${rec.maxAcked})`);
  assert.deepEqual(s.errorRecords(), []);

  const s2 = await ServerProcess.start(opts);
  assert.equal(s2.startTreeSize, finalSize, 'nothing was integrated after the final checkpoint');
  const cp = await verifyAgainstRecord(t, s2, rec, s.vkey, s.origin, rng);
  assert.equal(cp.treeSize, finalSize);
  // The checkpoint served after the restart is the stored one, byte for byte the last one published.
  const last = [...rec.seen.values()].reduce<VerifiedCheckpoint | undefined>((a, b) => (a === undefined || b.treeSize > a.treeSize ? b : a), undefined);
  if (last !== undefined && last.treeSize === cp.treeSize) assert.equal(last.note, cp.note);
  await s2.stop();
});
