/**
 * `tilelog audit` end to end, with real `tilelog serve` and `tilelog audit` processes on loopback:
 *  - one log followed by three auditors: all verify each new checkpoint; /metrics shows the tree size; /healthz;
 *  (`--full` and tampered tiles: audit-full.test.ts)
 *  - rollback: the log's data dir replaced by an older snapshot → rollback alarm, evidence verifies;
 *  - usage errors exit 2.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { cleanupAll, newDataDir, startServer, ServerProcess } from '../support/server-process.js';
import { AuditorProcess, LogProxy, addEntries, evidenceFiles, logArg, sizeMetric, stopAllAuditors, tilelog, waitFor } from '../support/audit-process.js';

const dir = mkdtempSync(join(tmpdir(), 'tilelog-audit-'));
const proxies: LogProxy[] = [];
after(async () => {
  await stopAllAuditors();
  for (const p of proxies) await p.close();
  await cleanupAll();
  rmSync(dir, { recursive: true, force: true });
});


describe('tilelog audit', () => {
  test('one log, three auditors: all verify every checkpoint; metrics and healthz', async () => {
    const log = await startServer({ checkpointInterval: '200ms', batchDelay: '5ms' });
    await addEntries(log.baseUrl, 300, 'three');
    const auditors = await Promise.all([1, 2, 3].map((i) => AuditorProcess.start(['--log', logArg(log), '--state', join(dir, `three-${i}`), '--interval', '200ms'])));
    for (const a of auditors) await waitFor('size 300 in metrics', async () => (await a.metric(sizeMetric(log.origin))) === 300);
    await addEntries(log.baseUrl, 213, 'three-more');
    for (const a of auditors) {
      await waitFor('size 513 in metrics', async () => (await a.metric(sizeMetric(log.origin))) === 513);
      assert.ok(((await a.metric(`tilelog_audit_checkpoints_verified_total{origin="${log.origin}"}`)) ?? 0) >= 2);
      assert.equal((await a.metric('tilelog_audit_alarms_total')) ?? 0, 0);
      assert.ok(((await a.metric(`tilelog_audit_last_success_timestamp_seconds{origin="${log.origin}"}`)) ?? 0) > Date.now() / 1000 - 60);
      const h = (await (await fetch(`${a.baseUrl}healthz`)).json()) as { status: string; logs: Record<string, { treeSize: string }> };
      assert.equal(h.status, 'ok');
      assert.equal(h.logs[log.origin]?.treeSize, '513');
      assert.equal(a.records().filter((r) => (r['level'] as number) >= 50).length, 0, a.lines.join('\n'));
    }
    for (const a of auditors) assert.equal(await a.stop(), 0);
    // Restarted on the same state, the auditor starts from its stored checkpoint.
    const again = await tilelog(['audit', '--once', '--log', logArg(log), '--state', join(dir, 'three-1')]);
    assert.equal(again.code, 0, again.stdout + again.stderr);
  });

  test('rollback: the log restarted from an older copy of its data dir raises a rollback alarm', async () => {
    const data = newDataDir();
    let log = await startServer({ dataDir: data, checkpointInterval: '200ms', batchDelay: '5ms' });
    await addEntries(log.baseUrl, 150, 'old');
    await log.stop();
    const snapshot = newDataDir();
    cpSync(data, snapshot, { recursive: true });
    log = await log.restart();
    await addEntries(log.baseUrl, 250, 'new');
    const proxy = await LogProxy.start(log.baseUrl); // a stable URL across restarts
    proxies.push(proxy);
    const ev = join(dir, 'ev-rollback');
    // A webhook receiver for the alarm.
    const hooks: string[] = [];
    const hook = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c)).on('end', () => {
        hooks.push(Buffer.concat(chunks).toString('utf8'));
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    after(() => new Promise((r) => hook.close(r)));
    const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/alarm`;
    const a = await AuditorProcess.start(['--log', logArg(log, proxy.url), '--state', join(dir, 'rollback'), '--evidence-dir', ev, '--interval', '200ms', '--alarm-webhook', hookUrl]);
    await waitFor('size 400', async () => (await a.metric(sizeMetric(log.origin))) === 400);
    await log.stop();
    rmSync(data, { recursive: true, force: true });
    cpSync(snapshot, data, { recursive: true });
    const old = await ServerProcess.start({ dataDir: data, checkpointInterval: '200ms', batchDelay: '5ms' });
    assert.equal(old.startTreeSize, 150n);
    proxy.target = old.baseUrl;
    await waitFor('rollback alarm', () => evidenceFiles(ev).length > 0);
    const [e] = evidenceFiles(ev);
    assert.equal(e?.json['kind'], 'rollback');
    assert.equal((e?.json['checkpoints'] as unknown[]).length, 2);
    assert.equal(await a.metric(`tilelog_audit_alarms_total{origin="${log.origin}",kind="rollback"}`), 1);
    await waitFor('the webhook POST', () => hooks.length > 0, 10_000);
    assert.equal((JSON.parse(hooks[0] as string) as { kind: string }).kind, 'rollback');
    const v = await tilelog(['audit', 'verify-evidence', e?.path as string, '--vkey', log.vkey]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.match(v.stdout, /^PROVEN: rollback/);
    // --once against the rolled-back log from the same state: exit 3.
    await a.stop();
    const once = await tilelog(['audit', '--once', '--log', logArg(old), '--state', join(dir, 'rollback'), '--evidence-dir', join(dir, 'ev-rollback-2')]);
    assert.equal(once.code, 3, once.stdout + once.stderr);
  });

  test('usage errors exit 2', async () => {
    const cases = [
      ['audit', '--once'],
      ['audit', '--once', '--log', 'nonsense'],
      ['audit', '--once', '--config', join(dir, 'missing.yaml')],
      ['audit', '--frobnicate'],
      ['audit', 'verify-evidence', join(dir, 'missing.json'), '--vkey', 'x'],
    ];
    const runs = await Promise.all(cases.map((c) => tilelog(c)));
    runs.forEach((r, i) => assert.equal(r.code, 2, `${cases[i]?.join(' ')}: ${r.stdout}${r.stderr}`));
  });
});
