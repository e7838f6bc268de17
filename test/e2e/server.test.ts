/**
 * End-to-end: the real `tilelog serve` process over HTTP, checked from the client's side only. Roots are rebuilt
 * from served tiles and compared with checkpoints verified with the vkey of the listening line; every proof the
 * server returns is verified (and compared with the proof a client computes from tiles); entry bundles must hash
 * to the level-0 tiles. The log grows past 65,536 entries so that full tiles and partial tiles at three levels are
 * served, and the partial tiles of OLD checkpoints are fetched after the tree grew. Then a restart on the same data
 * directory, and pushback (503 + Retry-After) with a tiny pool.
 *
 * The tests of the first suite share one server and run in order (each builds on the log the previous ones left).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import canonicalizeModule from 'canonicalize';
import { EMPTY_ROOT, leafHash, type Hash } from '../../server/core/hash.js';
import { verifyConsistency, verifyInclusion } from '../../server/core/proof.js';
import { bytesEqual, encodeBase64, encodeHex } from '../../server/core/strict.js';
import { consistencyProof, inclusionProof } from '../../server/core/tile-proof.js';
import { parseTlogProof } from '../../server/core/tlog-proof.js';
import {
  CHECKPOINT_CONTENT_TYPE,
  HttpTiles,
  fetchCheckpoint,
  getJson,
  mapLimit,
  postEntries,
  request,
  verifyCheckpoint,
  waitForCheckpoint,
  type PostReply,
  type VerifiedCheckpoint,
} from '../support/http-tiles.js';
import { cleanupAll, sleep, startServer, type ServerProcess } from '../support/server-process.js';

const canonicalize = canonicalizeModule as unknown as (v: unknown) => string | undefined;

after(cleanupAll);

const ORIGIN = 'example.com/tilelog-e2e';
const OCTET = { 'content-type': 'application/octet-stream' };
const JSON_CT = { 'content-type': 'application/json' };
const NDJSON = { 'content-type': 'application/x-ndjson' };

/** The canonical (RFC 8785) bytes the log stores for a JSON value. */
function jcs(v: unknown): Uint8Array {
  const s = canonicalize(v);
  assert.ok(s !== undefined);
  return Buffer.from(s, 'utf8');
}

const hex = (h: Uint8Array) => encodeHex(h);
const b64 = (h: Uint8Array) => encodeBase64(h);

function decodeProof(v: unknown): Hash[] {
  assert.ok(Array.isArray(v), 'proof is an array');
  return (v as unknown[]).map((p) => {
    assert.equal(typeof p, 'string');
    const b = Buffer.from(p as string, 'base64');
    assert.equal(b.length, 32);
    assert.equal(b.toString('base64'), p, 'canonical base64');
    return new Uint8Array(b);
  });
}

/** What the client knows to be in the log: entries by index and indexes by leaf hash. */
class Expected {
  readonly entries = new Map<bigint, Uint8Array>();
  readonly byHash = new Map<string, bigint>();
  size = 0n;

  /**
   * Checks a 200 reply for `sent` (the entries as the log must store them, in request order): new entries get the
   * next indexes in order, repeats (in the log or earlier in the same request) get the existing index and
   * duplicate:true, every leaf hash is SHA-256(0x00 || entry). Only valid with a single writer.
   */
  check(reply: PostReply, sent: readonly Uint8Array[], what: string): void {
    assert.equal(reply.status, 200, `${what}: ${reply.text}`);
    assert.equal(reply.entries.length, sent.length, `${what}: one result per entry`);
    reply.entries.forEach((r, i) => {
      const e = sent[i] as Uint8Array;
      const lh = leafHash(e);
      assert.equal(hex(r.leafHash), hex(lh), `${what}: entry ${i} leaf hash`);
      const known = this.byHash.get(hex(lh));
      if (known !== undefined) {
        assert.equal(r.duplicate, true, `${what}: entry ${i} is a duplicate`);
        assert.equal(r.index, known, `${what}: duplicate entry ${i} gets its existing index`);
      } else {
        assert.equal(r.duplicate, false, `${what}: entry ${i} is new`);
        assert.equal(r.index, this.size, `${what}: entry ${i} gets the next index`);
        this.record(r.index, e);
      }
    });
  }

  /** Records entries acknowledged by concurrent requests (indexes not predictable, but each new and distinct). */
  checkConcurrent(reply: PostReply, sent: readonly Uint8Array[], what: string): void {
    assert.equal(reply.status, 200, `${what}: ${reply.text}`);
    assert.equal(reply.entries.length, sent.length);
    reply.entries.forEach((r, i) => {
      const e = sent[i] as Uint8Array;
      assert.equal(hex(r.leafHash), hex(leafHash(e)), `${what}: entry ${i} leaf hash`);
      assert.equal(r.duplicate, false, `${what}: entry ${i} is new`);
      assert.ok(!this.entries.has(r.index), `${what}: index ${r.index} handed out twice`);
      this.record(r.index, e);
    });
  }

  private record(index: bigint, e: Uint8Array): void {
    this.entries.set(index, e);
    this.byHash.set(hex(leafHash(e)), index);
    this.size++;
  }
}

function assertCheckpointHeaders(h: Headers): void {
  assert.equal(h.get('content-type'), CHECKPOINT_CONTENT_TYPE);
  const cc = h.get('cache-control') ?? '';
  assert.ok(!/immutable/.test(cc), `checkpoint Cache-Control ${cc} must not be immutable`);
  const m = /max-age=([0-9]+)/.exec(cc);
  assert.ok(m === null || Number(m[1]) <= 10, `checkpoint Cache-Control ${cc}: no long caching`);
  assert.ok(cc !== '', 'checkpoint has a Cache-Control');
}

/** Verifies an inclusion proof reply (JSON) for `index` against a verified checkpoint. */
function checkInclusionJson(json: unknown, index: bigint, lh: Hash, cp: VerifiedCheckpoint, withCheckpoint: boolean): Hash[] {
  const o = json as Record<string, unknown>;
  assert.equal(o['index'], Number(index));
  assert.equal(o['treeSize'], Number(cp.treeSize));
  assert.equal(o['leafHash'], b64(lh));
  const proof = decodeProof(o['proof']);
  assert.ok(verifyInclusion(lh, index, cp.treeSize, proof, cp.rootHash), `inclusion proof of ${index} in ${cp.treeSize} verifies`);
  if (withCheckpoint) {
    assert.equal(typeof o['checkpoint'], 'string');
    const c = verifyCheckpoint(o['checkpoint'] as string, server.vkey, ORIGIN);
    assert.equal(c.treeSize, cp.treeSize);
    assert.ok(bytesEqual(c.rootHash, cp.rootHash));
  } else {
    assert.equal(o['checkpoint'], undefined, 'no checkpoint for a size that is not the published one');
  }
  return proof;
}

let server: ServerProcess;
const expected = new Expected();
/** Verified checkpoints kept for later checks, by name. */
const cps = new Map<string, VerifiedCheckpoint>();

describe('tilelog serve over HTTP', () => {
  before(async () => {
    server = await startServer({ origin: ORIGIN, checkpointInterval: '100ms', batchDelay: '5ms' });
  });

  test('the listening line; an empty log has a signed checkpoint of size 0 and no tiles', async () => {
    assert.equal(server.origin, ORIGIN);
    assert.match(server.vkey, /^example\.com\/tilelog-e2e\+[0-9a-f]{8}\+[A-Za-z0-9+/]+=*$/);
    assert.equal(server.startTreeSize, 0n);
    const cp = await fetchCheckpoint(server.baseUrl, server.vkey, ORIGIN);
    assertCheckpointHeaders(cp.headers);
    assert.equal(cp.treeSize, 0n);
    assert.ok(bytesEqual(cp.rootHash, EMPTY_ROOT));
    assert.ok(bytesEqual(await new HttpTiles(server.baseUrl).rootFromTiles(0n), EMPTY_ROOT));
    for (const p of ['/tile/0/000', '/tile/0/000.p/1', '/tile/entries/000.p/1']) {
      const r = await getJson(server.baseUrl + p);
      assert.equal(r.status, 404, p);
      assert.equal((r.json as { error: { code: string } }).error.code, 'NOT_FOUND');
    }
    const log = await getJson(`${server.baseUrl}/v1/log`);
    assert.equal(log.status, 200);
    const l = log.json as Record<string, unknown>;
    assert.equal(l['origin'], ORIGIN);
    assert.equal(l['vkey'], server.vkey);
    assert.equal(l['treeSize'], 0);
    assert.equal((await request(`${server.baseUrl}/healthz`)).status, 200);
    assert.equal((await request(`${server.baseUrl}/readyz`)).status, 200);
  });

  test('entries in all three content types, a gzip body, and duplicates', async () => {
    const base = server.baseUrl;
    // application/octet-stream: the body is the entry, byte for byte (binary, and the empty entry).
    const bin = new Uint8Array([0, 1, 2, 0xff, 0x0a, 0x0d, 0x80]);
    expected.check(await postEntries(base, bin, OCTET), [bin], 'octet-stream');
    const empty = new Uint8Array(0);
    expected.check(await postEntries(base, empty, OCTET), [empty], 'empty octet-stream entry');

    // application/json: one value → its canonical bytes; an array → one entry per value.
    const obj = { z: 1, a: [true, null, 1.5e3], m: 'é\u2028' };
    expected.check(await postEntries(base, '{ "z": 1,\n "a": [true, null, 1500], "m": "é\\u2028" }', JSON_CT), [jcs(obj)], 'json value');
    const arr = [{ k: 'v1' }, 'a string', 42, [1, 2, 3]];
    expected.check(await postEntries(base, JSON.stringify(arr), { 'content-type': 'application/json; charset=utf-8' }), arr.map(jcs), 'json array');

    // application/x-ndjson: one value per line; blank lines and CRLF are fine.
    const lines = [{ n: 1, ev: 'GET /' }, { n: 2, ev: 'POST /x' }, { ev: 'DELETE /y', n: 3 }];
    const nd = `${JSON.stringify(lines[0])}\r\n\n${JSON.stringify(lines[1])}\n   \n${JSON.stringify(lines[2])}\n`;
    expected.check(await postEntries(base, nd, NDJSON), lines.map(jcs), 'ndjson');

    // A gzip-compressed NDJSON body.
    const zl = [{ gz: 1 }, { gz: 2, s: 'x'.repeat(500) }];
    const gz = gzipSync(Buffer.from(zl.map((v) => JSON.stringify(v)).join('\n')));
    expected.check(await postEntries(base, gz, { ...NDJSON, 'content-encoding': 'gzip' }), zl.map(jcs), 'gzip ndjson');
    // … and a gzip-compressed octet-stream entry.
    const raw = randomBytes(3000);
    expected.check(await postEntries(base, gzipSync(raw), { ...OCTET, 'content-encoding': 'gzip' }), [raw], 'gzip octet-stream');

    // Duplicates: same index, duplicate:true, no growth; the same JSON event formatted differently is the same entry.
    const before = expected.size;
    const sizeBefore = ((await getJson(`${base}/v1/log`)).json as Record<string, unknown>)['integratedTreeSize'];
    assert.equal(sizeBefore, Number(before));
    expected.check(await postEntries(base, bin, OCTET), [bin], 'duplicate octet-stream');
    expected.check(await postEntries(base, '{"m":"é\\u2028","a":[true,null,1500.0],"z":1}', JSON_CT), [jcs(obj)], 'duplicate json, other formatting');
    expected.check(await postEntries(base, JSON.stringify(lines[2]), NDJSON), [jcs(lines[2])], 'duplicate ndjson');
    expected.check(await postEntries(base, gzipSync(raw), { ...OCTET, 'content-encoding': 'gzip' }), [raw], 'duplicate gzip');
    assert.equal(expected.size, before, 'duplicates add nothing');
    // A request that repeats an entry of its own: the second one is a duplicate of the first.
    const fresh = { fresh: randomBytes(8).toString('hex') };
    expected.check(await postEntries(base, JSON.stringify([fresh, { other: 1 }, fresh]), JSON_CT), [jcs(fresh), jcs({ other: 1 }), jcs(fresh)], 'repeat inside one request');
    assert.equal(expected.size, before + 2n);
    const sizeAfter = ((await getJson(`${base}/v1/log`)).json as Record<string, unknown>)['integratedTreeSize'];
    assert.equal(sizeAfter, Number(expected.size));

    // GET /v1/entries/<i> returns each entry exactly.
    for (const [i, e] of expected.entries) {
      const r = await request(`${base}/v1/entries/${i}`);
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('content-type'), 'application/octet-stream');
      assert.equal(hex(r.body), hex(e), `entry ${i}`);
    }
  });

  test('?wait=published: the reply carries a checkpoint and proofs that verify', async () => {
    const vals = [{ wait: 1 }, { wait: 2 }, { wait: 3 }];
    const reply = await postEntries(server.baseUrl, JSON.stringify(vals), JSON_CT, '?wait=published');
    expected.check(reply, vals.map(jcs), 'wait=published');
    assert.ok(reply.checkpoint !== undefined && reply.treeSize !== undefined);
    const cp = verifyCheckpoint(reply.checkpoint, server.vkey, ORIGIN);
    assert.equal(cp.treeSize, reply.treeSize);
    assert.ok(cp.treeSize >= expected.size);
    for (const e of reply.entries) {
      assert.ok(e.proof !== undefined);
      assert.ok(verifyInclusion(e.leafHash, e.index, cp.treeSize, e.proof, cp.rootHash), `proof of ${e.index}`);
    }
    // The checkpoint now served is at least as new, and consistent with it.
    const now = await fetchCheckpoint(server.baseUrl, server.vkey, ORIGIN);
    assert.ok(now.treeSize >= cp.treeSize);
    const tiles = new HttpTiles(server.baseUrl);
    assert.ok(verifyConsistency(cp.treeSize, now.treeSize, cp.rootHash, now.rootHash, await consistencyProof(cp.treeSize, now.treeSize, tiles.reader)));
  });

  test('the published checkpoint is rebuilt from tiles alone; bundles decode to the level-0 hashes', async () => {
    const cp = await waitForCheckpoint(server.baseUrl, server.vkey, expected.size);
    assert.equal(cp.treeSize, expected.size);
    const tiles = new HttpTiles(server.baseUrl);
    assert.ok(bytesEqual(await tiles.rootFromTiles(cp.treeSize), cp.rootHash), 'root from tiles = checkpoint root');
    const { entries } = await tiles.audit(cp);
    entries.forEach((e, i) => assert.equal(hex(e), hex(expected.entries.get(BigInt(i)) as Uint8Array), `entry ${i}`));
    // The same bundle, plain: no Content-Encoding, same entries.
    const plain = await tiles.entryBundle(0n, Number(cp.treeSize), false);
    assert.equal(plain.headers.get('content-encoding'), null);
    plain.entries.forEach((e, i) => assert.equal(hex(e), hex(entries[i] as Uint8Array)));
    cps.set('A', cp);
  });

  test('grows past 65,536 entries in batches: full and partial tiles at three levels; old partial tiles still verify', async () => {
    const base = server.baseUrl;
    let serial = 0;
    const grow = async (target: bigint, perRequest: number, concurrency: number) => {
      const bodies: { body: string; sent: Uint8Array[]; ct: Record<string, string> }[] = [];
      let n = expected.size;
      while (n < target) {
        const k = Number(target - n < BigInt(perRequest) ? target - n : BigInt(perRequest));
        const vals = Array.from({ length: k }, () => ({ e2e: serial++, path: '/api/v1/namespaces/default/pods', verb: 'list' }));
        const asJson = bodies.length % 3 === 1;
        bodies.push({ body: asJson ? JSON.stringify(vals) : vals.map((v) => JSON.stringify(v)).join('\n'), sent: vals.map(jcs), ct: asJson ? JSON_CT : NDJSON });
        n += BigInt(k);
      }
      await mapLimit(bodies, concurrency, async (b, i) => expected.checkConcurrent(await postEntries(base, b.body, b.ct, '', 30_000), b.sent, `grow batch ${i}`));
      assert.equal(expected.size, target);
      const cp = await waitForCheckpoint(base, server.vkey, target);
      assert.equal(cp.treeSize, target);
      return cp;
    };
    cps.set('B', await grow(300n, 100, 3)); // L0: 000 + 001.p/44; L1: 000.p/1
    cps.set('C', await grow(600n, 150, 2)); // L0: 000, 001 + 002.p/88; L1: 000.p/2
    const t0 = Date.now();
    const D = await grow(70_000n, 5000, 2); // the spec's example: 273 full L0 + 273.p/112, L1 000 + 001.p/17, L2 000.p/1
    cps.set('D', D);

    const tiles = new HttpTiles(base);
    const { entries } = await tiles.audit(D);
    assert.equal(entries.length, 70_000);
    entries.forEach((e, i) => {
      if (!bytesEqual(e, expected.entries.get(BigInt(i)) as Uint8Array)) assert.fail(`entry ${i} differs`);
    });
    for (const p of ['tile/0/272', 'tile/0/273.p/112', 'tile/1/000', 'tile/1/001.p/17', 'tile/2/000.p/1', 'tile/entries/272', 'tile/entries/273.p/112']) {
      assert.ok(tiles.fetched.includes(p), `the audit of size 70000 fetched ${p}`);
    }

    // Old checkpoints after the tree grew: their partial tiles (.p/W of sizes that are no longer the edge) still
    // serve the same bytes, so each old root is rebuilt from tiles alone.
    for (const name of ['A', 'B', 'C']) {
      const cp = cps.get(name) as VerifiedCheckpoint;
      const old = new HttpTiles(base);
      const { entries: oldEntries } = await old.audit(cp);
      oldEntries.forEach((e, i) => assert.ok(bytesEqual(e, expected.entries.get(BigInt(i)) as Uint8Array), `old ${name}: entry ${i}`));
      const partials = old.fetched.filter((p) => p.includes('.p/'));
      assert.ok(partials.length > 0, `old checkpoint ${name} (${cp.treeSize}) needs partial tiles`);
    }
    const oldB = new HttpTiles(base);
    await oldB.audit(cps.get('B') as VerifiedCheckpoint);
    for (const p of ['tile/0/001.p/44', 'tile/1/000.p/1', 'tile/entries/001.p/44']) assert.ok(oldB.fetched.includes(p), `size 300 fetched ${p}`);

    // Tiles beyond the tree are 404.
    for (const p of ['tile/0/273', 'tile/0/273.p/113', 'tile/0/274', 'tile/0/274.p/1', 'tile/1/001', 'tile/1/001.p/18', 'tile/2/000', 'tile/2/001.p/1', 'tile/3/000.p/1', 'tile/entries/273', 'tile/entries/274.p/1', 'tile/0/x001/000']) {
      const r = await getJson(`${base}/${p}`);
      assert.equal(r.status, 404, p);
      assert.equal((r.json as { error: { code: string } }).error.code, 'NOT_FOUND', p);
    }
    assert.ok(Date.now() - t0 < 30_000, 'growth and audit stay bounded');
  });

  test('consistency proofs between the checkpoints seen, verified (and equal to the proofs computed from tiles)', async () => {
    const tiles = new HttpTiles(server.baseUrl);
    const list = ['A', 'B', 'C', 'D'].map((n) => cps.get(n) as VerifiedCheckpoint);
    const pub = await fetchCheckpoint(server.baseUrl, server.vkey, ORIGIN);
    for (const a of list) {
      for (const b of [...list, pub]) {
        if (a.treeSize > b.treeSize) continue;
        const r = await getJson(`${server.baseUrl}/v1/proof/consistency?from=${a.treeSize}&to=${b.treeSize}`);
        assert.equal(r.status, 200, r.text);
        const o = r.json as Record<string, unknown>;
        assert.equal(o['from'], Number(a.treeSize));
        assert.equal(o['to'], Number(b.treeSize));
        const proof = decodeProof(o['proof']);
        assert.ok(verifyConsistency(a.treeSize, b.treeSize, a.rootHash, b.rootHash, proof), `consistency ${a.treeSize} → ${b.treeSize}`);
        const mine = await consistencyProof(a.treeSize, b.treeSize, tiles.reader);
        assert.deepEqual(proof.map(hex), mine.map(hex), `server proof = client proof ${a.treeSize} → ${b.treeSize}`);
      }
      // `to` defaults to the published size.
      const r = await getJson(`${server.baseUrl}/v1/proof/consistency?from=${a.treeSize}`);
      assert.equal(r.status, 200);
      assert.equal((r.json as Record<string, unknown>)['to'], Number(pub.treeSize));
      assert.ok(verifyConsistency(a.treeSize, pub.treeSize, a.rootHash, pub.rootHash, decodeProof((r.json as Record<string, unknown>)['proof'])));
    }
    const zero = await getJson(`${server.baseUrl}/v1/proof/consistency?from=0`);
    assert.equal(zero.status, 200);
    assert.deepEqual((zero.json as Record<string, unknown>)['proof'], []);
    assert.ok(verifyConsistency(0n, pub.treeSize, EMPTY_ROOT, pub.rootHash, []));
  });

  test('inclusion proofs by index, by leafHash (hex and base64), at the published and older sizes, and as tlog-proof', async () => {
    const base = server.baseUrl;
    const tiles = new HttpTiles(base);
    const pub = await fetchCheckpoint(base, server.vkey, ORIGIN);
    const D = cps.get('D') as VerifiedCheckpoint;
    assert.equal(pub.treeSize, D.treeSize);
    const sample = [0n, 1n, 19n, 255n, 256n, 299n, 511n, 599n, 65_535n, 65_536n, 69_888n, 69_999n];
    for (let i = 0; i < 4; i++) sample.push(BigInt(Math.floor(Math.random() * 70_000)));
    const fromTiles = await tiles.leafHashesAt(sample, pub.treeSize);
    for (const i of sample) {
      const lh = leafHash(expected.entries.get(i) as Uint8Array);
      assert.equal(hex(fromTiles.get(i) as Hash), hex(lh), `level-0 tile hash of ${i}`);

      const byIndex = await getJson(`${base}/v1/proof/inclusion?index=${i}`);
      assert.equal(byIndex.status, 200, byIndex.text);
      assert.equal(byIndex.headers.get('content-type'), 'application/json; charset=utf-8');
      const proof = checkInclusionJson(byIndex.json, i, lh, pub, true);
      assert.deepEqual(proof.map(hex), (await inclusionProof(i, pub.treeSize, tiles.reader)).map(hex), `server proof = client proof for ${i}`);

      const byHex = await getJson(`${base}/v1/proof/inclusion?leafHash=${hex(lh)}`);
      assert.equal(byHex.status, 200, byHex.text);
      checkInclusionJson(byHex.json, i, lh, pub, true);
      const byB64 = await getJson(`${base}/v1/proof/inclusion?leafHash=${encodeURIComponent(b64(lh))}`);
      assert.equal(byB64.status, 200, byB64.text);
      checkInclusionJson(byB64.json, i, lh, pub, true);
      const both = await getJson(`${base}/v1/proof/inclusion?index=${i}&leafHash=${hex(lh)}&treeSize=${pub.treeSize}`);
      assert.equal(both.status, 200, both.text);
      checkInclusionJson(both.json, i, lh, pub, true);

      for (const name of ['A', 'B', 'C']) {
        const old = cps.get(name) as VerifiedCheckpoint;
        if (i >= old.treeSize) continue;
        const r = await getJson(`${base}/v1/proof/inclusion?index=${i}&treeSize=${old.treeSize}`);
        assert.equal(r.status, 200, r.text);
        checkInclusionJson(r.json, i, lh, old, false);
        const rh = await getJson(`${base}/v1/proof/inclusion?leafHash=${encodeURIComponent(b64(lh))}&treeSize=${old.treeSize}`);
        assert.equal(rh.status, 200, rh.text);
        checkInclusionJson(rh.json, i, lh, old, false);
      }

      const tp = await request(`${base}/v1/proof/inclusion?index=${i}&format=tlog-proof`);
      assert.equal(tp.status, 200, tp.body.toString());
      assert.equal(tp.headers.get('content-type'), 'text/plain; charset=utf-8');
      const parsed = parseTlogProof(tp.body.toString('utf8'));
      assert.equal(parsed.index, i);
      const cp = verifyCheckpoint(parsed.checkpoint, server.vkey, ORIGIN);
      assert.ok(verifyInclusion(lh, parsed.index, cp.treeSize, parsed.proof, cp.rootHash), `tlog-proof of ${i} verifies`);
      // A proof for another entry's hash does not verify (the check above is not vacuous).
      const other = leafHash(expected.entries.get((i + 1n) % pub.treeSize) as Uint8Array);
      assert.ok(!verifyInclusion(other, parsed.index, cp.treeSize, parsed.proof, cp.rootHash));
    }
  });

  test('headers of tiles, bundles (gzip negotiated) and the checkpoint', async () => {
    const base = server.baseUrl;
    const cp = await fetchCheckpoint(base, server.vkey, ORIGIN);
    assertCheckpointHeaders(cp.headers);
    for (const p of ['tile/0/000', 'tile/0/273.p/112', 'tile/1/001.p/17', 'tile/2/000.p/1', 'tile/0/000.p/7']) {
      const r = await request(`${base}/${p}`, { headers: { 'accept-encoding': 'gzip' } });
      assert.equal(r.status, 200, p);
      assert.equal(r.headers.get('content-type'), 'application/octet-stream', p);
      assert.equal(r.headers.get('cache-control'), 'public, max-age=31536000, immutable', p);
      assert.equal(r.headers.get('content-encoding'), null, `${p}: hash tiles are not compressed`);
    }
    const tiles = new HttpTiles(base);
    for (const [n, w] of [[0n, 256], [273n, 112], [1n, 44]] as const) {
      const z = await tiles.entryBundle(n, w, true);
      assert.equal(z.headers.get('content-encoding'), 'gzip');
      assert.match(z.headers.get('vary') ?? '', /accept-encoding/i);
      const plain = await tiles.entryBundle(n, w, false);
      assert.equal(plain.headers.get('content-encoding'), null);
      assert.deepEqual(z.entries.map(hex), plain.entries.map(hex));
    }
    // With gzip refused (q=0) the bundle is plain.
    const q0 = await request(`${base}/tile/entries/000`, { headers: { 'accept-encoding': 'gzip;q=0, identity' } });
    assert.equal(q0.status, 200);
    assert.equal(q0.headers.get('content-encoding'), null);
  });

  test('restart on the same data dir: same key, consistent checkpoint, appends continue, old entries served', async () => {
    const before = await fetchCheckpoint(server.baseUrl, server.vkey, ORIGIN);
    const vkey = server.vkey;
    assert.deepEqual(server.errorRecords(), [], 'no error logged');
    const old = server;
    server = await old.restart(); // SIGTERM, exit 0 asserted, start again on the same --data
    const stopped = old.logRecords().find((r) => r['msg'] === 'stopped');
    assert.ok(stopped !== undefined, 'the old process logged "stopped"');
    assert.equal(stopped['treeSize'], String(before.treeSize));

    assert.equal(server.origin, ORIGIN);
    assert.equal(server.vkey, vkey);
    assert.equal(server.startTreeSize, before.treeSize);
    const after1 = await fetchCheckpoint(server.baseUrl, vkey, ORIGIN);
    assert.equal(after1.treeSize, before.treeSize);
    assert.ok(bytesEqual(after1.rootHash, before.rootHash));
    const tiles = new HttpTiles(server.baseUrl);
    assert.ok(bytesEqual(await tiles.rootFromTiles(after1.treeSize), after1.rootHash));

    // Appends continue at the next index.
    const vals = [{ after: 'restart', n: 1 }, { after: 'restart', n: 2 }];
    const reply = await postEntries(server.baseUrl, vals.map((v) => JSON.stringify(v)).join('\n'), NDJSON, '?wait=published');
    expected.check(reply, vals.map(jcs), 'after restart');
    assert.equal(reply.entries[0]?.index, before.treeSize);
    const now = await waitForCheckpoint(server.baseUrl, vkey, expected.size);
    assert.equal(now.treeSize, before.treeSize + 2n);
    const c = await getJson(`${server.baseUrl}/v1/proof/consistency?from=${before.treeSize}&to=${now.treeSize}`);
    assert.equal(c.status, 200, c.text);
    assert.ok(verifyConsistency(before.treeSize, now.treeSize, before.rootHash, now.rootHash, decodeProof((c.json as Record<string, unknown>)['proof'])), 'pre-restart checkpoint is consistent with the new one');
    assert.ok(bytesEqual(await tiles.rootFromTiles(now.treeSize), now.rootHash));
    for (const name of ['A', 'B', 'C', 'D']) {
      const o = cps.get(name) as VerifiedCheckpoint;
      assert.ok(verifyConsistency(o.treeSize, now.treeSize, o.rootHash, now.rootHash, await consistencyProof(o.treeSize, now.treeSize, tiles.reader)), `${name} consistent after restart`);
    }

    // Previous entries are still served, and re-submitting them is a duplicate at the old index.
    const sample = [0n, 1n, 300n, 65_536n, before.treeSize - 1n];
    const hashes = await tiles.leafHashesAt(sample, now.treeSize);
    for (const i of sample) {
      const e = expected.entries.get(i) as Uint8Array;
      const r = await request(`${server.baseUrl}/v1/entries/${i}`);
      assert.equal(r.status, 200);
      assert.equal(hex(r.body), hex(e), `entry ${i} after restart`);
      assert.equal(hex(hashes.get(i) as Hash), hex(leafHash(e)));
      expected.check(await postEntries(server.baseUrl, e, OCTET), [e], `re-submit ${i}`);
    }
    assert.equal(expected.size, now.treeSize);

    // A second process on the same data directory is refused (one writer per log) and the first one is unaffected.
    await assert.rejects(startServer({ dataDir: server.dataDir, origin: ORIGIN, startTimeoutMs: 10_000 }), /exited before listening/);
    assert.equal((await request(`${server.baseUrl}/healthz`)).status, 200);
    assert.deepEqual(server.errorRecords(), [], 'no error logged');
    await server.stop();
    // A restart that names another origin than the key's is refused: the log never changes identity.
    await assert.rejects(startServer({ dataDir: server.dataDir, origin: 'example.com/other', startTimeoutMs: 10_000 }), /exited before listening[\s\S]*not the origin/);
  });
});

describe('availability', () => {
  test('one ?wait=published request of 2,000 entries does not stall other requests', { timeout: 60_000 }, async () => {
    const s = await startServer({ checkpointInterval: '200ms', batchDelay: '5ms' });
    const body = Array.from({ length: 2000 }, (_, i) => JSON.stringify({ avail: i })).join('\n');
    const t0 = Date.now();
    let done = false;
    const big = postEntries(s.baseUrl, body, NDJSON, '?wait=published', 60_000).finally(() => (done = true));
    // Probe /healthz every 100 ms while the request is processed (bounded: 100 probes).
    let worst = 0;
    for (let i = 0; i < 100 && !done; i++) {
      const a = Date.now();
      assert.equal((await request(`${s.baseUrl}/healthz`, {}, 30_000)).status, 200);
      worst = Math.max(worst, Date.now() - a);
      await sleep(100);
    }
    const r = await big;
    const total = Date.now() - t0;
    assert.equal(r.status, 200, r.text.slice(0, 300));
    assert.ok(r.checkpoint !== undefined);
    const cp = verifyCheckpoint(r.checkpoint, s.vkey);
    for (const e of r.entries.slice(0, 50)) assert.ok(e.proof !== undefined && verifyInclusion(e.leafHash, e.index, cp.treeSize, e.proof, cp.rootHash));
    await s.stop();
    assert.ok(worst < 1000, `GET /healthz took up to ${worst} ms while one POST /v1/entries?wait=published of 2,000 entries was processed (${total} ms): the event loop is blocked`);
  });
});

describe('pushback', () => {
  test('a full pool answers 503 + Retry-After; every 200 is in the log at the index it was told', async () => {
    const s = await startServer({ maxPending: 4, batchDelay: '2s', checkpointInterval: '100ms' });
    const N = 16;
    const entries = Array.from({ length: N }, (_, i) => Buffer.from(`pushback entry ${i} ${randomBytes(6).toString('hex')}`));
    const t0 = Date.now();
    const replies = await Promise.all(entries.map((e) => postEntries(s.baseUrl, e, OCTET, '', 15_000)));
    const ok = replies.filter((r) => r.status === 200);
    const busy = replies.filter((r) => r.status === 503);
    assert.equal(ok.length + busy.length, N, `only 200 and 503: ${replies.map((r) => r.status).join(',')}`);
    assert.ok(busy.length >= N - 4, `at most 4 pooled, got ${ok.length} accepted`);
    assert.ok(ok.length >= 1, 'the pooled ones are accepted');
    assert.ok(Date.now() - t0 >= 1500, 'the accepted ones waited for the batch delay');
    for (const r of busy) {
      const ra = r.headers.get('retry-after');
      assert.ok(ra !== null && /^[1-9][0-9]*$/.test(ra), `Retry-After: ${ra}`);
      assert.deepEqual(Object.keys(r.json as object), ['error']);
      assert.equal((r.json as { error: { code: string } }).error.code, 'PUSHBACK');
    }
    // Every acknowledged entry is at its index.
    const cp = await waitForCheckpoint(s.baseUrl, s.vkey, BigInt(ok.length));
    assert.equal(cp.treeSize, BigInt(ok.length));
    const tiles = new HttpTiles(s.baseUrl);
    const { entries: served } = await tiles.audit(cp);
    replies.forEach((r, k) => {
      if (r.status !== 200) return;
      const e = r.entries[0];
      assert.ok(e !== undefined && !e.duplicate);
      assert.equal(hex(e.leafHash), hex(leafHash(entries[k] as Uint8Array)));
      assert.equal(hex(served[Number(e.index)] as Uint8Array), hex(entries[k] as Uint8Array), `entry ${k} at index ${e.index}`);
    });
    // More entries in one request than the pool can ever hold: 413, not a 503 that retrying cannot fix.
    const big = await postEntries(s.baseUrl, JSON.stringify([1, 2, 3, 4, 5]), JSON_CT);
    assert.equal(big.status, 413, big.text);
    // After Retry-After, a refused entry goes through.
    await sleep(1000);
    const k = replies.findIndex((r) => r.status === 503);
    const again = postEntries(s.baseUrl, entries[k] as Uint8Array, OCTET, '', 15_000);
    const r2 = await again;
    assert.equal(r2.status, 200, r2.text);
    assert.equal(r2.entries[0]?.index, cp.treeSize);
    assert.deepEqual(s.errorRecords(), []);
    await s.stop();
  });
});
