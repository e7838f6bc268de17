/**
 * Gossip between `tilelog audit` processes, end to end:
 *  - split view: two `tilelog serve` instances with the same key file and origin but different entries; auditors A
 *    and B follow instance 1, C follows instance 2, all gossip with each other. The split view is detected within
 *    two checkpoint intervals; C's evidence (its larger tree proves A's checkpoint is not its prefix) verifies with
 *    `tilelog audit verify-evidence` given only the file and the vkey; A and B alarm too.
 *  - POST /gossip statuses: 200 (own checkpoint), 400 (garbage), 404 (unknown origin), 403 (bad signature), 409 +
 *    evidence (the other instance's checkpoint); GET /<hash>/checkpoint serves the verified checkpoint.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanupAll, newDataDir, startServer, type ServerProcess } from '../support/server-process.js';
import { AuditorProcess, addEntries, evidenceFiles, freePort, logArg, stopAllAuditors, tilelog, waitFor } from '../support/audit-process.js';
import { newEd25519Signer } from '../../server/core/keys.js';
import { signCheckpoint } from '../../server/core/checkpoint.js';

const dir = mkdtempSync(join(tmpdir(), 'tilelog-gossip-'));
after(async () => {
  await stopAllAuditors();
  await cleanupAll();
  rmSync(dir, { recursive: true, force: true });
});

const INTERVAL_MS = 2000;

describe('gossip', () => {
  test('a split view is caught within two checkpoint intervals, with evidence a third party can verify', async () => {
    const one = await startServer({ checkpointInterval: `${INTERVAL_MS}ms`, batchDelay: '5ms' });
    const keyCopy = join(newDataDir(), 'log.key');
    copyFileSync(join(one.dataDir, 'log.key'), keyCopy);
    const two = await startServer({ key: keyCopy, checkpointInterval: `${INTERVAL_MS}ms`, batchDelay: '5ms' });
    assert.equal(two.origin, one.origin);
    assert.equal(two.vkey, one.vkey);
    await Promise.all([addEntries(one.baseUrl, 300, 'instance one'), addEntries(two.baseUrl, 500, 'instance two')]);

    const ports = await Promise.all([freePort(), freePort(), freePort()]);
    const urls = ports.map((p) => `http://127.0.0.1:${p}/`);
    const names = ['A', 'B', 'C'];
    const ev = names.map((n) => join(dir, `ev-${n}`));
    const t0 = Date.now();
    const auditors = await Promise.all(
      names.map((n, i) =>
        AuditorProcess.start(
          ['--log', logArg(i < 2 ? one : two), '--state', join(dir, `st-${n}`), '--evidence-dir', ev[i] as string, '--interval', `${INTERVAL_MS}ms`, ...urls.filter((_, j) => j !== i).flatMap((u) => ['--peer', u])],
          ports[i],
        ),
      ),
    );
    const started = Date.now();
    const detectedAfter = await waitFor('a split-view alarm at C', () => evidenceFiles(ev[2] as string).some((e) => e.json['kind'] === 'split-view'), 2 * INTERVAL_MS + 10_000);
    // Measured from the moment the last auditor was listening (process start-up is not detection time).
    assert.ok(detectedAfter <= 2 * INTERVAL_MS, `detected ${detectedAfter} ms after all auditors were up (start-up took ${started - t0} ms)`);
    process.stdout.write(`# split view detected ${detectedAfter} ms after the auditors were up (interval ${INTERVAL_MS} ms)\n`);
    for (const i of [0, 1]) await waitFor(`a split-view alarm at ${names[i]}`, () => evidenceFiles(ev[i] as string).some((e) => e.json['kind'] === 'split-view'), 2 * INTERVAL_MS + 5_000);

    // C's evidence: both checkpoints verbatim, the proof from its larger tree; a third party verifies it from the file.
    const c = evidenceFiles(ev[2] as string).find((e) => e.json['kind'] === 'split-view');
    assert.ok(c !== undefined);
    const cps = c.json['checkpoints'] as { note: string }[];
    assert.equal(cps.length, 2);
    assert.match(cps[0]?.note as string, /\n500\n/);
    assert.match(cps[1]?.note as string, /\n300\n/);
    assert.equal((c.json['proof'] as { oldSize: string }).oldSize, '300');
    const v = await tilelog(['audit', 'verify-evidence', c.path, '--vkey', one.vkey]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.match(v.stdout, /^PROVEN: split view/);
    // Another key: not proven.
    const other = newEd25519Signer(one.origin, new Uint8Array(32).fill(7));
    assert.equal((await tilelog(['audit', 'verify-evidence', c.path, '--vkey', other.vkey])).code, 1);

    for (const [i, a] of auditors.entries()) {
      assert.ok(((await a.metric(`tilelog_audit_alarms_total{origin="${one.origin}",kind="split-view"}`)) ?? 0) >= 1, names[i]);
      assert.ok(((await a.metric('tilelog_audit_gossip_pulls_total{')) ?? 0) >= 1, `${names[i]} pulled`);
      assert.ok(((await a.metric('tilelog_audit_gossip_pushes_total{')) ?? 0) >= 1, `${names[i]} pushed`);
      assert.ok(a.records().some((r) => r['level'] === 50 && r['alarm'] === 'split-view'), `${names[i]} logged the alarm at error level`);
    }

    // The gossip endpoints of A.
    const A = auditors[0] as AuditorProcess;
    const hash = createHash('sha256').update(one.origin).digest('hex');
    const mine = await fetch(`${A.baseUrl}${hash}/checkpoint`);
    assert.equal(mine.status, 200);
    const mineNote = await mine.text();
    assert.match(mineNote, /\n300\n/);
    assert.equal((await fetch(`${A.baseUrl}${'0'.repeat(64)}/checkpoint`)).status, 404);
    const post = (body: string) => fetch(`${A.baseUrl}gossip`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body, signal: AbortSignal.timeout(15_000) });
    assert.equal((await post(mineNote)).status, 200);
    assert.equal((await post('not a checkpoint')).status, 400);
    const stranger = newEd25519Signer('stranger.example/log', new Uint8Array(32).fill(5));
    const strangerNote = signCheckpoint({ origin: 'stranger.example/log', treeSize: 1n, rootHash: new Uint8Array(32), extensions: [] }, [stranger]);
    assert.equal((await post(strangerNote)).status, 404);
    const forged = signCheckpoint({ origin: one.origin, treeSize: 300n, rootHash: new Uint8Array(32).fill(1), extensions: [] }, [other]);
    assert.equal((await post(forged)).status, 403);
    const twoNote = await (await fetch(`${two.baseUrl}/checkpoint`)).text();
    const conflict = await post(twoNote);
    assert.equal(conflict.status, 409);
    const body = (await conflict.json()) as { kind: string; checkpoints: { note: string }[] };
    assert.equal(body.kind, 'split-view');
    assert.equal(body.checkpoints[1]?.note, twoNote);
    assert.ok(((await A.metric('tilelog_audit_gossip_received_total{status="409"}')) ?? 0) >= 1);

    // --once from a fresh state over A's peers: exit 3.
    const once = await tilelog(['audit', '--once', '--log', logArg(two), '--state', join(dir, 'st-once'), '--evidence-dir', join(dir, 'ev-once'), '--peer', urls[0] as string]);
    assert.equal(once.code, 3, once.stdout + once.stderr);
    for (const a of auditors) assert.equal(await a.stop(), 0);
  });
});
