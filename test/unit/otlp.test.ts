/**
 * OTLP logs ingest: the real OTLP/JSON example (shared/fixtures/otlp, from open-telemetry/opentelemetry-proto)
 * as JSON and as protobuf gives byte-identical entries; the OTLP/HTTP route (JSON, protobuf, gzip, errors, partial
 * success) on an express app on 127.0.0.1:0; and LogsService/Export over gRPC. Ingest and auth are fakes.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import express from 'express';
import type { Principal } from '../../server/auth.js';
import { TlogError } from '../../server/core/errors.js';
import { entriesFromRequest, normaliseJsonRequest, parseJsonRequest } from '../../server/otlp/convert.js';
import { addOtlpLogsService, loadOtlpLogsPackage } from '../../server/otlp/grpc.js';
import { otlpLogsRoute } from '../../server/otlp/http.js';
import { decodeProtobufRequest, otlpLogsTypes } from '../../server/otlp/proto.js';
import { rpcStatusTypes } from '../../server/grpc/proto.js';

const REPO_ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
const FIXTURE = readFileSync(join(REPO_ROOT, '..', 'shared', 'fixtures', 'otlp', 'opentelemetry-proto-examples-logs.json'));
const WRITER: Principal = { subject: 'system:serviceaccount:otel:collector', authenticated: true };

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The fixture (OTLP/JSON) as a protobufjs `fromObject` input: ids hex → bytes (everything else already fits). */
function toProtoObject(j: Json): Json {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (typeof v !== 'object' || v === null) return v;
    const out: Json = {};
    for (const [k, x] of Object.entries(v)) out[k] = (k === 'traceId' || k === 'spanId') && typeof x === 'string' ? Buffer.from(x, 'hex') : walk(x);
    return out;
  };
  return walk(j) as Json;
}

function encodeRequest(j: Json): Buffer {
  const { Request } = otlpLogsTypes();
  return Buffer.from(Request.encode(Request.fromObject(toProtoObject(j))).finish());
}

const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');

describe('convert', () => {
  test('the fixture as OTLP/JSON: one entry with the OTLP/JSON form of the record', () => {
    const c = entriesFromRequest(parseJsonRequest(FIXTURE), WRITER);
    assert.equal(c.entries.length, 1);
    assert.equal(c.rejected, 0);
    const e = JSON.parse(text(c.entries[0]!));
    assert.equal(e.type, 'otlp.log/v1');
    assert.equal(e.submitter, WRITER.subject);
    assert.deepEqual(e.resource, { attributes: [{ key: 'service.name', value: { stringValue: 'my.service' } }] });
    assert.deepEqual(e.scope, { name: 'my.library', version: '1.0.0', attributes: [{ key: 'my.scope.attribute', value: { stringValue: 'some scope attribute' } }] });
    assert.equal(e.schemaUrl, undefined);
    const r = e.logRecord;
    assert.equal(r.timeUnixNano, '1544712660300000000');
    assert.equal(r.observedTimeUnixNano, '1544712660300000000');
    assert.equal(r.severityNumber, 10);
    assert.equal(r.severityText, 'Information');
    assert.equal(r.traceId, '5b8efff798038103d269b633813fc60c');
    assert.equal(r.spanId, 'eee19b7ec3c1b174');
    assert.deepEqual(r.body, { stringValue: 'Example log record' });
    assert.equal(r.attributes.length, 6);
    assert.deepEqual(r.attributes[2], { key: 'int.attribute', value: { intValue: '10' } });
    assert.deepEqual(r.attributes[3], { key: 'double.attribute', value: { doubleValue: 637.704 } });
    assert.deepEqual(r.attributes[5].value.kvlistValue.values[0], { key: 'some.map.key', value: { stringValue: 'some value' } });
    // RFC 8785: keys sorted, no whitespace.
    assert.ok(text(c.entries[0]!).startsWith('{"logRecord":{"attributes":[{"key":"string.attribute"'));
  });

  test('the same request as protobuf gives byte-identical entries', () => {
    const fromJson = entriesFromRequest(parseJsonRequest(FIXTURE), WRITER).entries;
    const fromProto = entriesFromRequest(decodeProtobufRequest(encodeRequest(JSON.parse(FIXTURE.toString('utf8')))), WRITER).entries;
    assert.deepEqual(fromProto.map(text), fromJson.map(text));
  });

  test('defaults, numbers for int64, -0, negative ints, bytes and NaN agree between JSON and protobuf', () => {
    const j: Json = {
      resourceLogs: [
        {
          schemaUrl: 'https://opentelemetry.io/schemas/1.21.0',
          scopeLogs: [
            {
              logRecords: [
                {
                  timeUnixNano: 1000,
                  severityNumber: 0,
                  severityText: '',
                  flags: 1,
                  droppedAttributesCount: 2,
                  body: { kvlistValue: { values: [{ key: 'n', value: { intValue: '-5' } }, { key: 'b', value: { bytesValue: 'AQID' } }, { key: 'z', value: { doubleValue: -0 } }, { key: 'e' }] } },
                  attributes: [{ key: 'nan', value: { doubleValue: 'NaN' } }, { key: 's', value: { stringValue: '' } }],
                },
              ],
            },
          ],
        },
      ],
    };
    const a = entriesFromRequest(normaliseJsonRequest(j), { subject: 'anonymous', authenticated: false }).entries.map(text);
    // protobufjs fromObject takes the double as a number.
    const pj = structuredClone(j);
    pj['resourceLogs'][0].scopeLogs[0].logRecords[0].attributes[0].value.doubleValue = NaN;
    const b = entriesFromRequest(decodeProtobufRequest(encodeRequest(pj)), { subject: 'anonymous', authenticated: false }).entries.map(text);
    assert.deepEqual(b, a);
    const e = JSON.parse(a[0]!);
    assert.equal(e.submitter, undefined);
    assert.equal(e.schemaUrl, 'https://opentelemetry.io/schemas/1.21.0');
    assert.deepEqual(e.scope, { name: '', version: '', attributes: [] });
    assert.equal(e.logRecord.timeUnixNano, '1000');
    assert.equal(e.logRecord.severityNumber, undefined);
    assert.equal(e.logRecord.severityText, undefined);
    assert.deepEqual(e.logRecord.body.kvlistValue.values, [{ key: 'n', value: { intValue: '-5' } }, { key: 'b', value: { bytesValue: 'AQID' } }, { key: 'z', value: { doubleValue: 0 } }, { key: 'e' }]);
    assert.deepEqual(e.logRecord.attributes, [{ key: 'nan', value: { doubleValue: 'NaN' } }, { key: 's', value: { stringValue: '' } }]);
  });

  test('malformed OTLP/JSON is refused with MALFORMED, never a crash', () => {
    const bad: unknown[] = [
      [],
      'x',
      { resourceLogs: {} },
      { resource_logs: [] },
      { resourceLogs: [{ scopeLogs: [{ logRecords: [{ traceId: 'not hex!' }] }] }] },
      { resourceLogs: [{ scopeLogs: [{ logRecords: [{ timeUnixNano: '1.5' }] }] }] },
      { resourceLogs: [{ scopeLogs: [{ logRecords: [{ severityNumber: 'SEVERITY_NUMBER_INFO' }] }] }] },
      { resourceLogs: [{ scopeLogs: [{ logRecords: [{ body: { stringValue: 'a', intValue: '1' } }] }] }] },
      { resourceLogs: [{ scopeLogs: [{ logRecords: [{ body: { intValue: '9223372036854775808' } }] }] }] },
    ];
    for (const b of bad) assert.throws(() => normaliseJsonRequest(b), (err: unknown) => err instanceof TlogError && err.code === 'MALFORMED', JSON.stringify(b));
    assert.throws(() => parseJsonRequest(Buffer.from('{')), (err: unknown) => err instanceof TlogError && err.code === 'MALFORMED');
    assert.throws(() => decodeProtobufRequest(Buffer.from([0x0a, 0xff, 0xff])), (err: unknown) => err instanceof TlogError && err.code === 'MALFORMED');
    // Unknown fields are ignored.
    assert.equal(entriesFromRequest(normaliseJsonRequest({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ eventName: 'x', futureField: 1 }] }] }] }), WRITER).entries.length, 1);
  });
});

// ---- HTTP ----

interface Fake {
  calls: { principal: Principal; entries: Uint8Array[] }[];
  fail?: TlogError;
}

function fakeDeps(fake: Fake) {
  return {
    ingest: {
      append: async (principal: Principal, entries: readonly Uint8Array[]) => {
        if (fake.fail !== undefined) throw fake.fail;
        fake.calls.push({ principal, entries: [...entries] });
        return entries.map((_e, i) => ({ leafIndex: BigInt(i), leafHash: new Uint8Array(32), duplicate: false }));
      },
    },
    auth: { writer: async () => WRITER },
  };
}

function bigRequest(): Json {
  const j = JSON.parse(FIXTURE.toString('utf8')) as Json;
  const records = j['resourceLogs'][0].scopeLogs[0].logRecords as Json[];
  records.push({ ...records[0], body: { stringValue: 'x'.repeat(70_000) } });
  return j;
}

describe('OTLP/HTTP POST /v1/logs', () => {
  const fake: Fake = { calls: [] };
  let server: Server;
  let url: string;

  before(async () => {
    const app = express();
    app.use(otlpLogsRoute({ ...fakeDeps(fake), maxBodyBytes: 1 << 20 }));
    server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/logs`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const post = (body: Uint8Array | string, headers: Record<string, string>) => fetch(url, { method: 'POST', body, headers });
  const expected = () => entriesFromRequest(parseJsonRequest(FIXTURE), WRITER).entries.map(text);

  test('JSON: 200 {} and the entries', async () => {
    fake.calls.length = 0;
    fake.fail = undefined;
    const res = await post(FIXTURE, { 'content-type': 'application/json' });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(await res.json(), {});
    assert.equal(fake.calls.length, 1);
    assert.deepEqual(fake.calls[0]!.entries.map(text), expected());
  });

  test('protobuf: 200 with an empty ExportLogsServiceResponse and the same entries', async () => {
    fake.calls.length = 0;
    const res = await post(encodeRequest(JSON.parse(FIXTURE.toString('utf8'))), { 'content-type': 'application/x-protobuf' });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/x-protobuf/);
    const body = Buffer.from(await res.arrayBuffer());
    const { Response } = otlpLogsTypes();
    assert.deepEqual(Response.toObject(Response.decode(body)), {});
    assert.deepEqual(fake.calls[0]!.entries.map(text), expected());
  });

  test('gzip bodies (JSON and protobuf)', async () => {
    fake.calls.length = 0;
    let res = await post(gzipSync(FIXTURE), { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    res = await post(gzipSync(encodeRequest(JSON.parse(FIXTURE.toString('utf8')))), { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    assert.equal(fake.calls.length, 2);
    assert.deepEqual(fake.calls[0]!.entries.map(text), expected());
    assert.deepEqual(fake.calls[1]!.entries.map(text), expected());
  });

  test('garbage: 400 with a google.rpc.Status in the request content type', async () => {
    let res = await post('{"resourceLogs":', { 'content-type': 'application/json' });
    assert.equal(res.status, 400);
    const s = (await res.json()) as Json;
    assert.equal(s['code'], 3);
    assert.equal(typeof s['message'], 'string');
    res = await post(Buffer.from([0x0a, 0xff, 0xff, 0xff]), { 'content-type': 'application/x-protobuf' });
    assert.equal(res.status, 400);
    assert.match(res.headers.get('content-type') ?? '', /^application\/x-protobuf/);
    const { Status } = rpcStatusTypes();
    const st = Status.toObject(Status.decode(Buffer.from(await res.arrayBuffer()))) as Json;
    assert.equal(st['code'], 3);
    res = await post(Buffer.from([1, 2, 3]), { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    assert.equal(res.status, 400);
    await res.arrayBuffer();
  });

  test('other content types: 415', async () => {
    const res = await post('hello', { 'content-type': 'text/plain' });
    assert.equal(res.status, 415);
    assert.equal(((await res.json()) as Json)['code'], 3);
  });

  test('too large: 413', async () => {
    const res = await post(Buffer.alloc((1 << 20) + 10, 0x20), { 'content-type': 'application/json' });
    assert.equal(res.status, 413);
    await res.arrayBuffer();
  });

  test('pushback: 503 + Retry-After; rate limited: 429 + Retry-After', async () => {
    fake.fail = new TlogError('PUSHBACK', 'the pool is full', { retryAfter: 2 });
    let res = await post(FIXTURE, { 'content-type': 'application/json' });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '2');
    const s = (await res.json()) as Json;
    assert.equal(s['code'], 14);
    assert.ok((s['details'] as Json[]).some((d) => d['@type'] === 'type.googleapis.com/google.rpc.RetryInfo' && d['retryDelay'] === '2s'));
    fake.fail = new TlogError('RATE_LIMITED', 'slow down');
    res = await post(encodeRequest(JSON.parse(FIXTURE.toString('utf8'))), { 'content-type': 'application/x-protobuf' });
    assert.equal(res.status, 429);
    assert.equal(res.headers.get('retry-after'), '1');
    await res.arrayBuffer();
    fake.fail = undefined;
  });

  test('an oversize record: 200 with partialSuccess, the other records appended', async () => {
    fake.calls.length = 0;
    let res = await post(JSON.stringify(bigRequest()), { 'content-type': 'application/json' });
    assert.equal(res.status, 200);
    const body = (await res.json()) as Json;
    assert.equal(body['partialSuccess']['rejectedLogRecords'], '1');
    assert.match(body['partialSuccess']['errorMessage'], /65535/);
    assert.equal(fake.calls[0]!.entries.length, 1);
    res = await post(encodeRequest(bigRequest()), { 'content-type': 'application/x-protobuf' });
    assert.equal(res.status, 200);
    const { Response } = otlpLogsTypes();
    const pr = Response.toObject(Response.decode(Buffer.from(await res.arrayBuffer())), { longs: String }) as Json;
    assert.equal(pr['partialSuccess']['rejectedLogRecords'], '1');
  });
});

// ---- gRPC ----

describe('OTLP/gRPC LogsService/Export', () => {
  const fake: Fake = { calls: [] };
  let server: grpc.Server;
  let client: grpc.Client & Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

  before(async () => {
    server = new grpc.Server();
    addOtlpLogsService(server, fakeDeps(fake));
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    const pkg = grpc.loadPackageDefinition(loadOtlpLogsPackage()) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    const Ctor = pkg.opentelemetry.proto.collector.logs.v1.LogsService as grpc.ServiceClientConstructor;
    client = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  });
  after(() => {
    client.close();
    server.forceShutdown();
  });

  const exportCall = (req: Json) =>
    new Promise<{ err: grpc.ServiceError | null; res: Json | undefined }>((resolve) => {
      const md = new grpc.Metadata();
      md.set('authorization', 'Bearer x');
      client['Export'](req, md, (err: grpc.ServiceError | null, res: Json | undefined) => resolve({ err, res }));
    });

  test('the fixture: OK, the same entries as OTLP/JSON', async () => {
    fake.calls.length = 0;
    const { err, res } = await exportCall(toProtoObject(JSON.parse(FIXTURE.toString('utf8'))));
    assert.equal(err, null);
    assert.equal(res?.['partialSuccess'], undefined);
    assert.deepEqual(fake.calls[0]!.entries.map(text), entriesFromRequest(parseJsonRequest(FIXTURE), WRITER).entries.map(text));
  });

  test('partial success for an oversize record', async () => {
    const { err, res } = await exportCall(toProtoObject(bigRequest()));
    assert.equal(err, null);
    assert.equal(res?.['partialSuccess']?.['rejectedLogRecords'], '1');
  });

  test('pushback: UNAVAILABLE with retry-after; rate limited: RESOURCE_EXHAUSTED', async () => {
    fake.fail = new TlogError('PUSHBACK', 'the pool is full');
    let { err } = await exportCall(toProtoObject(JSON.parse(FIXTURE.toString('utf8'))));
    assert.equal(err?.code, grpc.status.UNAVAILABLE);
    assert.equal(err?.metadata.get('retry-after')[0], '1');
    fake.fail = new TlogError('RATE_LIMITED', 'slow down', { retryAfter: 3 });
    ({ err } = await exportCall(toProtoObject(JSON.parse(FIXTURE.toString('utf8')))));
    assert.equal(err?.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal(err?.metadata.get('retry-after')[0], '3');
    fake.fail = undefined;
  });

  test('a malformed message: INVALID_ARGUMENT', async () => {
    const { err } = await new Promise<{ err: grpc.ServiceError | null }>((resolve) => {
      client.makeUnaryRequest(
        '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from([0x0a, 0xff, 0xff, 0xff]),
        (e: grpc.ServiceError | null) => resolve({ err: e }),
      );
    });
    assert.equal(err?.code, grpc.status.INVALID_ARGUMENT);
  });
});
