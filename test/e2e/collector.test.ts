/**
 * `tilelog collect` end to end, with real processes: a `tilelog serve` (gRPC and HTTP) and the collector.
 *
 * - the real fixtures (ingress-nginx, traefik, audit log) drained with --once: every line in the log once, parsed;
 *   a second --once run appends nothing;
 * - a file rotated by rename+create and by copytruncate while written: every line in the log exactly once;
 * - the log stopped for a while mid-stream: nothing lost, nothing duplicated;
 * - the collector kill -9'd mid-batch several times and restarted: every line exactly once;
 * - back-pressure: a tiny spool with the log down stops the inputs, nothing dropped, all delivered later;
 * - the audit webhook: a resent EventList appends nothing; every (auditID, stage) once;
 * - stdin with CRI partial lines joined;
 * - attestations: a chosen event's leaf hash is a subject of a bundle that @sigstore/verify accepts with the
 *   collector's key (and rejects with another key);
 * - receipts: a proxy that tampers with tiles (or the checkpoint) makes --once exit 3 with an alarm file.
 */
import { strict as assert } from 'node:assert';
import { createPublicKey } from 'node:crypto';
import { appendFileSync, copyFileSync, readdirSync, readFileSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { verifyBundle } from '../../clients/sigstore/bundles.js';
import { leafHash } from '../../server/core/hash.js';
import { cleanupAll, REPO_ROOT, sleep, startServer, type ServerProcess } from '../support/server-process.js';
import { newKey, signToken, writeJwksFile } from '../support/jwt.js';
import { cleanupCollectors, collectorKey, CollectorProcess, freePort, readLog, tamperingProxy, tempDir, waitForRecords, type LoggedRecord } from '../support/collector-process.js';

const FIXTURES = process.env['TILELOG_FIXTURES'] ?? join(REPO_ROOT, '..', 'shared', 'fixtures');
const NGINX = join(FIXTURES, 'ingress-nginx', 'beats-ingress_controller-test.log');
const TRAEFIK = join(FIXTURES, 'traefik', 'beats-traefik-access-test.log');
const AUDIT = join(FIXTURES, 'k8s-audit', 'immudb-log-audit-k8s-subset.jsonl');

after(async () => {
  await cleanupCollectors();
  await cleanupAll();
});

const nonEmptyLines = (file: string) => readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '');
const TEMPLATE = nonEmptyLines(NGINX)[0] as string;
/** A real ingress-nginx line whose request id (the last field) carries `i`. */
const nginxLine = (i: number) => TEMPLATE.replace(/ [0-9a-f]{32}$/, ` ${i.toString(16).padStart(32, '0')}`);
const idOf = (text: string) => parseInt(text.slice(-32), 16);

/** Appends numbered ingress-nginx lines to `file`, `chunk` lines at a time with a pause: write(n) appends the next n. */
function lineWriter(file: string, chunk: number, pauseMs: number): (n: number) => Promise<void> {
  let i = 0;
  return async (n) => {
    for (let k = 0; k < n; k += chunk) {
      let text = '';
      for (let j = 0; j < chunk && k + j < n; j++) text += `${nginxLine(i++)}\n`;
      appendFileSync(file, text);
      await sleep(pauseMs);
    }
  };
}

async function startLog(extra: string[] = []): Promise<{ server: ServerProcess; grpc: number; http: number }> {
  const grpc = await freePort();
  const http = await freePort();
  const server = await startServer({ checkpointInterval: '200ms', batchDelay: '5ms', extraArgs: ['--http', `127.0.0.1:${http}`, '--grpc', `127.0.0.1:${grpc}`, ...extra] });
  return { server, grpc, http };
}

function baseArgs(server: ServerProcess, grpc: number, spool: string, keyFile: string, extra: string[] = []): string[] {
  return ['--log-url', server.baseUrl, '--grpc', `127.0.0.1:${grpc}`, '--vkey', server.vkey, '--spool', spool, '--key', keyFile, '--name', 'e2e-collector', '--metrics', '127.0.0.1:0', '--receipt-interval', '300ms', '--batch-delay', '20ms', ...extra];
}

/** Asserts that the records' ids are exactly 0..n-1, each once. */
function assertExactlyOnce(records: readonly LoggedRecord[], n: number): void {
  const seen = new Map<number, number>();
  for (const r of records) {
    const id = idOf(String(r.entry['text']));
    seen.set(id, (seen.get(id) ?? 0) + 1);
  }
  const missing: number[] = [];
  const twice: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = seen.get(i) ?? 0;
    if (c === 0) missing.push(i);
    if (c > 1) twice.push(i);
  }
  assert.deepEqual({ missing: missing.slice(0, 20), twice: twice.slice(0, 20), total: records.length }, { missing: [], twice: [], total: n });
}

describe('tilelog collect', { timeout: 1_800_000 }, () => {
  it('drains the real fixtures with --once: each line once, parsed; bundles verify; a rerun appends nothing', async () => {
    const { server, grpc } = await startLog();
    const dir = tempDir();
    const { keyFile, publicKeyPem } = collectorKey(dir, 'p256');
    const args = baseArgs(server, grpc, join(dir, 'spool'), keyFile, ['--once', '--file', NGINX, '--file', TRAEFIK, '--audit-log', AUDIT]);
    const c = await CollectorProcess.start(args, { waitListening: false });
    assert.equal((await c.exit()).code, 0, c.output());
    const want = nonEmptyLines(NGINX).length + nonEmptyLines(TRAEFIK).length + nonEmptyLines(AUDIT).length;
    const { records, others } = await readLog(server.baseUrl, server.vkey);
    assert.equal(records.length, want);
    const kinds = new Map<string, number>();
    for (const r of records) {
      const ev = r.entry['event'] as { kind: string; source: { type: string } };
      kinds.set(`${ev.source.type}:${ev.kind}`, (kinds.get(`${ev.source.type}:${ev.kind}`) ?? 0) + 1);
      assert.equal(r.entry['collector'], 'e2e-collector');
      const origin = r.entry['origin'] as { file: string; offset: number; fileId: string };
      // The origin names the exact bytes: the text is at that offset of that file.
      const text = r.entry['input'] === 'audit-log' ? JSON.stringify(r.entry['auditEvent']) : String(r.entry['text']);
      if (r.entry['input'] !== 'audit-log') assert.equal(readFileSync(origin.file).subarray(origin.offset, origin.offset + Buffer.byteLength(text)).toString(), text);
    }
    assert.ok((kinds.get('ingress-nginx:access') ?? 0) > 0, JSON.stringify([...kinds]));
    assert.ok((kinds.get('traefik:access') ?? 0) > 0, JSON.stringify([...kinds]));
    assert.ok([...kinds.keys()].some((k) => k.startsWith('k8s-audit:')), JSON.stringify([...kinds]));
    // Attestations: logged (Rekor DSSE entries), bundles on disk that verify, and a chosen event tied to the key.
    const bundles = readdirSync(join(dir, 'spool', 'bundles')).filter((f) => f.endsWith('.sigstore.json'));
    assert.ok(bundles.length >= 1);
    assert.ok(others.length >= bundles.length, 'every attestation is an entry of the log too');
    const trustedRoot: unknown = await (await fetch(`${server.baseUrl}/v1/trusted-root.json`)).json();
    const chosen = records[Math.floor(records.length / 2)] as LoggedRecord;
    const hex = Buffer.from(leafHash(chosen.bytes)).toString('hex');
    let found = 0;
    for (const f of bundles) {
      const bundle = JSON.parse(readFileSync(join(dir, 'spool', 'bundles', f), 'utf8')) as { dsseEnvelope: { payload: string } };
      verifyBundle({ bundle, trustedRoot, publicKey: createPublicKey(publicKeyPem) });
      const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString()) as { subject: { name: string; digest: Record<string, string> }[]; predicate: Record<string, unknown> };
      assert.equal(statement.predicate['collector'], 'e2e-collector');
      for (const s of statement.subject) {
        if (s.digest['rfc6962LeafSha256'] === hex) {
          found++;
          assert.equal(s.name, `${server.origin}/${chosen.index}`);
          // Another key does not verify the bundle.
          const other = collectorKey(tempDir(), 'p256');
          assert.throws(() => verifyBundle({ bundle, trustedRoot, publicKey: createPublicKey(other.publicKeyPem) }));
        }
      }
    }
    assert.equal(found, 1, 'the chosen event is a subject of exactly one attestation');
    // A second --once run on the same spool reads nothing new and appends nothing.
    const size = (await readLog(server.baseUrl, server.vkey)).treeSize;
    const c2 = await CollectorProcess.start(args, { waitListening: false });
    assert.equal((await c2.exit()).code, 0, c2.output());
    assert.equal((await readLog(server.baseUrl, server.vkey)).treeSize, size);
    // A fresh spool re-reads everything: the entries are identical, so the log reports duplicates, appends none
    // (only the new attestations).
    const c3 = await CollectorProcess.start(baseArgs(server, grpc, join(dir, 'spool2'), keyFile, ['--once', '--file', NGINX, '--file', TRAEFIK, '--audit-log', AUDIT]), { waitListening: false });
    assert.equal((await c3.exit()).code, 0, c3.output());
    assert.equal((await readLog(server.baseUrl, server.vkey)).records.length, want);
  });

  it('follows rename+create and copytruncate rotation while the file is written: every line exactly once', async () => {
    const { server, grpc } = await startLog();
    const dir = tempDir();
    const { keyFile } = collectorKey(dir);
    const log = join(dir, 'access.log');
    writeFileSync(log, '');
    const c = await CollectorProcess.start(baseArgs(server, grpc, join(dir, 'spool'), keyFile, ['--file', log]));
    const write = lineWriter(log, 20, 2);
    await write(1000);
    renameSync(log, join(dir, 'access.log.1')); // rename + create, while the collector may be mid-file
    await write(1000);
    // copytruncate loses whatever is written between the last read and the truncate (inherent to copytruncate);
    // so wait until the collector has read everything, as logrotate's delaycompress+copytruncate users must accept.
    await waitForRecords(server.baseUrl, server.vkey, (r) => r.length >= 2000, 60_000, '2000 records before copytruncate');
    copyFileSync(log, join(dir, 'access.log.2'));
    truncateSync(log, 0);
    await write(1000);
    const records = await waitForRecords(server.baseUrl, server.vkey, (r) => r.length >= 3000, 60_000, '3000 records');
    await sleep(1000); // anything extra would show up now
    assertExactlyOnce((await readLog(server.baseUrl, server.vkey)).records, 3000);
    assert.ok(records.length >= 3000);
    assert.equal((await c.stop()).code, 0, c.output());
  });

  it('loses and duplicates nothing when the log is down for a while', async () => {
    const { server, grpc, http } = await startLog();
    const dir = tempDir();
    const { keyFile } = collectorKey(dir);
    const log = join(dir, 'access.log');
    writeFileSync(log, '');
    const c = await CollectorProcess.start(baseArgs(server, grpc, join(dir, 'spool'), keyFile, ['--file', log]));
    const write = lineWriter(log, 25, 5);
    await write(700);
    await server.kill(); // the log dies (kill -9) with batches possibly in flight
    await write(700);
    await sleep(1500);
    assert.ok((await c.metric('tilelog_collector_submit_errors_total')) > 0, 'the collector noticed the outage');
    const restarted = await server.restart({ extraArgs: ['--http', `127.0.0.1:${http}`, '--grpc', `127.0.0.1:${grpc}`] });
    await write(600);
    await waitForRecords(restarted.baseUrl, restarted.vkey, (r) => r.length >= 2000, 60_000, '2000 records after the outage');
    await sleep(1000);
    assertExactlyOnce((await readLog(restarted.baseUrl, restarted.vkey)).records, 2000);
    await c.stop();
  });

  // Five rounds in `npm test`; 50 with TILELOG_LONG=1 (issue #9's long mode).
  const KILL_ROUNDS = process.env['TILELOG_LONG'] === '1' ? 50 : 5;
  it(`kill -9 of the collector mid-batch, ${KILL_ROUNDS} times: every line exactly once`, async () => {
    const { server, grpc } = await startLog();
    const dir = tempDir();
    const { keyFile } = collectorKey(dir);
    const log = join(dir, 'access.log');
    const n = 20_000;
    let text = '';
    for (let i = 0; i < n; i++) text += `${nginxLine(i)}\n`;
    writeFileSync(log, text);
    const args = baseArgs(server, grpc, join(dir, 'spool'), keyFile, ['--file', log, '--batch-size', '500']);
    for (let round = 0; round < KILL_ROUNDS; round++) {
      const c = await CollectorProcess.start(args);
      await sleep(150 + Math.floor(Math.random() * 500));
      await c.kill();
    }
    const last = await CollectorProcess.start([...args, '--once'], { waitListening: false });
    assert.equal((await last.exit(120_000)).code, 0, last.output());
    assertExactlyOnce((await readLog(server.baseUrl, server.vkey)).records, n);
  });

  it('back-pressure: with the log down and a tiny spool the inputs pause; nothing is dropped', async () => {
    const grpc = await freePort();
    const http = await freePort();
    const dir = tempDir();
    const { keyFile } = collectorKey(dir);
    const log = join(dir, 'access.log');
    let text = '';
    for (let i = 0; i < 3000; i++) text += `${nginxLine(i)}\n`;
    writeFileSync(log, text);
    // No log yet: the collector spools until the spool is full, then stops reading.
    const c = await CollectorProcess.start([
      '--log-url', `http://127.0.0.1:${http}`, '--grpc', `127.0.0.1:${grpc}`, '--no-receipts', '--spool', join(dir, 'spool'), '--key', keyFile,
      '--spool-max-bytes', '64KiB', '--metrics', '127.0.0.1:0', '--file', log, '--name', 'bp',
    ]);
    const until = Date.now() + 15_000;
    while ((await c.metric('tilelog_collector_spool_full')) !== 1 && Date.now() < until) await sleep(100);
    assert.equal(await c.metric('tilelog_collector_spool_full'), 1, c.output());
    await sleep(500);
    const read = await c.metric('tilelog_collector_records_read_total');
    assert.ok(read > 0 && read < 3000, `read ${read}`);
    assert.ok((await c.metric('tilelog_collector_bytes_behind')) > 0);
    assert.ok(c.lines.some((l) => l.includes('spool full')), 'the back-pressure is logged');
    const server = await startServer({ checkpointInterval: '200ms', extraArgs: ['--http', `127.0.0.1:${http}`, '--grpc', `127.0.0.1:${grpc}`] });
    await waitForRecords(server.baseUrl, server.vkey, (r) => r.length >= 3000, 60_000, 'all 3000 records after back-pressure');
    assertExactlyOnce((await readLog(server.baseUrl, server.vkey)).records, 3000);
    await c.stop();
  });

  it('audit webhook: every (auditID, stage) once, a resent EventList appends nothing', async () => {
    const { server, grpc } = await startLog();
    const dir = tempDir();
    const { keyFile } = collectorKey(dir);
    const c = await CollectorProcess.start(baseArgs(server, grpc, join(dir, 'spool'), keyFile, ['--audit-webhook', '127.0.0.1:0']));
    const addr = String(c.listening?.['audit-webhook']);
    const items = nonEmptyLines(AUDIT).map((l) => JSON.parse(l) as unknown);
    const body = JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', metadata: {}, items });
    for (let k = 0; k < 2; k++) {
      const res = await fetch(`http://${addr}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      assert.equal(res.status, 200, await res.text());
    }
    const bad = await fetch(`http://${addr}/`, { method: 'POST', body: '{"kind":"Pod"}' });
    assert.equal(bad.status, 400);
    const records = await waitForRecords(server.baseUrl, server.vkey, (r) => r.length >= items.length, 30_000);
    await sleep(800);
    const final = (await readLog(server.baseUrl, server.vkey)).records;
    assert.equal(final.length, items.length, `got ${final.length} (${records.length})`);
    const ids = new Set(final.map((r) => JSON.stringify(r.entry['origin'])));
    assert.equal(ids.size, items.length);
    assert.equal(await c.metric('tilelog_collector_records_acknowledged_total', { result: 'duplicate' }), items.length);
    await c.stop();
  });

  it('stdin in the CRI format: partial lines joined, in the log once', async () => {
    const { server, grpc } = await startLog();
    const dir = tempDir();
    const { keyFile } = collectorKey(dir);
    const full = nginxLine(7);
    const cri = [
      `2026-11-25T10:00:00.000000001Z stdout P ${full.slice(0, 40)}`,
      `2026-11-25T10:00:00.000000002Z stdout P ${full.slice(40, 90)}`,
      `2026-11-25T10:00:00.000000003Z stdout F ${full.slice(90)}`,
      `2026-11-25T10:00:01.000000000Z stderr F ${nginxLine(8)}`,
    ].join('\n');
    const c = await CollectorProcess.start(baseArgs(server, grpc, join(dir, 'spool'), keyFile, ['--stdin', '--cri', '--once']), { waitListening: false, stdin: `${cri}\n` });
    assert.equal((await c.exit()).code, 0, c.output());
    const { records } = await readLog(server.baseUrl, server.vkey);
    assert.deepEqual(records.map((r) => r.entry['text']), [full, nginxLine(8)]);
    assert.equal(records[0]?.entry['stream'], 'stdout');
    assert.equal((records[0]?.entry['event'] as { kind: string }).kind, 'access');
  });

  it('receipts: tampered tiles make --once raise an alarm and exit 3', async () => {
    const { server, grpc } = await startLog();
    const dir = tempDir();
    const { keyFile } = collectorKey(dir);
    // Reads go through a proxy that flips a byte of every hash tile; submission goes straight to gRPC.
    const proxy = await tamperingProxy(server.baseUrl, (p) => /^\/tile\/[0-9]/.test(p), (b) => {
      const c = Buffer.from(b);
      c[0] = (c[0] as number) ^ 1;
      return c;
    });
    try {
      const args = ['--log-url', proxy.url, '--grpc', `127.0.0.1:${grpc}`, '--vkey', server.vkey, '--spool', join(dir, 'spool'), '--key', keyFile, '--once', '--file', NGINX, '--receipt-interval', '200ms'];
      const c = await CollectorProcess.start(args, { waitListening: false });
      const status = await c.exit();
      assert.equal(status.code, 3, c.output());
      assert.ok(proxy.tampered() > 0);
      assert.ok(c.lines.some((l) => l.includes('"level":50') && l.includes('RECEIPT ALARM')), c.output());
      const alarms = readdirSync(join(dir, 'spool')).filter((f) => f.startsWith('alarm-'));
      assert.ok(alarms.length > 0);
      const evidence = JSON.parse(readFileSync(join(dir, 'spool', alarms[0] as string), 'utf8')) as { kind: string; evidence: { checkpoint?: string } };
      assert.equal(evidence.kind, 'not-included');
      assert.match(String(evidence.evidence.checkpoint), new RegExp(`^${server.origin}\n`));
    } finally {
      await proxy.close();
    }
  });

  it('receipts: a checkpoint not signed by the log key is an alarm', async () => {
    const { server, grpc } = await startLog();
    const dir = tempDir();
    const { keyFile } = collectorKey(dir);
    const proxy = await tamperingProxy(server.baseUrl, (p) => p === '/checkpoint', (b) => Buffer.from(b.toString().replace(/\n(\d+)\n/, (_m, n: string) => `\n${BigInt(n) + 1n}\n`)));
    try {
      const c = await CollectorProcess.start(['--log-url', proxy.url, '--grpc', `127.0.0.1:${grpc}`, '--vkey', server.vkey, '--spool', join(dir, 'spool'), '--key', keyFile, '--once', '--file', NGINX], { waitListening: false });
      assert.equal((await c.exit()).code, 3, c.output());
      assert.ok(c.lines.some((l) => l.includes('bad-signature')), c.output());
    } finally {
      await proxy.close();
    }
  });

  for (const transport of ['http', 'grpc'] as const) {
    it(`${transport} transport with writer authentication: a rotated token file is re-read, nothing lost`, async () => {
      const dir = tempDir();
      const key = await newKey('ES256', 'k1');
      const jwksFile = join(dir, 'jwks.json');
      writeJwksFile(jwksFile, [key]);
      const subject = 'system:serviceaccount:tilelog:tilelog-collector';
      const { server, grpc } = await startLog(['--auth-issuer', 'https://issuer.test', '--auth-audience', 'tilelog', '--auth-jwks-file', jwksFile, '--auth-subject', subject]);
      const tokenFile = join(dir, 'token');
      // The kubelet has not written a valid token yet: the first one is for another audience.
      writeFileSync(tokenFile, await signToken(key, { iss: 'https://issuer.test', aud: 'someone-else', sub: subject }));
      const { keyFile } = collectorKey(dir);
      const log = join(dir, 'access.log');
      let text = '';
      for (let i = 0; i < 500; i++) text += `${nginxLine(i)}\n`;
      writeFileSync(log, text);
      const c = await CollectorProcess.start([...baseArgs(server, grpc, join(dir, 'spool'), keyFile, ['--file', log, '--token-file', tokenFile]), '--transport', transport]);
      const until = Date.now() + 15_000;
      while ((await c.metric('tilelog_collector_submit_errors_total')) === 0 && Date.now() < until) await sleep(100);
      assert.ok((await c.metric('tilelog_collector_submit_errors_total')) > 0, `refused at first: ${c.output()}`);
      assert.equal((await readLog(server.baseUrl, server.vkey)).records.length, 0);
      // The token rotates (the kubelet rewrites the projected token): the collector picks it up and catches up.
      writeFileSync(tokenFile, await signToken(key, { iss: 'https://issuer.test', aud: 'tilelog', sub: subject }));
      const records = await waitForRecords(server.baseUrl, server.vkey, (r) => r.length >= 500, 60_000, '500 records after the token rotation');
      assertExactlyOnce(records, 500);
      // The attestations went through the authenticated Rekor endpoint with the same token.
      const until2 = Date.now() + 30_000;
      while ((await c.metric('tilelog_collector_attestations_total', { result: 'ok' })) === 0 && Date.now() < until2) await sleep(200);
      assert.ok((await c.metric('tilelog_collector_attestations_total', { result: 'ok' })) > 0, c.output());
      await c.stop();
    });
  }

  it('invalid configuration fails at start naming the option', async () => {
    const dir = tempDir();
    const cfg = join(dir, 'collector.yaml');
    writeFileSync(cfg, 'log: { url: http://127.0.0.1:1, receipts: false }\nspool: { dir: /tmp/x }\ninputs:\n  - { name: a, type: file, paths: [/x], formatt: auto }\n');
    const c = await CollectorProcess.start(['--config', cfg], { waitListening: false });
    assert.equal((await c.exit()).code, 1);
    assert.ok(c.lines.some((l) => l.includes('inputs[0].formatt: unknown option')), c.output());
  });
});
