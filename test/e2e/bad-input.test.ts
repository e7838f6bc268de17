/**
 * End-to-end: bad requests against the real server process. Each row of the table names a request and the status
 * and error code it must get; every reply must be the JSON error body `{"error":{"code","message"}}`, never a 5xx,
 * and the server must stay healthy (and log no error) afterwards.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { leafHash } from '../../server/core/hash.js';
import { encodeBase64, encodeHex } from '../../server/core/strict.js';
import { fetchCheckpoint, postEntries, request, waitForCheckpoint } from '../support/http-tiles.js';
import { cleanupAll, startServer, type ServerProcess } from '../support/server-process.js';

after(cleanupAll);

/** Entries seeded before the table runs (so that indexes 0..SEEDED-1 exist). */
const SEEDED = 10;
const MAX_BODY = 1024 * 1024;

interface Case {
  readonly name: string;
  readonly method?: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: Uint8Array | string;
  readonly status: number;
  readonly code: string;
  /** The `Allow` header a 405 must carry. */
  readonly allow?: string;
  /** A pattern the message must match. */
  readonly message?: RegExp;
}

const seedEntry = (i: number) => Buffer.from(`seed entry ${i}`);
const knownHash = leafHash(seedEntry(3));
const knownHex = encodeHex(knownHash);
const knownB64 = encodeBase64(knownHash);
/** A base64 string that decodes to the same 32 bytes but is not the canonical encoding (non-zero padding bits). */
function nonCanonicalBase64(s: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (const c of alphabet) {
    const t = s.slice(0, 42) + c + '=';
    if (t !== s && Buffer.from(t, 'base64').equals(Buffer.from(s, 'base64'))) return t;
  }
  throw new Error('no non-canonical variant');
}
const unknownHex = encodeHex(leafHash(Buffer.from('never submitted')));

const OCTET = { 'content-type': 'application/octet-stream' };
const JSON_CT = { 'content-type': 'application/json' };
const NDJSON = { 'content-type': 'application/x-ndjson' };
const q = encodeURIComponent;

const CASES: Case[] = [
  // Malformed tile paths.
  ...['/tile/0/0000', '/tile/00/000', '/tile/0/x000/001', '/tile/64/000', '/tile/0/000.p/0', '/tile/0/000.p/256', '/tile/0/000.p/007', '/tile/entries/abc', '/tile/0/-1', '/tile/0/00', '/tile/0/000/', '/tile/0/x1/000', '/tile/01/000', '/tile/0/000.p/', '/tile/0/000.p/1/2', '/tile/entries/000.p/256', '/tile/0/x9223372036854775808/000', '/tile/0/x009/x223/x372/x036/x854/x775/808', `/tile/0/${'x000/'.repeat(50)}001`, '/tile/0/000.p/-1', '/tile/0/1e3'].map(
    (path): Case => ({ name: `malformed tile path ${path.slice(0, 40)}`, path, status: 400, code: 'MALFORMED' }),
  ),
  // Unknown paths.
  ...['/', '/nope', '/v1', '/v1/entries/0/extra', '/v2/log', '/tile', '/checkpoints', '/v1/proof', '/v1/proof/audit', '/.well-known/security.txt', '/metrics/x'].map(
    (path): Case => ({ name: `unknown path ${path}`, path, status: 404, code: 'NOT_FOUND' }),
  ),
  // Wrong methods: 405 with Allow.
  { name: 'PUT /checkpoint', method: 'PUT', path: '/checkpoint', body: 'x', status: 405, code: 'METHOD_NOT_ALLOWED', allow: 'GET, HEAD' },
  { name: 'POST /tile/0/000', method: 'POST', path: '/tile/0/000', body: 'x', status: 405, code: 'METHOD_NOT_ALLOWED', allow: 'GET, HEAD' },
  { name: 'DELETE /tile/entries/000', method: 'DELETE', path: '/tile/entries/000', status: 405, code: 'METHOD_NOT_ALLOWED', allow: 'GET, HEAD' },
  { name: 'GET /v1/entries', path: '/v1/entries', status: 405, code: 'METHOD_NOT_ALLOWED', allow: 'POST' },
  { name: 'PUT /v1/entries', method: 'PUT', path: '/v1/entries', headers: OCTET, body: 'x', status: 405, code: 'METHOD_NOT_ALLOWED', allow: 'POST' },
  { name: 'POST /v1/entries/0', method: 'POST', path: '/v1/entries/0', headers: OCTET, body: 'x', status: 405, code: 'METHOD_NOT_ALLOWED', allow: 'GET, HEAD' },
  { name: 'POST /v1/proof/inclusion', method: 'POST', path: '/v1/proof/inclusion?index=0', status: 405, code: 'METHOD_NOT_ALLOWED', allow: 'GET, HEAD' },
  { name: 'DELETE /v1/proof/consistency', method: 'DELETE', path: '/v1/proof/consistency?from=1', status: 405, code: 'METHOD_NOT_ALLOWED', allow: 'GET, HEAD' },
  { name: 'POST /v1/log', method: 'POST', path: '/v1/log', status: 405, code: 'METHOD_NOT_ALLOWED', allow: 'GET, HEAD' },
  { name: 'POST /healthz', method: 'POST', path: '/healthz', status: 405, code: 'METHOD_NOT_ALLOWED', allow: 'GET, HEAD' },
  { name: 'DELETE /metrics', method: 'DELETE', path: '/metrics', status: 405, code: 'METHOD_NOT_ALLOWED', allow: 'GET, HEAD' },
  // Too large.
  { name: 'an entry of 65,536 bytes', method: 'POST', path: '/v1/entries', headers: OCTET, body: new Uint8Array(65_536).fill(0x61), status: 413, code: 'TOO_LARGE', message: /65,?535/ },
  { name: 'a JSON entry whose canonical form is 65,536 bytes', method: 'POST', path: '/v1/entries', headers: JSON_CT, body: JSON.stringify(['a'.repeat(65_534)]), status: 413, code: 'TOO_LARGE', message: /65,?535/ },
  { name: 'an NDJSON line over 65,535 bytes among good ones', method: 'POST', path: '/v1/entries', headers: NDJSON, body: `{"ok":1}\n${JSON.stringify({ big: 'b'.repeat(70_000) })}\n`, status: 413, code: 'TOO_LARGE', message: /65,?535/ },
  { name: 'a body over --max-body', method: 'POST', path: '/v1/entries', headers: OCTET, body: new Uint8Array(MAX_BODY + 1), status: 413, code: 'TOO_LARGE' },
  { name: 'a gzip body that inflates over --max-body', method: 'POST', path: '/v1/entries', headers: { ...OCTET, 'content-encoding': 'gzip' }, body: gzipSync(new Uint8Array(4 * MAX_BODY)), status: 413, code: 'TOO_LARGE' },
  // Content types and encodings.
  { name: 'unsupported content type', method: 'POST', path: '/v1/entries', headers: { 'content-type': 'text/plain' }, body: 'hello', status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  { name: 'form content type', method: 'POST', path: '/v1/entries', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=b', status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  { name: 'missing content type', method: 'POST', path: '/v1/entries', body: new Uint8Array([1, 2, 3]), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  { name: 'invalid JSON', method: 'POST', path: '/v1/entries', headers: JSON_CT, body: '{"a":', status: 400, code: 'MALFORMED' },
  { name: 'empty JSON body', method: 'POST', path: '/v1/entries', headers: JSON_CT, body: '', status: 400, code: 'MALFORMED' },
  { name: 'empty JSON array', method: 'POST', path: '/v1/entries', headers: JSON_CT, body: '[]', status: 400, code: 'MALFORMED' },
  { name: 'JSON that is not UTF-8', method: 'POST', path: '/v1/entries', headers: JSON_CT, body: new Uint8Array([0x22, 0xff, 0xfe, 0x22]), status: 400, code: 'MALFORMED' },
  { name: 'invalid NDJSON line', method: 'POST', path: '/v1/entries', headers: NDJSON, body: '{"a":1}\n{"b":\n{"c":3}\n', status: 400, code: 'MALFORMED', message: /line 2/ },
  { name: 'NDJSON with no entries', method: 'POST', path: '/v1/entries', headers: NDJSON, body: '\n  \n\r\n', status: 400, code: 'MALFORMED' },
  // JSON that parses but has no RFC 8785 canonical form (a number outside IEEE 754 doubles), or that nests too deeply
  // to canonicalize: the client's mistake, so 400 (or 413), never 500.
  { name: 'JSON number out of double range', method: 'POST', path: '/v1/entries', headers: JSON_CT, body: '{"a":1e400}', status: 400, code: 'MALFORMED' },
  { name: 'NDJSON line with a number out of double range', method: 'POST', path: '/v1/entries', headers: NDJSON, body: '{"a":1}\n[-1e999]\n', status: 400, code: 'MALFORMED' },
  { name: 'JSON nested 5,000 deep (10 kB)', method: 'POST', path: '/v1/entries', headers: JSON_CT, body: '['.repeat(5000) + ']'.repeat(5000), status: 400, code: 'MALFORMED' },
  { name: 'corrupt gzip body', method: 'POST', path: '/v1/entries', headers: { ...OCTET, 'content-encoding': 'gzip' }, body: 'this is not gzip', status: 400, code: 'MALFORMED' },
  { name: 'truncated gzip body', method: 'POST', path: '/v1/entries', headers: { ...NDJSON, 'content-encoding': 'gzip' }, body: gzipSync(Buffer.from('{"a":1}\n'.repeat(100))).subarray(0, 20), status: 400, code: 'MALFORMED' },
  { name: 'unsupported Content-Encoding', method: 'POST', path: '/v1/entries', headers: { ...OCTET, 'content-encoding': 'compress' }, body: 'x', status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  { name: 'bad wait value', method: 'POST', path: '/v1/entries?wait=forever', headers: OCTET, body: 'x', status: 400, code: 'MALFORMED' },
  { name: 'unknown query parameter on POST', method: 'POST', path: '/v1/entries?sync=1', headers: OCTET, body: 'x', status: 400, code: 'MALFORMED' },
  // Inclusion proof queries.
  ...['index=01', 'index=-1', 'index=1e3', 'index=', 'index=99999999999999999999', 'index=9223372036854775808', 'index=+1', 'index=%201', 'index=0x1', 'index=1.0', 'index=0&treesize=1', 'index=0&index=0', 'index=0&index=1', 'index=0&treeSize=01', 'index=0&treeSize=', 'index=0&format=xml', 'foo=bar', ''].map(
    (qs): Case => ({ name: `inclusion ?${qs}`, path: `/v1/proof/inclusion?${qs}`, status: 400, code: 'MALFORMED' }),
  ),
  ...[
    ['leafHash wrong length (hex)', knownHex.slice(0, 62)],
    ['leafHash wrong length (66 hex)', knownHex + '00'],
    ['leafHash non-canonical base64', q(nonCanonicalBase64(knownB64))],
    ['leafHash unpadded base64', q(knownB64.slice(0, -1))],
    ['leafHash base64url', q(knownB64.replace(/\+/g, '-').replace(/\//g, '_'))],
    ['leafHash base64 with raw +', knownB64.includes('+') ? knownB64 : knownB64.replace(/^./, '+')],
    ['leafHash uppercase hex', knownHex.toUpperCase()],
    ['leafHash of 31 bytes', q(Buffer.alloc(31, 1).toString('base64'))],
    ['leafHash empty', ''],
    ['index and leafHash disagree', `${knownHex}&index=4`],
  ].map(([name, v]): Case => ({ name: `inclusion ${name}`, path: `/v1/proof/inclusion?leafHash=${v}`, status: 400, code: 'MALFORMED' })),
  { name: 'tlog-proof at an older size', path: '/v1/proof/inclusion?index=0&treeSize=5&format=tlog-proof', status: 400, code: 'MALFORMED' },
  { name: 'inclusion: index beyond the tree', path: `/v1/proof/inclusion?index=${SEEDED}`, status: 404, code: 'OUT_OF_RANGE' },
  { name: 'inclusion: huge index', path: '/v1/proof/inclusion?index=9223372036854775807', status: 404, code: 'OUT_OF_RANGE' },
  { name: 'inclusion: treeSize beyond the tree', path: `/v1/proof/inclusion?index=0&treeSize=${SEEDED + 1}`, status: 404, code: 'OUT_OF_RANGE' },
  { name: 'inclusion: index not in the older tree', path: '/v1/proof/inclusion?index=5&treeSize=3', status: 404, code: 'OUT_OF_RANGE' },
  { name: 'inclusion: treeSize 0', path: '/v1/proof/inclusion?index=0&treeSize=0', status: 404, code: 'OUT_OF_RANGE' },
  { name: 'inclusion: unknown leafHash', path: `/v1/proof/inclusion?leafHash=${unknownHex}`, status: 404, code: 'NOT_FOUND' },
  // Consistency proof queries.
  { name: 'consistency: from > to', path: '/v1/proof/consistency?from=5&to=3', status: 400, code: 'MALFORMED' },
  { name: 'consistency: from beyond the published size', path: `/v1/proof/consistency?from=${SEEDED + 1}`, status: 400, code: 'MALFORMED' },
  { name: 'consistency: to beyond the tree', path: `/v1/proof/consistency?from=1&to=${SEEDED + 1}`, status: 404, code: 'OUT_OF_RANGE' },
  { name: 'consistency: to far beyond the tree', path: '/v1/proof/consistency?from=1&to=9223372036854775807', status: 404, code: 'OUT_OF_RANGE' },
  ...['', 'from=', 'from=01', 'from=-1', 'from=1e3', 'from=1&from=1', 'from=1&To=2', 'from=1&to=', 'from=1&to=02', 'from=99999999999999999999', 'to=3'].map(
    (qs): Case => ({ name: `consistency ?${qs}`, path: `/v1/proof/consistency?${qs}`, status: 400, code: 'MALFORMED' }),
  ),
  // Entries by index.
  ...['abc', '01', '-1', '1e3', '0x1', '99999999999999999999', '1.0'].map((i): Case => ({ name: `GET /v1/entries/${i}`, path: `/v1/entries/${i}`, status: 400, code: 'MALFORMED' })),
  { name: 'GET /v1/entries/ with a bad percent-escape', path: '/v1/entries/%E0%A4%A', status: 400, code: 'MALFORMED' },
  { name: 'GET /v1/entries/0 with a query', path: '/v1/entries/0?x=1', status: 400, code: 'MALFORMED' },
  { name: 'GET /v1/entries beyond the tree', path: `/v1/entries/${SEEDED}`, status: 404, code: 'OUT_OF_RANGE' },
  { name: 'GET /v1/log with a query', path: '/v1/log?verbose=1', status: 400, code: 'MALFORMED' },
  // Tiles beyond the tree (well-formed paths).
  { name: 'a tile beyond the tree', path: '/tile/0/001', status: 404, code: 'NOT_FOUND' },
  { name: 'a partial tile wider than the tree', path: `/tile/0/000.p/${SEEDED + 1}`, status: 404, code: 'NOT_FOUND' },
  { name: 'the full tile of a partial edge', path: '/tile/0/000', status: 404, code: 'NOT_FOUND' },
  { name: 'a level-1 tile of a small tree', path: '/tile/1/000.p/1', status: 404, code: 'NOT_FOUND' },
  { name: 'a bundle beyond the tree', path: '/tile/entries/x001/000', status: 404, code: 'NOT_FOUND' },
];

let server: ServerProcess;

describe('bad input', () => {
  before(async () => {
    server = await startServer({ maxBody: '1MiB', checkpointInterval: '100ms', batchDelay: '5ms' });
    // Seed with octet-stream entries so that leaf hashes are easy to compute here.
    for (let i = 0; i < SEEDED; i++) {
      const r = await postEntries(server.baseUrl, seedEntry(i), OCTET);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.entries[0]?.index, BigInt(i));
    }
    await waitForCheckpoint(server.baseUrl, server.vkey, BigInt(SEEDED));
  });

  for (const c of CASES) {
    test(`${c.name} → ${c.status} ${c.code}`, async () => {
      const init: RequestInit = { method: c.method ?? 'GET' };
      if (c.headers !== undefined) init.headers = c.headers;
      if (c.body !== undefined) init.body = c.body;
      const r = await request(server.baseUrl + c.path, init);
      const text = r.body.toString('utf8');
      const what = `${init.method} ${c.path.slice(0, 120)} → ${r.status} ${text.slice(0, 300)}`;
      assert.ok(r.status < 500, `never a 5xx: ${what}`);
      assert.equal(r.status, c.status, what);
      assert.match(r.headers.get('content-type') ?? '', /^application\/json(;|$)/, what);
      const json = JSON.parse(text) as { error: { code: string; message: string } };
      assert.deepEqual(Object.keys(json), ['error'], what);
      assert.deepEqual(Object.keys(json.error).sort(), ['code', 'message'], what);
      assert.equal(json.error.code, c.code, what);
      assert.equal(typeof json.error.message, 'string');
      assert.ok(json.error.message.length > 0, what);
      if (c.message !== undefined) assert.match(json.error.message, c.message, what);
      if (c.allow !== undefined) assert.equal(r.headers.get('allow'), c.allow, what);
    });
  }

  test('the boundary cases are accepted: an entry of exactly 65,535 bytes, a body of exactly --max-body', async () => {
    const max = new Uint8Array(65_535).fill(0x62);
    const r = await postEntries(server.baseUrl, max, OCTET);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.entries[0]?.index, BigInt(SEEDED));
    // NDJSON of many small lines, exactly MAX_BODY bytes in total.
    const line = (i: number) => JSON.stringify({ i, pad: '' });
    const lines: string[] = [];
    let total = 0;
    for (let i = 0; total + line(i).length + 1 <= MAX_BODY - 200; i++) {
      lines.push(line(i));
      total += line(i).length + 1;
    }
    let body = lines.join('\n') + '\n';
    body += JSON.stringify({ last: 'x'.repeat(MAX_BODY - body.length - 15) });
    body += '\n'.repeat(MAX_BODY - Buffer.byteLength(body));
    assert.equal(Buffer.byteLength(body), MAX_BODY);
    const r2 = await postEntries(server.baseUrl, body, NDJSON, '', 30_000);
    assert.equal(r2.status, 200, r2.text.slice(0, 300));
    assert.equal(r2.entries.length, lines.length + 1);
  });

  test('after all that the server is healthy, ready, consistent, and logged no error', async () => {
    assert.equal((await request(`${server.baseUrl}/healthz`)).status, 200);
    assert.equal((await request(`${server.baseUrl}/readyz`)).status, 200);
    const cp = await fetchCheckpoint(server.baseUrl, server.vkey);
    assert.ok(cp.treeSize >= BigInt(SEEDED));
    const ok = await postEntries(server.baseUrl, Buffer.from('still accepting'), OCTET);
    assert.equal(ok.status, 200, ok.text);
    await server.stop(); // SIGTERM → exit 0
    const errors = server.errorRecords().map((r) => `${String(r['msg'])}: ${JSON.stringify(r['err'] ?? {}).slice(0, 160)}`);
    assert.deepEqual(errors, [], 'no error-level log lines');
  });
});
