/**
 * clients/tlog TileFetcher against a small node:http tlog-tiles server on 127.0.0.1 (tiles from an in-memory
 * TileStore): exact tile sizes, gzip-encoded bundles, the LRU (full tiles cached, partials and checkpoint never),
 * the partial → full fallback on 404, typed errors naming the URL (404, 500, wrong length, too large, timeout),
 * and an end-to-end ProofBuilder over HTTP.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { FetchError, ProofBuilder, TileFetcher, TileAuthenticationError } from '../../clients/tlog/index.js';
import { entryBundlePrefixLength } from '../../server/core/entry-bundle.js';
import { parseTilePath, tilePath } from '../../server/core/tile.js';
import { TileStore, hex, makeEntry } from '../support/reference-tree.js';

const N = 70000;
const store = new TileStore();
store.append(Array.from({ length: N }, (_, i) => makeEntry(i)));

const hits: string[] = [];
let mode: 'normal' | 'no-partials' | 'short' | 'huge' | 'hang' | 'error' = 'normal';
let flip: string | undefined; // path of a tile served with one byte changed
let sawAcceptEncoding = '';
let server: Server;
let base = '';

before(async () => {
  server = createServer((req, res) => {
    const url = (req.url ?? '/').slice(1);
    hits.push(url);
    const path = url.startsWith('log/') ? url.slice(4) : url;
    sawAcceptEncoding = String(req.headers['accept-encoding'] ?? '');
    if (mode === 'hang') return; // never answers
    if (mode === 'error') {
      res.writeHead(500).end('boom');
      return;
    }
    if (path === 'checkpoint') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' }).end('example\n70000\nAAAA\n');
      return;
    }
    let t;
    try {
      t = parseTilePath(path);
    } catch {
      res.writeHead(404).end();
      return;
    }
    if (mode === 'no-partials' && t.width < 256) {
      res.writeHead(404).end();
      return;
    }
    const stored = store.get(t);
    if (stored === undefined) {
      res.writeHead(404).end();
      return;
    }
    let body: Uint8Array;
    if (t.kind === 'hash') {
      if (stored.length < t.width * 32) {
        res.writeHead(404).end();
        return;
      }
      body = Uint8Array.from(stored.subarray(0, t.width * 32));
      if (flip === path) body[5] = (body[5] as number) ^ 1;
      if (mode === 'short') body = body.subarray(1);
      if (mode === 'huge') body = new Uint8Array(9000);
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' }).end(body);
      return;
    }
    body = stored.subarray(0, entryBundlePrefixLength(stored, t.width));
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Encoding': 'gzip' }).end(gzipSync(body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/log/`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const reset = () => {
  hits.length = 0;
  mode = 'normal';
  flip = undefined;
};

describe('TileFetcher', () => {
  test('tiles and bundles: exact bytes, gzip decoded, Accept-Encoding sent; full ones cached, partials and checkpoint not', async () => {
    reset();
    const f = new TileFetcher(base.slice(0, -1)); // no trailing slash: added
    assert.equal(f.baseUrl, base);
    const full = await f.tile(0, 3n, 256);
    assert.equal(hex(full), hex(store.get({ kind: 'hash', level: 0, index: 3n }) as Uint8Array));
    assert.match(sawAcceptEncoding, /gzip/);
    await f.tile(0, 3n, 256);
    const partial = await f.tile(0, 273n, 112);
    assert.equal(partial.length, 112 * 32);
    await f.tile(0, 273n, 112);
    const entries = await f.entries(5n, 256);
    assert.equal(entries.length, 256);
    assert.equal(hex(entries[7] as Uint8Array), hex(makeEntry(5 * 256 + 7)));
    await f.entries(5n, 256);
    const pe = await f.entries(273n, 112);
    assert.equal(hex(pe[111] as Uint8Array), hex(makeEntry(273 * 256 + 111)));
    assert.equal(await f.checkpoint(), 'example\n70000\nAAAA\n');
    await f.checkpoint();
    assert.deepEqual(hits, ['log/tile/0/003', 'log/tile/0/273.p/112', 'log/tile/0/273.p/112', 'log/tile/entries/005', 'log/tile/entries/273.p/112', 'log/checkpoint', 'log/checkpoint']);
    // A partial of a cached full tile is cut from the cache.
    hits.length = 0;
    assert.equal(hex(await f.tile(0, 3n, 10)), hex(full.subarray(0, 320)));
    assert.deepEqual(hits, []);
  });

  test('a partial tile or bundle that 404s is read from the full one (tlog-tiles: partials may be deleted)', async () => {
    reset();
    mode = 'no-partials';
    const f = new TileFetcher(base);
    const t = await f.tile(1, 0n, 17);
    assert.equal(hex(t), hex((store.get({ kind: 'hash', level: 1, index: 0n }) as Uint8Array).subarray(0, 17 * 32)));
    const e = await f.entries(2n, 3);
    assert.deepEqual(e.map(hex), [0, 1, 2].map((i) => hex(makeEntry(512 + i))));
    assert.deepEqual(hits, ['log/tile/1/000.p/17', 'log/tile/1/000', 'log/tile/entries/002.p/3', 'log/tile/entries/002']);
    // Neither exists: the error names the full tile's URL.
    await assert.rejects(f.tile(0, 273n, 112), (err: unknown) => err instanceof FetchError && err.status === 404 && err.code === 'NOT_FOUND' && err.url === base + 'tile/0/273');
  });

  test('errors are typed and name the URL', async () => {
    reset();
    const f = new TileFetcher(base, { timeoutMs: 300 });
    await assert.rejects(f.tile(0, 9999n, 256), (e: unknown) => e instanceof FetchError && e.status === 404 && e.message.includes(base + 'tile/0/x009/999'));
    mode = 'error';
    await assert.rejects(f.checkpoint(), (e: unknown) => e instanceof FetchError && e.status === 500 && e.code === 'INTERNAL' && e.url === base + 'checkpoint');
    mode = 'short';
    await assert.rejects(f.tile(0, 1n, 256), (e: unknown) => e instanceof FetchError && e.failure === 'bad-response' && e.code === 'MALFORMED' && e.url === base + 'tile/0/001');
    mode = 'huge';
    await assert.rejects(f.tile(0, 2n, 256), (e: unknown) => e instanceof FetchError && e.failure === 'too-large');
    mode = 'hang';
    await assert.rejects(f.tile(0, 4n, 256), (e: unknown) => e instanceof FetchError && e.failure === 'timeout' && e.url === base + 'tile/0/004');
    mode = 'normal';
    await assert.rejects(new TileFetcher('http://127.0.0.1:1/', { timeoutMs: 2000 }).checkpoint(), (e: unknown) => e instanceof FetchError && e.failure === 'network');
    assert.throws(() => new TileFetcher('file:///etc/'), (e: unknown) => (e as { code?: string }).code === 'MALFORMED');
    await assert.rejects(f.tile(0, 0n, 0), (e: unknown) => (e as { code?: string }).code === 'MALFORMED');
  });

  test('ProofBuilder over HTTP: proofs equal the reference; a tile changed in transit is rejected; verified entries', async () => {
    reset();
    const tree = { treeSize: BigInt(N), rootHash: store.ref.root(N) };
    const b = new ProofBuilder(tree, new TileFetcher(base).readTiles);
    for (const i of [0, 255, 256, 12345, 69999]) {
      assert.deepEqual((await b.inclusionProof(BigInt(i))).map(hex), store.ref.path(i, N).map((e) => hex(e.hash)));
    }
    const entries = await b.verifiedEntries(new TileFetcher(base), 273n);
    assert.equal(entries.length, 112);
    flip = tilePath({ kind: 'hash', level: 0, index: 100n, width: 256 });
    const b2 = new ProofBuilder(tree, new TileFetcher(base).readTiles);
    await assert.rejects(b2.inclusionProof(100n * 256n + 3n), (e: unknown) => e instanceof TileAuthenticationError && e.message.includes('tile/0/100'));
  });
});
