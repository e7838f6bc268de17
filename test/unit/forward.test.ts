/**
 * Unit tests of server/forward.ts (issue #11): the forward token, the strict parsing of forwarded writes, and the
 * Forwarder against a tiny leader (node:http on 127.0.0.1 port 0) that answers what each test wants.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import { TlogError } from '../../server/core/errors.js';
import { newEd25519Signer } from '../../server/core/keys.js';
import { encodeBase64 } from '../../server/core/strict.js';
import {
  FORWARD_PATH,
  Forwarder,
  LeaderUnreachable,
  checkForwardAuthorization,
  decodeForwardRequest,
  encodeForwardRequest,
  encodeForwardResults,
  forwardToken,
} from '../../server/forward.js';

const ORIGIN = 'example.com/log';
const signer = newEd25519Signer(ORIGIN, new Uint8Array(32).fill(1));
const TOKEN = forwardToken(signer, ORIGIN);

/** Asserts that `fn` throws (or rejects with) a TlogError of `code`; returns it. */
async function rejectsWith(fn: () => unknown, code: string): Promise<TlogError> {
  let caught: unknown;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof TlogError, `want TlogError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

const hash = (b: number) => new Uint8Array(32).fill(b);

describe('forwardToken', () => {
  test('deterministic per key and origin, different across keys and origins', () => {
    assert.equal(forwardToken(signer, ORIGIN), TOKEN);
    assert.equal(forwardToken(newEd25519Signer(ORIGIN, new Uint8Array(32).fill(1)), ORIGIN), TOKEN);
    const otherKey = forwardToken(newEd25519Signer(ORIGIN, new Uint8Array(32).fill(2)), ORIGIN);
    const otherOrigin = forwardToken(signer, 'example.com/other');
    assert.notEqual(otherKey, TOKEN);
    assert.notEqual(otherOrigin, TOKEN);
    assert.notEqual(otherKey, otherOrigin);
    assert.match(TOKEN, /^[A-Za-z0-9_-]{86}$/, 'base64url of a 64-byte Ed25519 signature');
  });
});

describe('checkForwardAuthorization', () => {
  test('accepts exactly the token under its scheme', () => {
    assert.equal(checkForwardAuthorization(`Tilelog-Forward ${TOKEN}`, TOKEN), true);
  });
  test('rejects missing, other schemes, wrong, truncated and extended tokens', () => {
    const bad = [
      undefined,
      '',
      'Tilelog-Forward',
      'Tilelog-Forward ',
      TOKEN,
      `Bearer ${TOKEN}`,
      `Basic ${TOKEN}`,
      `Tilelog-Forward  ${TOKEN}`,
      `Tilelog-Forward ${forwardToken(signer, 'example.com/other')}`,
      `Tilelog-Forward ${TOKEN.slice(0, -1)}`,
      `Tilelog-Forward ${TOKEN.slice(1)}`,
      `Tilelog-Forward ${TOKEN}A`,
      `Tilelog-Forward ${TOKEN} `,
      `Tilelog-Forward ${TOKEN.slice(0, -1)}${TOKEN.endsWith('A') ? 'B' : 'A'}`,
    ];
    for (const h of bad) assert.equal(checkForwardAuthorization(h, TOKEN), false, JSON.stringify(h));
  });
});

describe('decodeForwardRequest', () => {
  const e = encodeBase64(new Uint8Array([1, 2, 3]));
  const id = encodeBase64(hash(7));

  test('accepts entries alone, entries with identities, null identities', () => {
    assert.deepEqual(decodeForwardRequest({ entries: [e, ''] }), { entries: [new Uint8Array([1, 2, 3]), new Uint8Array(0)], identities: undefined });
    const d = decodeForwardRequest({ entries: [e, e], identities: [id, null] });
    assert.deepEqual(d.identities, [hash(7), undefined]);
  });

  test('refuses anything else as MALFORMED', async () => {
    const bad: unknown[] = [
      null,
      undefined,
      1,
      'entries',
      [],
      [e],
      {},
      { entries: e },
      { entries: null },
      { entries: { 0: e, length: 1 } },
      { entries: [1] },
      { entries: [null] },
      { entries: ['!!!!'] },
      { entries: ['AQID\n'] },
      { entries: ['AQI'] }, // unpadded
      { entries: ['AQ-_'] }, // base64url
      { entries: ['AB=='] }, // decodes, but re-encodes as AA==
      { entries: ['AQ=='.replace('=', '')] },
      { entries: [e], identities: id },
      { entries: [e], identities: null },
      { entries: [e], identities: [] },
      { entries: [e], identities: [id, id] },
      { entries: [e, e], identities: [id] },
      { entries: [e], identities: [1] },
      { entries: [e], identities: [encodeBase64(new Uint8Array(31))] },
      { entries: [e], identities: [encodeBase64(new Uint8Array(33))] },
      { entries: [e], identities: [''] },
      { entries: [e], identities: ['AB' + id.slice(2, -2) + '=='] },
    ];
    for (const b of bad) await rejectsWith(() => decodeForwardRequest(b), 'MALFORMED');
  });

  test('property: encode → JSON → decode round-trips entries and identities', () => {
    const identity = fc.option(fc.uint8Array({ minLength: 32, maxLength: 32 }), { nil: undefined });
    const request = fc.array(fc.tuple(fc.uint8Array({ maxLength: 300 }), identity), { maxLength: 20 });
    fc.assert(
      fc.property(request, fc.boolean(), (items, withIdentities) => {
        const entries = items.map(([b]) => b);
        const identities = withIdentities ? items.map(([, h]) => h) : undefined;
        const d = decodeForwardRequest(JSON.parse(encodeForwardRequest(entries, identities)));
        assert.deepEqual(d.entries.map((x) => Buffer.from(x)), entries.map((x) => Buffer.from(x)));
        if (identities === undefined) assert.equal(d.identities, undefined);
        else assert.deepEqual(d.identities?.map((x) => (x === undefined ? undefined : Buffer.from(x))), identities.map((x) => (x === undefined ? undefined : Buffer.from(x))));
      }),
      { numRuns: 200 },
    );
  });

  test('encodeForwardResults: leafIndex as a decimal string (2^63-1 exact)', () => {
    const max = (1n << 63n) - 1n;
    const text = encodeForwardResults([{ leafIndex: max, leafHash: hash(1), duplicate: true }]);
    assert.deepEqual(JSON.parse(text), { results: [{ leafIndex: '9223372036854775807', leafHash: encodeBase64(hash(1)), duplicate: true }] });
  });
});

describe('Forwarder (against a test leader on 127.0.0.1)', () => {
  type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;
  let server: Server;
  let url: string;
  let handler: Handler;
  let received: { method: string | undefined; path: string | undefined; authorization: string | undefined; contentType: string | undefined; body: string }[];

  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        received.push({ method: req.method, path: req.url, authorization: req.headers.authorization, contentType: req.headers['content-type'], body });
        handler(req, body, res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  beforeEach(() => {
    received = [];
    handler = (_req, _body, res) => res.writeHead(500).end();
  });

  const json = (status: number, body: unknown, headers: Record<string, string> = {}): Handler => (_req, _b, res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(typeof body === 'string' ? body : JSON.stringify(body));
  };
  const result = (leafIndex: string, b = 1, duplicate = false) => ({ leafIndex, leafHash: encodeBase64(hash(b)), duplicate });

  test('200: the request carries the token and body; results parsed (bigint leafIndex up to 2^63-1)', async () => {
    handler = json(200, { results: [result('0', 1), result('9223372036854775807', 2, true)] });
    let counted = 0;
    const f = new Forwarder(TOKEN, 5000, (n) => (counted += n));
    const entries = [new Uint8Array([1]), new Uint8Array([2, 2])];
    const identities = [undefined, hash(9)];
    const r = await f.add(url, entries, identities);
    assert.deepEqual(r, [
      { leafIndex: 0n, leafHash: hash(1), duplicate: false },
      { leafIndex: (1n << 63n) - 1n, leafHash: hash(2), duplicate: true },
    ]);
    assert.equal(counted, 2);
    const got = received[0];
    assert.ok(got !== undefined);
    assert.equal(got.method, 'POST');
    assert.equal(got.path, FORWARD_PATH);
    assert.equal(checkForwardAuthorization(got.authorization, TOKEN), true);
    assert.match(got.contentType ?? '', /^application\/json/);
    const d = decodeForwardRequest(JSON.parse(got.body));
    assert.deepEqual(d.entries.map((x) => Buffer.from(x)), entries.map((x) => Buffer.from(x)));
    assert.deepEqual(d.identities?.map((x) => (x === undefined ? undefined : Buffer.from(x))), [undefined, Buffer.from(hash(9))]);
  });

  test('the leader\'s error: same code, message and Retry-After', async () => {
    const f = new Forwarder(TOKEN, 5000);
    handler = json(503, { error: { code: 'NOT_LEADER', message: 'this frontend does not lead; retry' } }, { 'retry-after': '3' });
    const e1 = await rejectsWith(() => f.add(url, [new Uint8Array([1])]), 'NOT_LEADER');
    assert.equal(e1.message, 'this frontend does not lead; retry');
    assert.equal(e1.retryAfter, 3);
    handler = json(429, { error: { code: 'RATE_LIMITED', message: 'slow down' } }, { 'retry-after': '7' });
    assert.equal((await rejectsWith(() => f.add(url, [new Uint8Array([1])]), 'RATE_LIMITED')).retryAfter, 7);
    handler = json(413, { error: { code: 'TOO_LARGE', message: 'too many' } });
    assert.equal((await rejectsWith(() => f.add(url, [new Uint8Array([1])]), 'TOO_LARGE')).retryAfter, undefined);
  });

  test('an error body without a code of the error table → UNAVAILABLE (never a crash)', async () => {
    const f = new Forwarder(TOKEN, 5000);
    for (const body of [{ error: { code: 'BOGUS' } }, { error: { code: 'constructor' } }, { error: { code: 'toString', message: 1 } }, { error: { code: '__proto__' } }, { error: null }, {}, null, 5, 'x', []]) {
      handler = json(503, body);
      const e = await rejectsWith(() => f.add(url, [new Uint8Array([1])]), 'UNAVAILABLE');
      assert.equal(typeof e.message, 'string');
    }
  });

  test('a non-JSON answer (a proxy\'s 502) → UNAVAILABLE with Retry-After', async () => {
    handler = (_req, _b, res) => res.writeHead(502, { 'content-type': 'text/html' }).end('<html>Bad Gateway</html>');
    const e = await rejectsWith(() => new Forwarder(TOKEN, 5000).add(url, [new Uint8Array([1])]), 'UNAVAILABLE');
    assert.ok((e.retryAfter ?? 0) > 0);
  });

  test('200 with the wrong number of results, or no results → INTERNAL', async () => {
    const f = new Forwarder(TOKEN, 5000);
    for (const body of [{ results: [] }, { results: [result('0'), result('1')] }, {}, null, { results: 'x' }]) {
      handler = json(200, body);
      await rejectsWith(() => f.add(url, [new Uint8Array([1])]), 'INTERNAL');
    }
  });

  test('200 with a malformed result → INTERNAL (never MALFORMED: the client\'s request was fine)', async () => {
    let counted = 0;
    const f = new Forwarder(TOKEN, 5000, (n) => (counted += n));
    const bad: unknown[] = [
      result('01'),
      result('-1'),
      result('1e3'),
      result('+1'),
      result(' 1'),
      result(''),
      result('9223372036854775808'), // 2^63
      result('9999999999999999999'),
      result('18446744073709551616'),
      { leafIndex: 1, leafHash: encodeBase64(hash(1)), duplicate: false },
      { leafIndex: '1', leafHash: encodeBase64(new Uint8Array(31)), duplicate: false },
      { leafIndex: '1', leafHash: 'not base64', duplicate: false },
      { leafIndex: '1', leafHash: encodeBase64(hash(1)), duplicate: 'false' },
      { leafIndex: '1', leafHash: encodeBase64(hash(1)) },
      null,
      'x',
    ];
    for (const r of bad) {
      handler = json(200, { results: [r] });
      await rejectsWith(() => f.add(url, [new Uint8Array([1])]), 'INTERNAL');
    }
    assert.equal(counted, 0, 'nothing counted as forwarded when the answer is malformed');
  });

  test('connection refused (nobody listens) → LeaderUnreachable', async () => {
    const s = createServer();
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    const closed = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
    await new Promise<void>((resolve) => s.close(() => resolve()));
    await assert.rejects(new Forwarder(TOKEN, 5000).add(closed, [new Uint8Array([1])]), (err: unknown) => err instanceof LeaderUnreachable && err.url === closed);
  });

  test('the leader changed while the old one hangs → LeaderUnreachable promptly', async () => {
    handler = () => {}; // never answers
    const changed = new AbortController();
    const t0 = performance.now();
    const p = new Forwarder(TOKEN, 30_000).add(url, [new Uint8Array([1])], undefined, changed.signal);
    setTimeout(() => changed.abort(), 100);
    await assert.rejects(p, (err: unknown) => err instanceof LeaderUnreachable);
    const took = performance.now() - t0;
    assert.ok(took < 5000, `took ${took} ms`);
    assert.equal(received.length, 1, 'the request reached the (hanging) leader');
  });

  test('no answer within the timeout → UNAVAILABLE (the outcome is unknown; not retried elsewhere)', async () => {
    handler = () => {};
    const t0 = performance.now();
    const e = await rejectsWith(() => new Forwarder(TOKEN, 300).add(url, [new Uint8Array([1])], undefined, new AbortController().signal), 'UNAVAILABLE');
    assert.ok((e.retryAfter ?? 0) > 0);
    assert.ok(performance.now() - t0 < 5000);
  });
});
