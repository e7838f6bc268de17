/**
 * The kube-apiserver audit webhook end to end: EventLists built from the real audit fixtures
 * (shared/fixtures/k8s-audit), as the API server sends them, against the started server.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { leafHash } from '../../server/core/hash.js';
import { encodeBase64 } from '../../server/core/strict.js';
import { cleanupAll, REPO_ROOT, startServer, type ServerProcess } from '../support/server-process.js';

const FIXTURES = join(REPO_ROOT, '..', 'shared', 'fixtures', 'k8s-audit');
type Json = Record<string, unknown>;
const load = (f: string): Json => JSON.parse(readFileSync(join(FIXTURES, f), 'utf8')) as Json;
const jsonl = (): Json[] =>
  readFileSync(join(FIXTURES, 'immudb-log-audit-k8s-subset.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Json);

/** An EventList as the webhook backend encodes it: type information on the list only. */
function eventList(events: Json[], apiVersion = 'audit.k8s.io/v1'): string {
  const items = events.map(({ kind: _k, apiVersion: _a, ...rest }) => rest);
  return JSON.stringify({ kind: 'EventList', apiVersion, metadata: {}, items });
}

interface Reply {
  status: number;
  body: { entries?: { index: number; leafHash: string; duplicate: boolean }[]; error?: { code: string; message: string } };
}

async function post(server: ServerProcess, body: string | Uint8Array, headers: Record<string, string>): Promise<Reply> {
  const r = await fetch(`${server.baseUrl}/v1/k8s/audit`, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) });
  return { status: r.status, body: (await r.json()) as Reply['body'] };
}

async function entry(server: ServerProcess, index: number): Promise<Json> {
  const r = await fetch(`${server.baseUrl}/v1/entries/${index}`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(r.status, 200);
  return JSON.parse(Buffer.from(await r.arrayBuffer()).toString('utf8')) as Json;
}

describe('POST /v1/k8s/audit (API server audit webhook)', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServer({ checkpointInterval: '200ms', batchDelay: '5ms' });
  });
  after(cleanupAll);

  const falco = ['falco-create_configmap.json', 'falco-delete_configmap.json', 'falco-exec_pod.json'].map(load);

  test('an EventList from the fixtures: one entry per event, stored as the canonical event with its type', async () => {
    const r = await post(server, eventList(falco, 'audit.k8s.io/v1beta1'), { 'content-type': 'application/json' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.entries?.length, 3);
    assert.ok(r.body.entries!.every((e) => !e.duplicate));
    const stored = await entry(server, r.body.entries![0]!.index);
    assert.equal(stored['type'], 'k8s.audit/v1');
    assert.equal(stored['submitter'], undefined, 'no submitter without authentication');
    const ev = stored['event'] as Json;
    assert.equal(ev['auditID'], falco[0]!['auditID']);
    assert.deepEqual((ev['objectRef'] as Json)['resource'], 'configmaps');
    const norm = stored['ingressEvent'] as Json;
    assert.equal(norm['kind'], 'config_change');
    assert.equal((norm['k8s'] as Json)['resource'], 'configmaps');
    // The reply's leaf hash is the served entry's leaf hash.
    const bytes = Buffer.from(await (await fetch(`${server.baseUrl}/v1/entries/${r.body.entries![0]!.index}`)).arrayBuffer());
    assert.equal(r.body.entries![0]!.leafHash, encodeBase64(leafHash(bytes)));
  });

  test('a retried batch appends nothing, even gzipped and with per-item kind/apiVersion this time', async () => {
    const events = jsonl();
    const first = await post(server, eventList(events), { 'content-type': 'application/json' });
    assert.equal(first.status, 200);
    const fresh = first.body.entries!.filter((e) => !e.duplicate).length;
    assert.equal(fresh, events.length, 'every (auditID, stage) in the fixture is distinct');
    const retry = await post(server, gzipSync(JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: events })), { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    assert.equal(retry.status, 200);
    assert.ok(retry.body.entries!.every((e) => e.duplicate), 'a retried batch must append nothing');
    assert.deepEqual(retry.body.entries!.map((e) => e.index), first.body.entries!.map((e) => e.index));
    // Same (auditID, stage) with different bytes (an annotation added) is still the same record.
    const changed = { ...events[0]!, annotations: { extra: 'x' } };
    const again = await post(server, eventList([changed]), { 'content-type': 'application/json' });
    assert.equal(again.body.entries![0]!.duplicate, true);
    assert.equal(again.body.entries![0]!.index, first.body.entries![0]!.index);
  });

  test('the audit log backend: JSON lines posted as NDJSON', async () => {
    const lines = readFileSync(join(FIXTURES, 'immudb-log-audit-k8s-subset.jsonl'), 'utf8');
    const r = await post(server, lines, { 'content-type': 'application/x-ndjson' });
    assert.equal(r.status, 200);
    assert.ok(r.body.entries!.every((e) => e.duplicate), 'the same events as the webhook batch above');
  });

  test('an event too large for one entry keeps its metadata and has its objects elided with their hash and size', async () => {
    const big = { ...falco[0]!, auditID: 'big-event-1', stage: 'ResponseComplete', requestObject: { data: 'x'.repeat(70_000) }, responseObject: { ok: true } };
    const r = await post(server, eventList([big, { ...falco[1]!, auditID: 'small-after-big' }]), { 'content-type': 'application/json' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const ev = (await entry(server, r.body.entries![0]!.index))['event'] as Json;
    assert.equal(ev['auditID'], 'big-event-1');
    assert.deepEqual(ev['tilelog.dev/elided'], ['requestObject', 'responseObject']);
    const ro = ev['requestObject'] as Json;
    assert.equal(ro['elided'], true);
    assert.match(String(ro['sha256']), /^[0-9a-f]{64}$/);
    assert.ok(Number(ro['size']) > 70_000);
    assert.equal((ev['objectRef'] as Json)['name'], 'my-config');
  });

  const bad: [string, string | Uint8Array, Record<string, string>, number, string][] = [
    ['invalid JSON', '{"items":[', { 'content-type': 'application/json' }, 400, 'MALFORMED'],
    ['not an EventList', '{"kind":"PodList","items":[]}', { 'content-type': 'application/json' }, 400, 'MALFORMED'],
    ['wrong apiVersion', '{"apiVersion":"v1","items":[]}', { 'content-type': 'application/json' }, 400, 'MALFORMED'],
    ['an item without auditID', '{"items":[{"stage":"ResponseComplete"}]}', { 'content-type': 'application/json' }, 400, 'MALFORMED'],
    ['an item that is not an object', '{"items":[42]}', { 'content-type': 'application/json' }, 400, 'MALFORMED'],
    ['items not an array', '{"items":{}}', { 'content-type': 'application/json' }, 400, 'MALFORMED'],
    ['a bad NDJSON line', '{"auditID":"a","stage":"x"}\n{oops', { 'content-type': 'application/x-ndjson' }, 400, 'MALFORMED'],
    ['text/plain', 'hello', { 'content-type': 'text/plain' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['corrupt gzip', new Uint8Array([0x1f, 0x8b, 0, 1, 2]), { 'content-type': 'application/json', 'content-encoding': 'gzip' }, 400, 'MALFORMED'],
  ];
  for (const [name, body, headers, status, code] of bad) {
    test(`malformed: ${name} → ${status} ${code}, nothing appended`, async () => {
      const before = await (await fetch(`${server.baseUrl}/v1/log`)).json() as { integratedTreeSize: number };
      const r = await post(server, body, headers);
      assert.equal(r.status, status);
      assert.equal(r.body.error?.code, code);
      const afterLog = await (await fetch(`${server.baseUrl}/v1/log`)).json() as { integratedTreeSize: number };
      assert.equal(afterLog.integratedTreeSize, before.integratedTreeSize);
    });
  }

  test('an empty EventList is accepted and appends nothing', async () => {
    const r = await post(server, '{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{}}', { 'content-type': 'application/json' });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.entries, []);
  });
});
