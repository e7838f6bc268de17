/**
 * `tilelog audit --witness-key`: the auditor is also a tlog-witness. A log configured with it as its only witness
 * (quorum 1) publishes cosigned checkpoints; the auditor cosigns the checkpoints it verified itself and serves the
 * cosigned checkpoint on the gossip/monitoring GET.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanupAll, startServer } from '../support/server-process.js';
import { AuditorProcess, addEntries, freePort, stopAllAuditors, tilelog, waitFor } from '../support/audit-process.js';
import { simplePolicy, verifyCheckpoint } from '../../clients/tlog/index.js';

const dir = mkdtempSync(join(tmpdir(), 'tilelog-audit-witness-'));
after(async () => {
  await stopAllAuditors();
  await cleanupAll();
  rmSync(dir, { recursive: true, force: true });
});

test('an auditor with --witness-key cosigns for the log and serves its cosigned checkpoint', async () => {
  const keyFile = join(dir, 'witness.key');
  const kg = await tilelog(['keygen', '--origin', 'auditor.example/witness', '--out', keyFile]);
  assert.equal(kg.code, 0, kg.stderr);
  const pv = await tilelog(['witness', '--key', keyFile, '--print-vkey']);
  assert.equal(pv.code, 0, pv.stderr);
  const witnessVkey = pv.stdout.trim();
  const port = await freePort();
  const log = await startServer({ checkpointInterval: '300ms', batchDelay: '5ms', extraArgs: ['--witness', `auditor=http://127.0.0.1:${port}=${witnessVkey}`, '--witness-quorum', '1'] });
  const a = await AuditorProcess.start(['--log', `${log.origin}=${log.baseUrl}/=${log.vkey}`, '--state', join(dir, 'st'), '--interval', '300ms', '--witness-key', keyFile], port);
  const listening = a.records()[0] as { witnessVkey?: string };
  assert.equal(listening.witnessVkey, witnessVkey);
  await addEntries(log.baseUrl, 300, 'witnessed');
  const policy = simplePolicy([witnessVkey], 1);

  // The log's published checkpoint carries the auditor-witness's cosignature.
  const logNote = await (await fetch(`${log.baseUrl}/checkpoint`)).text();
  const v = verifyCheckpoint(logNote, { logVkeys: log.vkey, policy });
  assert.equal(v.cosignatures.length, 1);

  // The auditor serves a cosigned checkpoint of at least the size it verified.
  const hash = createHash('sha256').update(log.origin).digest('hex');
  await waitFor('a cosigned checkpoint of size ≥ 300 on the gossip GET', async () => {
    const note = await (await fetch(`${a.baseUrl}${hash}/checkpoint`)).text();
    const c = verifyCheckpoint(note, { logVkeys: log.vkey, policy });
    return c.checkpoint.treeSize >= 300n && c.cosignatures.length === 1;
  });
  // add-checkpoint is mounted: a request with a stale old size gets 409 with the witness's size.
  const r = await fetch(`${a.baseUrl}add-checkpoint`, { method: 'POST', body: `old 0\n\n${logNote}` });
  assert.equal(r.status, 409);
  assert.equal(r.headers.get('content-type'), 'text/x.tlog.size');
  assert.equal((await a.metric('tilelog_audit_alarms_total')) ?? 0, 0);
  assert.equal(await a.stop(), 0);
});
