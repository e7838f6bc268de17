/**
 * A full disk (issue #9, item 3): `tilelog serve` with its data directory on a small size-limited tmpfs (mounted
 * here; the test needs root — it is skipped with a loud message where mounting is not permitted). A filler file takes
 * the free space; writes must then get 503 UNAVAILABLE with Retry-After and a JSON body, never a 500, the server
 * logs a clear line and keeps answering; once the filler is deleted writes succeed again; after a kill -9 and a
 * restart every acknowledged entry is at its index (bytes compared) and every checkpoint seen is consistent.
 *
 * Found by this test (fixed in server/storage/level-storage.ts): LevelDB kept appending to its log file after a
 * failed (torn) write, and on restart its recovery dropped the records after the torn one — entries acknowledged
 * after the disk filled up, and the published checkpoint covering them, were lost.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { verifyConsistency } from '../../server/core/proof.js';
import { consistencyProof } from '../../server/core/tile-proof.js';
import { bytesEqual } from '../../server/core/strict.js';
import { HttpTiles, fetchCheckpoint, postEntries, request, verifyCheckpoint, waitForCheckpoint, type VerifiedCheckpoint } from '../support/http-tiles.js';
import { ServerProcess, cleanupAll, sleep } from '../support/server-process.js';

const mountDir = mkdtempSync(join(tmpdir(), 'tilelog-fulldisk-'));
let mounted = false;
let mountError = '';
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mountDir], { stdio: 'pipe' });
  mounted = true;
} catch (err) {
  mountError = String((err as { stderr?: Buffer }).stderr ?? err).trim();
}

after(async () => {
  await cleanupAll();
  if (mounted) execFileSync('umount', ['-l', mountDir]);
  rmSync(mountDir, { recursive: true, force: true });
});

/** Fills the filesystem of `dir` up to `leave` free bytes (writes until ENOSPC if need be). */
function fill(path: string, leave: number): number {
  const s = statfsSync(dirname(path));
  let want = Math.max(0, Number(s.bavail) * Number(s.bsize) - leave);
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  let written = 0;
  try {
    while (want > 0) {
      const n = writeSync(fd, chunk, 0, Math.min(chunk.length, want));
      written += n;
      want -= n;
    }
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return written;
}

test('full disk: 503 UNAVAILABLE and a clear log line, no crash, recovery once space is freed, nothing acknowledged lost', { timeout: 60_000 }, async (t) => {
  if (!mounted) {
    const msg = `!!! SKIPPED full-disk test: cannot mount a tmpfs (needs root): ${mountError}`;
    console.error(msg);
    t.skip(msg);
    return;
  }
  const dataDir = join(mountDir, 'data');
  const opts = { dataDir, origin: 'example.com/fulldisk', checkpointInterval: '100ms', batchDelay: '2ms' };
  let s = await ServerProcess.start(opts);
  const acked = new Map<bigint, Uint8Array>();
  const seen: VerifiedCheckpoint[] = [];
  const statuses = new Map<number, number>();
  const post = async (): Promise<number> => {
    const e = randomBytes(2000);
    const r = await postEntries(s.baseUrl, e, { 'content-type': 'application/octet-stream' }, '', 15_000);
    statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    if (r.status === 200) {
      const [x] = r.entries;
      assert.ok(x !== undefined && !x.duplicate);
      assert.ok(!acked.has(x.index), `index ${x.index} acknowledged twice`);
      acked.set(x.index, e);
    } else {
      assert.equal(r.status, 503, `a full disk gives 503, not ${r.status}: ${r.text}`);
      assert.equal((r.json as { error: { code: string } }).error.code, 'UNAVAILABLE', r.text);
      assert.ok(r.headers.get('retry-after') !== null, '503 with Retry-After');
    }
    return r.status;
  };

  for (let i = 0; i < 20; i++) assert.equal(await post(), 200);
  seen.push(await waitForCheckpoint(s.baseUrl, s.vkey, BigInt(acked.size)));

  const filler = join(mountDir, 'filler');
  const filled = fill(filler, 96 * 1024);
  t.diagnostic(`filler: ${filled} bytes`);
  let refused = 0;
  for (let i = 0; i < 400 && refused < 5; i++) {
    if ((await post()) === 503) refused++;
    const cp = await request(`${s.baseUrl}/checkpoint`);
    if (cp.status === 200) seen.push(verifyCheckpoint(cp.body.toString('utf8'), s.vkey));
  }
  assert.ok(refused >= 5, `writes on a full disk were refused (statuses ${JSON.stringify([...statuses])})`);
  const health = await request(`${s.baseUrl}/healthz`);
  assert.equal(health.status, 200, 'the server still answers');
  assert.equal(s.exited, undefined, 'the server did not crash');
  const line = s.errorRecords().find((r) => /storage commit failed: .*disk full/.test(String(r['msg'])));
  assert.ok(line !== undefined, `a clear log line about the full disk\n${s.describe()}`);
  const ready = await request(`${s.baseUrl}/readyz`);
  assert.equal(ready.status, 503, 'not ready while the disk is full');

  rmSync(filler);
  // Writes succeed again (the storage reopens at most once a second).
  let ok = false;
  for (let i = 0; i < 100 && !ok; i++) {
    ok = (await post()) === 200;
    if (!ok) await sleep(100);
  }
  assert.ok(ok, 'writes succeed once space is freed');
  for (let i = 0; i < 20; i++) assert.equal(await post(), 200, 'writes keep succeeding');
  let max = -1n;
  for (const i of acked.keys()) if (i > max) max = i;
  seen.push(await waitForCheckpoint(s.baseUrl, s.vkey, max + 1n));
  t.diagnostic(`statuses ${JSON.stringify([...statuses])}, ${acked.size} acknowledged`);

  // kill -9 and restart on the same data: nothing acknowledged lost, nothing seen contradicted.
  await s.kill();
  s = await ServerProcess.start(opts);
  const cp = await fetchCheckpoint(s.baseUrl, s.vkey);
  assert.ok(cp.treeSize > max, `the checkpoint after restart (${cp.treeSize}) covers every acknowledged index (max ${max})`);
  const tiles = new HttpTiles(s.baseUrl);
  const { entries } = await tiles.audit(cp, { entries: true });
  for (const [i, e] of acked) assert.ok(bytesEqual(entries[Number(i)] as Uint8Array, e), `acknowledged entry ${i} is at its index`);
  for (const old of seen) {
    const proof = await consistencyProof(old.treeSize, cp.treeSize, tiles.reader);
    assert.ok(verifyConsistency(old.treeSize, cp.treeSize, old.rootHash, cp.rootHash, proof), `checkpoint ${old.treeSize} seen before is consistent with ${cp.treeSize}`);
  }
  await s.stop();
  writeFileSync(join(mountDir, 'done'), 'ok');
});
