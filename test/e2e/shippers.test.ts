/**
 * Log shippers posting straight to the log (`POST /v1/ingest[/<source>]`), with the bodies Fluent Bit, Vector and
 * Fluentd send (shared/docs/formats.md §3), built from the real ingress-nginx access-log fixture.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { cleanupAll, REPO_ROOT, startServer, type ServerProcess } from '../support/server-process.js';

const LINES = readFileSync(join(REPO_ROOT, '..', 'shared', 'fixtures', 'ingress-nginx', 'beats-ingress_controller-test.log'), 'utf8')
  .split('\n')
  .filter((l) => l !== '');

interface Reply {
  status: number;
  headers: Headers;
  body: { entries?: { index: number; duplicate: boolean }[]; error?: { code: string } };
}

async function post(server: ServerProcess, path: string, body: string | Uint8Array, headers: Record<string, string>): Promise<Reply> {
  const r = await fetch(`${server.baseUrl}${path}`, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) });
  return { status: r.status, headers: r.headers, body: (await r.json()) as Reply['body'] };
}

async function entryJson(server: ServerProcess, index: number): Promise<Record<string, unknown>> {
  const r = await fetch(`${server.baseUrl}/v1/entries/${index}`);
  return JSON.parse(Buffer.from(await r.arrayBuffer()).toString('utf8')) as Record<string, unknown>;
}

describe('POST /v1/ingest: log shippers', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServer({ checkpointInterval: '200ms', batchDelay: '5ms' });
  });
  after(cleanupAll);

  // Fluent Bit `format json`: one JSON array, date as a double, tag in a header (header_tag).
  const fluentBit = LINES.map((log, i) => ({ date: 1700000000.5 + i / 1000, log, stream: 'stdout', kubernetes: { namespace_name: 'ingress-nginx', pod_name: 'ingress-nginx-controller-abc' } }));

  test('Fluent Bit json (array, gzip, header_tag): one entry per record, with type, source and the record', async () => {
    const r = await post(server, '/v1/ingest', gzipSync(JSON.stringify(fluentBit)), { 'content-type': 'application/json', 'content-encoding': 'gzip', 'x-tilelog-source': 'kube.ingress-nginx' });
    assert.equal(r.status, 200);
    assert.equal(r.body.entries?.length, LINES.length);
    const e = await entryJson(server, r.body.entries![0]!.index);
    assert.equal(e['type'], 'log.record/v1');
    assert.equal(e['source'], 'kube.ingress-nginx');
    assert.deepEqual(e['record'], fluentBit[0]);
    const ev = e['event'] as Record<string, Record<string, unknown>>;
    assert.equal(ev['kind'] as unknown, 'access');
    assert.equal(ev['request']?.['method'], 'POST');
    assert.equal(ev['request']?.['path'], '/products');
    assert.equal(ev['response']?.['status'], 200);
  });

  test('every fixture line lands normalised: nginx and Traefik access lines as events, the broken lines as unparsed', async () => {
    const traefik = readFileSync(join(REPO_ROOT, '..', 'shared', 'fixtures', 'traefik', 'beats-traefik-access-test.log'), 'utf8').split('\n').filter((l) => l !== '');
    const sources: [string, string[]][] = [['ingress-nginx', LINES], ['traefik', traefik]];
    for (const [source, lines] of sources) {
      const body = lines.map((log, i) => JSON.stringify({ log, date: 1800000000 + i })).join('\n');
      const r = await post(server, `/v1/ingest/${source}`, body, { 'content-type': 'application/x-ndjson' });
      assert.equal(r.status, 200);
      const kinds = new Map<string, number>();
      for (const x of r.body.entries!) {
        const ev = (await entryJson(server, x.index))['event'] as { kind: string; reason?: string; raw?: string };
        kinds.set(ev.kind, (kinds.get(ev.kind) ?? 0) + 1);
        if (ev.kind === 'unparsed') assert.ok(ev.reason !== undefined && ev.raw !== undefined, 'unparsed events carry the raw line and the reason');
      }
      assert.equal([...kinds.values()].reduce((a, b) => a + b, 0), lines.length);
      assert.equal(kinds.get('unparsed'), 1, `${source}: the fixture's one malformed line`);
      assert.ok((kinds.get('access') ?? 0) >= 1);
    }
  });

  test('a resent chunk is reported as duplicates; two identical lines read at different times stay two entries', async () => {
    const again = await post(server, '/v1/ingest', JSON.stringify(fluentBit), { 'content-type': 'application/json', 'x-tilelog-source': 'kube.ingress-nginx' });
    assert.ok(again.body.entries!.every((e) => e.duplicate));
    const twice = [{ date: 1.25, log: LINES[0] }, { date: 1.5, log: LINES[0] }];
    const r = await post(server, '/v1/ingest', JSON.stringify(twice), { 'content-type': 'application/json', 'x-tilelog-source': 'kube.ingress-nginx' });
    assert.deepEqual(r.body.entries!.map((x) => x.duplicate), [false, false]);
    assert.notEqual(r.body.entries![0]!.index, r.body.entries![1]!.index);
  });

  test('Fluent Bit json_lines and Vector newline_delimited: NDJSON without a trailing newline', async () => {
    const ndjson = LINES.slice(0, 3).map((message, i) => JSON.stringify({ message, timestamp: `2026-11-25T10:00:0${i}Z`, kubernetes: { pod_namespace: 'ingress-nginx' } })).join('\n');
    const r = await post(server, '/v1/ingest/vector', ndjson, { 'content-type': 'application/x-ndjson' });
    assert.equal(r.status, 200);
    assert.equal(r.body.entries?.length, 3);
    assert.equal((await entryJson(server, r.body.entries![2]!.index))['source'], 'vector');
  });

  test('Fluentd out_http (NDJSON, source from the ${tag} placeholder in the path)', async () => {
    const body = LINES.slice(3, 5).map((log) => JSON.stringify({ log, time: 1700000123 })).join('\n') + '\n';
    const r = await post(server, '/v1/ingest/kubernetes.var.log.containers.ingress', body, { 'content-type': 'application/x-ndjson' });
    assert.equal(r.status, 200);
    assert.equal(r.body.entries?.length, 2);
  });

  const bad: [string, string, string, Record<string, string>, number, string][] = [
    ['a record that is not an object', '/v1/ingest', '[1,2]', { 'content-type': 'application/json' }, 400, 'MALFORMED'],
    ['invalid JSON', '/v1/ingest', '[{"a":', { 'content-type': 'application/json' }, 400, 'MALFORMED'],
    ['msgpack (unsupported)', '/v1/ingest', 'x', { 'content-type': 'application/msgpack' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['a bad source header', '/v1/ingest', '{}', { 'content-type': 'application/json', 'x-tilelog-source': '../etc' }, 400, 'MALFORMED'],
  ];
  for (const [name, path, body, headers, status, code] of bad) {
    test(`malformed: ${name} → ${status}`, async () => {
      const r = await post(server, path, body, headers);
      assert.equal(r.status, status);
      assert.equal(r.body.error?.code, code);
    });
  }
});
