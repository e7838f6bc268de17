/**
 * The leader's internal sequencing route (server/http/internal-routes.ts, issue #11) end to end without S3: a Log
 * on MemoryStorage without leadership (so `addLocal` sequences), behind the real HTTP handler on 127.0.0.1.
 * The route exists only when a forward token is configured.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { Authenticator } from '../../server/auth.js';
import { leafHash } from '../../server/core/hash.js';
import { newEd25519Signer } from '../../server/core/keys.js';
import { encodeBase64 } from '../../server/core/strict.js';
import { FORWARD_PATH, Forwarder, encodeForwardRequest, forwardToken } from '../../server/forward.js';
import { createHttpHandler } from '../../server/http/app.js';
import { Ingest } from '../../server/ingest.js';
import { Log } from '../../server/log.js';
import { Metrics } from '../../server/metrics.js';
import { MemoryStorage } from '../../server/storage/memory-storage.js';

const ORIGIN = 'example.com/internal-route-test';
const MAX_BODY = 64 * 1024;

interface Running {
  log: Log;
  server: Server;
  url: string;
}

async function start(token: string | undefined): Promise<Running> {
  const signer = newEd25519Signer(ORIGIN, new Uint8Array(32).fill(5));
  const log = await Log.open({ storage: new MemoryStorage(), signer, origin: ORIGIN, sequencer: { batchSize: 64, batchDelayMs: 2, maxPending: 10_000 }, checkpointIntervalMs: 100 });
  const metrics = new Metrics();
  const handler = createHttpHandler(
    log,
    { metrics, logger: pino({ level: 'silent' }), auth: new Authenticator(undefined), ingest: new Ingest(log, undefined, metrics) },
    { maxBodyBytes: MAX_BODY, maxCheckpointAgeMs: 5000, ...(token !== undefined ? { forwardToken: token } : {}) },
  );
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { log, server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function stop(r: Running): Promise<void> {
  r.server.closeAllConnections();
  await new Promise<void>((resolve) => r.server.close(() => resolve()));
  await r.log.drain();
  await r.log.close();
}

/** The JSON error body of the one error table; asserts its shape and code. */
async function errorOf(res: Response, status: number, code: string): Promise<void> {
  assert.equal(res.status, status);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  const body = (await res.json()) as { error?: { code?: unknown; message?: unknown } };
  assert.equal(body.error?.code, code);
  assert.equal(typeof body.error?.message, 'string');
}

const TOKEN = forwardToken(newEd25519Signer(ORIGIN, new Uint8Array(32).fill(5)), ORIGIN);
const auth = (t = TOKEN) => ({ authorization: `Tilelog-Forward ${t}`, 'content-type': 'application/json' });

describe('POST /internal/v1/sequence with a forward token', () => {
  let r: Running;
  before(async () => {
    r = await start(TOKEN);
  });
  after(async () => {
    await stop(r);
  });
  const post = (body: string | Uint8Array, headers: Record<string, string>) => fetch(r.url + FORWARD_PATH, { method: 'POST', headers, body });

  test('without, or with a wrong, Authorization → 401 JSON error; nothing sequenced', async () => {
    const body = encodeForwardRequest([new Uint8Array([1])]);
    await errorOf(await post(body, { 'content-type': 'application/json' }), 401, 'UNAUTHENTICATED');
    await errorOf(await post(body, auth(forwardToken(newEd25519Signer(ORIGIN, new Uint8Array(32).fill(6)), ORIGIN))), 401, 'UNAUTHENTICATED');
    await errorOf(await post(body, { authorization: `Bearer ${TOKEN}` }), 401, 'UNAUTHENTICATED');
    assert.equal(r.log.tree.treeSize, 0n);
  });

  test('the right token and a good body → 200 results, the entries are in the log', async () => {
    const entries = [new TextEncoder().encode('first'), new TextEncoder().encode('second')];
    const res = await post(encodeForwardRequest(entries), auth());
    assert.equal(res.status, 200);
    const body = (await res.json()) as { results: { leafIndex: string; leafHash: string; duplicate: boolean }[] };
    assert.equal(body.results.length, 2);
    for (const [i, e] of entries.entries()) {
      const got = body.results[i];
      assert.ok(got !== undefined);
      assert.equal(got.leafHash, encodeBase64(leafHash(e)));
      assert.equal(got.duplicate, false);
      assert.deepEqual(Buffer.from(await r.log.entry(BigInt(got.leafIndex))), Buffer.from(e));
    }
    assert.ok(r.log.tree.treeSize >= 2n);
  });

  test('through the Forwarder: identities make a second write a duplicate with the stored leaf hash', async () => {
    const f = new Forwarder(TOKEN, 5000);
    const id = new Uint8Array(32).fill(3);
    const [a] = await f.add(r.url, [new TextEncoder().encode('record v1')], [id]);
    const [b] = await f.add(r.url, [new TextEncoder().encode('record v1, sent again with other bytes')], [id]);
    assert.ok(a !== undefined && b !== undefined);
    assert.equal(a.duplicate, false);
    assert.equal(b.duplicate, true);
    assert.equal(b.leafIndex, a.leafIndex);
    assert.deepEqual(Buffer.from(b.leafHash), Buffer.from(a.leafHash));
  });

  test('bad JSON, bad base64, bad shape, not UTF-8 → 400 JSON error', async () => {
    const size = r.log.tree.treeSize;
    for (const body of ['{', '', '{"entries":"AQ=="}', '{"entries":["!!"]}', '{"entries":["AB=="]}', '{"entries":["AQ=="],"identities":["AQ=="]}', new Uint8Array([0xff, 0xfe])]) {
      await errorOf(await post(body, auth()), 400, 'MALFORMED');
    }
    assert.equal(r.log.tree.treeSize, size);
  });

  test('GET → 405 with Allow: POST', async () => {
    const res = await fetch(r.url + FORWARD_PATH);
    assert.equal(res.headers.get('allow'), 'POST');
    await errorOf(res, 405, 'METHOD_NOT_ALLOWED');
  });

  test('a body over the limit → 413 from the body limit, nothing sequenced', async () => {
    const size = r.log.tree.treeSize;
    const big = encodeForwardRequest(Array.from({ length: 20 }, () => new Uint8Array(8000)));
    const res = await post(big, auth());
    assert.equal(res.status, 413);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'TOO_LARGE');
    assert.match(body.error.message, /request body exceeds the limit/);
    assert.equal(r.log.tree.treeSize, size);
  });

  test('a body at the entry limit still fits (base64 and JSON overhead allowed for)', async () => {
    // maxBodyBytes of entries (4 × 16 KiB − 4), as a client may send to /v1/entries; base64 makes them 4/3 larger.
    const res = await post(encodeForwardRequest(Array.from({ length: 4 }, (_, i) => new Uint8Array(MAX_BODY / 4 - 1).fill(i + 1))), auth());
    const text = await res.text();
    assert.equal(res.status, 200, text);
  });
});

describe('/internal/v1/sequence without a forward token', () => {
  let r: Running;
  before(async () => {
    r = await start(undefined);
  });
  after(async () => {
    await stop(r);
  });

  test('the route does not exist: 404 for every method, even with a token', async () => {
    await errorOf(await fetch(r.url + FORWARD_PATH, { method: 'POST', headers: auth(), body: encodeForwardRequest([new Uint8Array([1])]) }), 404, 'NOT_FOUND');
    const get = await fetch(r.url + FORWARD_PATH);
    assert.equal(get.headers.get('allow'), null);
    await errorOf(get, 404, 'NOT_FOUND');
    assert.equal(r.log.tree.treeSize, 0n);
  });
});
