/**
 * `tilelog audit --full` and tampered tiles end to end (real `tilelog serve` and `tilelog audit` processes):
 *  - `--full --once` verifies every entry; a second run resumes from the stored progress (fetches only new bundles);
 *  - a byte changed in a stored tile (flipped by a proxy between auditor and log) is caught by `--full` and by an
 *    auditor following the log at the next checkpoint whose consistency proof needs that tile (bad-tile alarm);
 *  - a checkpoint whose signature does not verify with the log's key → bad-signature alarm, exit 3.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanupAll, startServer, type ServerProcess } from '../support/server-process.js';
import { AuditorProcess, LogProxy, addEntries, evidenceFiles, logArg, sizeMetric, stopAllAuditors, tilelog, waitFor } from '../support/audit-process.js';

const dir = mkdtempSync(join(tmpdir(), 'tilelog-audit-full-'));
const proxies: LogProxy[] = [];
after(async () => {
  await stopAllAuditors();
  for (const p of proxies) await p.close();
  await cleanupAll();
  rmSync(dir, { recursive: true, force: true });
});


describe('tilelog audit --full', () => {
  test('--full verifies every entry, resumes from stored progress; a flipped tile byte is caught by --full and by following', async () => {
    const log = await startServer({ checkpointInterval: '200ms', batchDelay: '5ms' });
    await addEntries(log.baseUrl, 100, 'full');
    const proxy = await LogProxy.start(log.baseUrl);
    proxies.push(proxy);
    const viaProxy = logArg(log, proxy.url);

    // An auditor following through the proxy; tile/0/000 (full, exists only once the tree has ≥ 256 leaves) is tampered.
    proxy.tamper = (p) => p === '/tile/0/000';
    const evFollow = join(dir, 'ev-follow');
    const follower = await AuditorProcess.start(['--log', viaProxy, '--state', join(dir, 'follow'), '--evidence-dir', evFollow, '--interval', '200ms']);
    await waitFor('size 100', async () => (await follower.metric(sizeMetric(log.origin))) === 100);
    await addEntries(log.baseUrl, 500, 'full-more'); // 600: the proof 100 → 600 needs the full tile/0/000
    await waitFor('bad-tile alarm', () => evidenceFiles(evFollow).length > 0);
    const [ev] = evidenceFiles(evFollow);
    assert.equal(ev?.json['kind'], 'bad-tile');
    assert.equal(ev?.json['tile'], 'tile/0/000');
    assert.equal(await follower.metric(sizeMetric(log.origin)), 100, 'the bad checkpoint was not accepted');
    assert.equal(await follower.metric(`tilelog_audit_alarms_total{origin="${log.origin}",kind="bad-tile"}`), 1);
    assert.ok(follower.records().some((r) => r['level'] === 50 && r['alarm'] === 'bad-tile'));
    // A bad tile is not a misbehaviour a third party can check from the file alone.
    const vt = await tilelog(['audit', 'verify-evidence', ev?.path as string, '--vkey', log.vkey]);
    assert.equal(vt.code, 1, vt.stdout + vt.stderr);

    // --full --once through the tampering proxy: exit 3, bad-tile evidence.
    const evFull = join(dir, 'ev-full');
    const bad = await tilelog(['audit', '--full', '--once', '--log', viaProxy, '--state', join(dir, 'full-bad'), '--evidence-dir', evFull]);
    assert.equal(bad.code, 3, bad.stdout + bad.stderr);
    assert.equal(evidenceFiles(evFull)[0]?.json['kind'], 'bad-tile');

    // A flipped byte in an entry bundle is caught by --full too.
    proxy.tamper = (p) => p === '/tile/entries/001';
    const evBundle = join(dir, 'ev-bundle');
    const badBundle = await tilelog(['audit', '--full', '--once', '--log', viaProxy, '--state', join(dir, 'full-bundle'), '--evidence-dir', evBundle]);
    assert.equal(badBundle.code, 3, badBundle.stdout + badBundle.stderr);
    assert.match(String(evidenceFiles(evBundle)[0]?.json['detail']), /entry 511 of bundle 1 does not hash/);

    // Untampered: --full --once succeeds, and a second run after growth fetches only the bundles not yet verified.
    proxy.tamper = () => false;
    const st = join(dir, 'full-ok');
    const ok = await tilelog(['audit', '--full', '--once', '--log', viaProxy, '--state', st]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /full audit complete/);
    await addEntries(log.baseUrl, 300, 'full-resume'); // 900 entries: bundles 0..3
    const before = new Map([0, 1, 2, 3].map((b) => [b, proxy.count(`/tile/entries/00${b}`)]));
    const resumed = await tilelog(['audit', '--full', '--once', '--log', viaProxy, '--state', st]);
    assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
    const fetched = [0, 1, 2, 3].map((b) => proxy.count(`/tile/entries/00${b}`) - (before.get(b) as number));
    assert.deepEqual(fetched.map((n) => n > 0), [false, false, true, true], `bundle fetches after resume: ${fetched}`);
    await follower.stop();
  });

  test('a checkpoint whose log signature does not verify raises a bad-signature alarm', async () => {
    const log = await startServer({ checkpointInterval: '200ms', batchDelay: '5ms' });
    await addEntries(log.baseUrl, 10, 'sig');
    const proxy = await LogProxy.start(log.baseUrl);
    proxies.push(proxy);
    // Another root hash, same signature line: a checkpoint the log's key did not sign.
    proxy.rewrite = (p, b) => {
      if (p !== '/checkpoint') return b;
      const lines = Buffer.from(b).toString('utf8').split('\n');
      lines[2] = Buffer.alloc(32, 7).toString('base64');
      return Buffer.from(lines.join('\n'));
    };
    const ev = join(dir, 'ev-sig');
    const r = await tilelog(['audit', '--once', '--log', logArg(log, proxy.url), '--state', join(dir, 'sig'), '--evidence-dir', ev]);
    assert.equal(r.code, 3, r.stdout + r.stderr);
    const [e] = evidenceFiles(ev);
    assert.equal(e?.json['kind'], 'bad-signature');
    assert.match(r.stdout, /"alarm":"bad-signature"/);
  });

});
