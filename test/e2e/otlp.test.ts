/**
 * OTLP logs end to end against the started server: the opentelemetry-proto example (shared/fixtures/otlp) posted
 * as OTLP/JSON and as protobuf over HTTP (`POST /v1/logs`) and through `LogsService/Export` over gRPC.
 * The same records must give the same entries whatever the encoding, so later posts are duplicates.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { otlpLogsTypes } from '../../server/otlp/proto.js';
import { cleanupAll, REPO_ROOT, type ServerProcess } from '../support/server-process.js';
import { startGrpcServer } from '../support/grpc-server-process.js';

const FIXTURE = readFileSync(join(REPO_ROOT, '..', 'shared', 'fixtures', 'otlp', 'opentelemetry-proto-examples-logs.json'), 'utf8');

/** OTLP/JSON → protobuf bytes (hex ids → bytes, as the OTLP/JSON mapping says). */
function toProtobuf(json: string): Uint8Array {
  const { Request } = otlpLogsTypes();
  const obj = JSON.parse(json, (k, v: unknown) => ((k === 'traceId' || k === 'spanId') && typeof v === 'string' ? Buffer.from(v, 'hex').toString('base64') : v)) as Record<string, unknown>;
  return Request.encode(Request.fromObject(obj)).finish();
}

function recordCount(): number {
  const j = JSON.parse(FIXTURE) as { resourceLogs: { scopeLogs: { logRecords: unknown[] }[] }[] };
  return j.resourceLogs.reduce((n, r) => n + r.scopeLogs.reduce((m, s) => m + s.logRecords.length, 0), 0);
}

async function treeSize(server: ServerProcess): Promise<number> {
  const j = (await (await fetch(`${server.baseUrl}/v1/log`)).json()) as { integratedTreeSize: number };
  return j.integratedTreeSize;
}

describe('OTLP logs (HTTP /v1/logs and gRPC LogsService/Export)', () => {
  let server: ServerProcess;
  let grpcAddr: string;
  before(async () => {
    const g = await startGrpcServer({ checkpointInterval: '200ms', batchDelay: '5ms' });
    server = g.proc;
    grpcAddr = g.grpc;
  });
  after(cleanupAll);

  test('OTLP/JSON: one entry per LogRecord, a JSON reply without partialSuccess', async () => {
    const before = await treeSize(server);
    const r = await fetch(`${server.baseUrl}/v1/logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: FIXTURE });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /application\/json/);
    assert.deepEqual(await r.json(), {});
    assert.equal((await treeSize(server)) - before, recordCount());
    const e = JSON.parse(Buffer.from(await (await fetch(`${server.baseUrl}/v1/entries/${before}`)).arrayBuffer()).toString('utf8')) as Record<string, unknown>;
    assert.equal(e['type'], 'otlp.log/v1');
    assert.ok(e['logRecord'] !== undefined && e['resource'] !== undefined);
  });

  test('the same records as gzipped protobuf give the same entries (nothing new appended)', async () => {
    const before = await treeSize(server);
    const r = await fetch(`${server.baseUrl}/v1/logs`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' }, body: gzipSync(toProtobuf(FIXTURE)) });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/x-protobuf');
    assert.equal(await treeSize(server), before, 'protobuf and JSON encodings of a record must be one entry');
  });

  test('gRPC Export of the same records: OK, and again nothing new', async () => {
    const before = await treeSize(server);
    const client = new grpc.Client(grpcAddr, grpc.credentials.createInsecure());
    try {
      const res = await new Promise<Buffer>((resolve, reject) =>
        client.makeUnaryRequest('/opentelemetry.proto.collector.logs.v1.LogsService/Export', (b: Buffer) => b, (b: Buffer) => b, Buffer.from(toProtobuf(FIXTURE)), new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err, v) => (err ? reject(err) : resolve(v as Buffer))),
      );
      assert.ok(res.length === 0 || protobuf.Reader.create(res).len >= 0);
    } finally {
      client.close();
    }
    assert.equal(await treeSize(server), before);
  });

  test('a new record over gRPC is appended; malformed bodies get 4xx', async () => {
    const before = await treeSize(server);
    const changed = FIXTURE.replace(/"stringValue":\s*"([^"]*)"/, '"stringValue": "$1 (changed)"');
    const r = await fetch(`${server.baseUrl}/v1/logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: changed });
    assert.equal(r.status, 200);
    assert.equal((await treeSize(server)) - before, 1);
    const bad = await fetch(`${server.baseUrl}/v1/logs`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: new Uint8Array([0xff, 0xff, 0xff]) });
    assert.equal(bad.status, 400);
    const other = await fetch(`${server.baseUrl}/v1/logs`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' });
    assert.equal(other.status, 415);
  });
});
