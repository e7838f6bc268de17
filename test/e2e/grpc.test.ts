/**
 * End-to-end: the gRPC front end of the real `tilelog serve --grpc 127.0.0.1:0` process, from a grpc-js client
 * that loads the same proto/tilelog/v1/log.proto. Nothing the server says is trusted: checkpoints are opened with
 * the vkey of the listening line, every proof is verified (and roots are rebuilt from the served tiles), every
 * leaf hash is recomputed from the entry sent.
 *
 * Suites: conformance (the same scenario over HTTP on one server and over gRPC on another gives identical leaf
 * hashes, indexes, roots and proofs, and both front ends of each server give identical answers); the LogService on
 * one server (health, reflection, unary calls, proofs, WatchCheckpoints, a 100,000-entry AppendStream, flow control
 * with an unread stream, errors incl. malformed protobuf and oversized messages); pushback with a tiny pool
 * (UNAVAILABLE + retry-after + google.rpc.RetryInfo).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import canonicalizeModule from 'canonicalize';
import { openCheckpoint } from '../../server/core/checkpoint.js';
import { EMPTY_ROOT, leafHash, type Hash } from '../../server/core/hash.js';
import { newVerifier } from '../../server/core/keys.js';
import { verifyConsistency, verifyInclusion } from '../../server/core/proof.js';
import { bytesEqual, encodeHex } from '../../server/core/strict.js';
import { consistencyProof as tileConsistencyProof, inclusionProof as tileInclusionProof } from '../../server/core/tile-proof.js';
import {
  LogClient,
  StreamReader,
  decodeStatusDetails,
  describeError,
  grpcError,
  healthCheck,
  rawBidi,
  rawUnary,
  reflect,
  statusName,
  type AppendResponse,
  type CheckpointMsg,
} from '../support/grpc-client.js';
import { pollUntil, rssBytes, startGrpcServer, type GrpcServerProcess } from '../support/grpc-server-process.js';
import { HttpTiles, getJson, postEntries, request } from '../support/http-tiles.js';
import { cleanupAll, sleep, withTimeout } from '../support/server-process.js';

const canonicalize = canonicalizeModule as unknown as (v: unknown) => string | undefined;

after(cleanupAll);

/**
 * The servers of this file, started early and in parallel; each suite awaits its own. `main` serves the conformance
 * suite first (as its gRPC side, while its log is empty) and then the LogService suite; `confH` is the HTTP side of
 * the conformance suite; `pushback` is started by the LogService suite. The promises are marked handled so that a
 * failed start fails the suite that needs it, not the process.
 */
const servers: Record<'main' | 'pushback' | 'confH', Promise<GrpcServerProcess>> = {} as never;
function startMarked(o: Parameters<typeof startGrpcServer>[0]): Promise<GrpcServerProcess> {
  const p = startGrpcServer(o);
  p.catch(() => {});
  return p;
}
before(() => {
  servers.main = startMarked({ checkpointInterval: '200ms', maxBody: '1MiB' });
  servers.confH = startMarked({ checkpointInterval: '200ms', maxBody: '1MiB' });
});

const hex = (h: Uint8Array) => encodeHex(h);
const RUN = randomBytes(4).toString('hex');

/** A checkpoint opened with the server's vkey. */
interface Cp {
  readonly note: string;
  readonly treeSize: bigint;
  readonly rootHash: Hash;
}

function openCp(note: string | Buffer, s: GrpcServerProcess): Cp {
  const text = typeof note === 'string' ? note : note.toString('utf8');
  const { checkpoint } = openCheckpoint(text, [newVerifier(s.vkey)], s.origin);
  return { note: text, treeSize: checkpoint.treeSize, rootHash: checkpoint.rootHash };
}

const u8 = (b: Buffer) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

/** What the client knows about one server's log (single writer). */
class Model {
  readonly entries: Uint8Array[] = [];
  readonly byHash = new Map<string, bigint>();
  /** Verified checkpoints by size. */
  readonly cps = new Map<bigint, Cp>();

  get size(): bigint {
    return BigInt(this.entries.length);
  }

  /** Checks an Append response for `sent` (request order) and records the new entries. */
  check(res: AppendResponse, sent: readonly Uint8Array[], what: string): void {
    assert.equal(res.error, null, `${what}: no error`);
    assert.equal(res.entries.length, sent.length, `${what}: one result per entry`);
    res.entries.forEach((r, i) => {
      const e = sent[i] as Uint8Array;
      const lh = leafHash(e);
      assert.equal(hex(r.leafHash), hex(lh), `${what}: entry ${i} leaf hash`);
      const known = this.byHash.get(hex(lh));
      if (known !== undefined) {
        assert.equal(r.duplicate, true, `${what}: entry ${i} is a duplicate`);
        assert.equal(r.index, known.toString(), `${what}: duplicate entry ${i} gets the existing index`);
      } else {
        assert.equal(r.duplicate, false, `${what}: entry ${i} is new`);
        assert.equal(r.index, this.size.toString(), `${what}: entry ${i} gets the next index`);
        this.byHash.set(hex(lh), this.size);
        this.entries.push(e);
      }
    });
  }

  /**
   * Records entries acknowledged by a stream, given as (index, entry): the indexes must be distinct and exactly
   * the next ones after the entries known so far (contiguous), the entries new.
   */
  recordStream(acked: [bigint, Uint8Array][], what: string): void {
    acked.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    acked.forEach(([index, e], k) => {
      if (index !== this.size) assert.fail(`${what}: the ${k}th smallest index is ${index}, want ${this.size} (indexes distinct and contiguous after the ${this.size} entries before)`);
      const h = hex(leafHash(e));
      if (this.byHash.has(h)) assert.fail(`${what}: entry at ${index} was already in the log`);
      this.byHash.set(h, this.size);
      this.entries.push(e);
    });
  }

  keep(cp: Cp): Cp {
    this.cps.set(cp.treeSize, cp);
    return cp;
  }
}

function entry(tag: string, i: number, size = 0): Buffer {
  const head = Buffer.from(`${tag} ${RUN} ${i} `);
  if (size <= head.length) return head;
  const b = Buffer.alloc(size, i & 0xff);
  head.copy(b);
  return b;
}

/** Polls GetCheckpoint until the published size is at least `size`. */
async function waitPublished(c: LogClient, s: GrpcServerProcess, size: bigint, timeoutMs = 10_000): Promise<Cp> {
  return pollUntil(`a published checkpoint of size ≥ ${size}`, timeoutMs, async () => {
    const cp = openCp(await c.getCheckpoint(), s);
    return cp.treeSize >= size ? cp : undefined;
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Conformance: one scenario, two front ends.

interface FrontEnd {
  readonly name: string;
  append(entries: Uint8Array[]): Promise<{ results: { index: bigint; leafHash: string; duplicate: boolean; proof: string[] }[]; checkpoint: string; treeSize: bigint }>;
  inclusion(q: { index?: bigint; leafHash?: Hash; treeSize?: bigint }): Promise<{ index: bigint; treeSize: bigint; leafHash: string; proof: string[]; checkpoint: string | undefined }>;
  consistency(from: bigint, to?: bigint): Promise<{ from: bigint; to: bigint; proof: string[] }>;
  entry(index: bigint): Promise<string>;
  checkpoint(): Promise<string>;
}

const b64ToHex = (s: string) => Buffer.from(s, 'base64').toString('hex');

function httpFrontEnd(s: GrpcServerProcess): FrontEnd {
  const base = s.baseUrl;
  const json = async (path: string) => {
    const r = await getJson(base + path);
    assert.equal(r.status, 200, `GET ${path}: ${r.text}`);
    return r.json as Record<string, unknown>;
  };
  return {
    name: 'HTTP',
    async append(entries) {
      const values = entries.map((e) => JSON.parse(Buffer.from(e).toString('utf8')) as unknown);
      const r = await postEntries(base, JSON.stringify(values), { 'content-type': 'application/json' }, '?wait=published');
      assert.equal(r.status, 200, r.text);
      return {
        results: r.entries.map((e) => ({ index: e.index, leafHash: hex(e.leafHash), duplicate: e.duplicate, proof: (e.proof ?? []).map(hex) })),
        checkpoint: r.checkpoint as string,
        treeSize: r.treeSize as bigint,
      };
    },
    async inclusion(q) {
      const params = new URLSearchParams();
      if (q.index !== undefined) params.set('index', q.index.toString());
      if (q.leafHash !== undefined) params.set('leafHash', hex(q.leafHash));
      if (q.treeSize !== undefined) params.set('treeSize', q.treeSize.toString());
      const o = await json(`/v1/proof/inclusion?${params.toString()}`);
      return { index: BigInt(o['index'] as number), treeSize: BigInt(o['treeSize'] as number), leafHash: b64ToHex(o['leafHash'] as string), proof: (o['proof'] as string[]).map(b64ToHex), checkpoint: o['checkpoint'] as string | undefined };
    },
    async consistency(from, to) {
      const o = await json(`/v1/proof/consistency?from=${from}${to === undefined ? '' : `&to=${to}`}`);
      return { from: BigInt(o['from'] as number), to: BigInt(o['to'] as number), proof: (o['proof'] as string[]).map(b64ToHex) };
    },
    async entry(index) {
      const r = await request(`${base}/v1/entries/${index}`);
      assert.equal(r.status, 200);
      return r.body.toString('hex');
    },
    async checkpoint() {
      const r = await request(`${base}/checkpoint`);
      assert.equal(r.status, 200);
      return r.body.toString('utf8');
    },
  };
}

function grpcFrontEnd(c: LogClient): FrontEnd {
  return {
    name: 'gRPC',
    async append(entries) {
      const r = await c.append(entries, { waitPublished: true });
      assert.equal(r.error, null);
      return {
        results: r.entries.map((e) => ({ index: BigInt(e.index), leafHash: hex(e.leafHash), duplicate: e.duplicate, proof: e.proof.map(hex) })),
        checkpoint: r.checkpoint.toString('utf8'),
        treeSize: BigInt(r.treeSize),
      };
    },
    async inclusion(q) {
      const p = await c.getInclusionProof(q);
      return { index: BigInt(p.index), treeSize: BigInt(p.treeSize), leafHash: hex(p.leafHash), proof: p.proof.map(hex), checkpoint: p.checkpoint.length === 0 ? undefined : p.checkpoint.toString('utf8') };
    },
    async consistency(from, to) {
      const p = await c.getConsistencyProof(from, to);
      return { from: BigInt(p.from), to: BigInt(p.to), proof: p.proof.map(hex) };
    },
    async entry(index) {
      return (await c.getEntry(index)).data.toString('hex');
    },
    async checkpoint() {
      return c.getCheckpoint();
    },
  };
}

const jcs = (v: unknown) => Buffer.from(canonicalize(v) as string, 'utf8');
/** Batches of the scenario (canonical JSON, so the HTTP JSON body stores exactly these bytes); with duplicates. */
const SCENARIO: Uint8Array[][] = (() => {
  const e = (i: number) => jcs({ event: 'ingress', i, path: `/conformance/${i}`, run: RUN });
  return [[e(0), e(1), e(2)], [e(3), e(0)], [e(4), e(5), e(6), e(7), e(8)], [e(2)], Array.from({ length: 12 }, (_, k) => e(9 + k))];
})();

/** Writes: append each batch and wait for publication; checks everything verifies; returns a comparable record. */
async function writeScenario(fe: FrontEnd, s: GrpcServerProcess): Promise<{ record: unknown; cps: Cp[] }> {
  const record: unknown[] = [];
  const cps: Cp[] = [];
  for (const [k, batch] of SCENARIO.entries()) {
    const r = await fe.append(batch);
    const cp = openCp(r.checkpoint, s);
    assert.equal(cp.treeSize, r.treeSize, `${fe.name} batch ${k}: tree size is the checkpoint's`);
    r.results.forEach((x, i) => {
      assert.equal(x.leafHash, hex(leafHash(batch[i] as Uint8Array)), `${fe.name} batch ${k} entry ${i}: leaf hash`);
      const proof = x.proof.map((p) => new Uint8Array(Buffer.from(p, 'hex')));
      assert.ok(verifyInclusion(leafHash(batch[i] as Uint8Array), x.index, cp.treeSize, proof, cp.rootHash), `${fe.name} batch ${k} entry ${i}: proof verifies`);
    });
    cps.push(cp);
    record.push({ results: r.results, treeSize: r.treeSize, root: hex(cp.rootHash) });
  }
  return { record, cps };
}

/** Reads: every inclusion proof at every checkpoint size, by index and by hash, every consistency proof, every entry. */
async function readScenario(fe: FrontEnd, s: GrpcServerProcess, cps: readonly Cp[]): Promise<unknown> {
  const out: unknown[] = [];
  const latest = openCp(await fe.checkpoint(), s);
  const sizes = [...new Set(cps.map((x) => x.treeSize))];
  const roots = new Map(cps.map((x) => [x.treeSize, x.rootHash]));
  for (let i = 0n; i < latest.treeSize; i++) {
    const data = await fe.entry(i);
    const lh = leafHash(Buffer.from(data, 'hex'));
    out.push({ entry: i, data });
    for (const size of [...sizes.filter((x) => x > i), undefined]) {
      const p = await fe.inclusion({ index: i, ...(size === undefined ? {} : { treeSize: size }) });
      const byHash = await fe.inclusion({ leafHash: lh, ...(size === undefined ? {} : { treeSize: size }) });
      assert.deepEqual(byHash, p, `${fe.name}: by hash = by index (${i}, ${size})`);
      const root = size === undefined ? latest.rootHash : (roots.get(size) as Hash);
      assert.ok(verifyInclusion(lh, i, p.treeSize, p.proof.map((x) => new Uint8Array(Buffer.from(x, 'hex'))), root), `${fe.name}: inclusion ${i} at ${p.treeSize}`);
      if (p.checkpoint !== undefined) assert.equal(openCp(p.checkpoint, s).treeSize, latest.treeSize);
      out.push({ index: p.index, treeSize: p.treeSize, leafHash: p.leafHash, proof: p.proof, withCheckpoint: p.checkpoint !== undefined });
    }
  }
  for (const from of [0n, ...sizes]) {
    for (const to of [...sizes.filter((x) => x >= from), undefined]) {
      const p = await fe.consistency(from, to);
      const oldRoot = from === 0n ? EMPTY_ROOT : (roots.get(from) as Hash);
      const newRoot = to === undefined ? latest.rootHash : (roots.get(to) as Hash);
      assert.ok(verifyConsistency(from, p.to, oldRoot, newRoot, p.proof.map((x) => new Uint8Array(Buffer.from(x, 'hex')))), `${fe.name}: consistency ${from} → ${p.to}`);
      out.push(p);
    }
  }
  out.push({ latest: latest.treeSize, root: hex(latest.rootHash) });
  return out;
}

describe('conformance: HTTP and gRPC give identical results', () => {
  test('the same scenario (append → wait published → prove → verify → consistency) over HTTP on one server and gRPC on another; both front ends of each server agree', async () => {
    // G is the main server (its log still empty: this suite runs first), H a second one with the same flags.
    const [h, g] = await Promise.all([servers.confH, servers.main]);
    const hc = new LogClient(h.grpc);
    const gc = new LogClient(g.grpc);
    try {
      const [viaHttp, viaGrpc] = await Promise.all([writeScenario(httpFrontEnd(h), h), writeScenario(grpcFrontEnd(gc), g)]);
      assert.deepEqual(viaGrpc.record, viaHttp.record, 'appends: same indexes, leaf hashes, duplicate flags, proofs, sizes and roots');
      const reads = await Promise.all([readScenario(httpFrontEnd(h), h, viaHttp.cps), readScenario(grpcFrontEnd(hc), h, viaHttp.cps), readScenario(httpFrontEnd(g), g, viaGrpc.cps), readScenario(grpcFrontEnd(gc), g, viaGrpc.cps)]);
      assert.deepEqual(reads[1], reads[0], 'server H: gRPC reads = HTTP reads');
      assert.deepEqual(reads[3], reads[2], 'server G: gRPC reads = HTTP reads');
      assert.deepEqual(reads[2], reads[0], 'server G = server H');
      // The checkpoints of each server also agree between its front ends, byte for byte.
      assert.equal(await grpcFrontEnd(hc).checkpoint(), await httpFrontEnd(h).checkpoint());
      assert.equal(await grpcFrontEnd(gc).checkpoint(), await httpFrontEnd(g).checkpoint());
    } finally {
      hc.close();
      gc.close();
    }
    await h.proc.stop();
    assert.deepEqual([...h.proc.errorRecords(), ...g.proc.errorRecords()], []);
  });
});

describe('gRPC LogService against the real server', () => {
  let s: GrpcServerProcess;
  let c: LogClient;
  const model = new Model();

  before(async () => {
    // The pushback server starts now (start-up is CPU-bound; the conformance suite should not wait for it).
    servers.pushback = startMarked({ maxPending: 4, batchDelay: '1s', checkpointInterval: '100ms' });
    s = await servers.main;
    c = new LogClient(s.grpc);
    // Whatever an earlier suite appended (the conformance scenario) is part of the model.
    const cp = openCp(await c.getCheckpoint(), s);
    for (let i = 0n; i < cp.treeSize; i++) {
      const e = u8((await c.getEntry(i)).data);
      const h = hex(leafHash(e));
      if (!model.byHash.has(h)) model.byHash.set(h, i);
      model.entries.push(e);
    }
  });

  after(async () => {
    c?.close();
    if (s !== undefined && s.proc.exited === undefined) {
      await s.proc.stop();
      assert.deepEqual(s.proc.errorRecords(), [], 'no error logged by the server');
    }
  });

  test('health (SERVING for "" and tilelog.v1.LogService) and reflection (v1alpha and v1) name the service and its methods', async () => {
    assert.equal(await healthCheck(s.grpc, ''), 'SERVING');
    assert.equal(await healthCheck(s.grpc, 'tilelog.v1.LogService'), 'SERVING');
    const unknown = await grpcError(healthCheck(s.grpc, 'no.such.Service'), 'health of an unknown service');
    assert.equal(unknown.code, grpc.status.NOT_FOUND, describeError(unknown));

    for (const version of ['v1alpha', 'v1'] as const) {
      const r = await reflect(s.grpc, version, 'tilelog.v1.LogService');
      assert.ok(r.services.includes('tilelog.v1.LogService'), `${version} list_services: ${r.services.join(', ')}`);
      const file = r.files.find((f) => (f['service'] as { name: string }[] | undefined)?.some((x) => x.name === 'LogService'));
      assert.ok(file !== undefined, `${version}: a file descriptor declares LogService: ${r.files.map((f) => f['name']).join(', ')}`);
      assert.equal(file['package'], 'tilelog.v1');
      const svc = (file['service'] as { name: string; method: { name: string; inputType: string; outputType: string; clientStreaming?: boolean; serverStreaming?: boolean }[] }[]).find(
        (x) => x.name === 'LogService',
      );
      assert.ok(svc !== undefined);
      assert.deepEqual(svc.method.map((m) => m.name).sort(), ['Append', 'AppendStream', 'GetCheckpoint', 'GetConsistencyProof', 'GetEntry', 'GetInclusionProof', 'WatchCheckpoints']);
      const byName = new Map(svc.method.map((m) => [m.name, m]));
      assert.match(byName.get('Append')?.inputType ?? '', /^\.?tilelog\.v1\.AppendRequest$/);
      assert.equal(byName.get('AppendStream')?.clientStreaming, true);
      assert.equal(byName.get('AppendStream')?.serverStreaming, true);
      assert.equal(byName.get('WatchCheckpoints')?.serverStreaming, true);
      const messages = (file['messageType'] as { name: string }[]).map((m) => m.name);
      for (const m of ['AppendRequest', 'AppendResponse', 'InclusionProof', 'ConsistencyProof', 'Checkpoint', 'Entry']) assert.ok(messages.includes(m), `${version}: message ${m}`);
    }
  });

  test('unary Append: raw bytes, duplicates flagged, wait_published returns a verifying checkpoint and proofs', async () => {
    const first = await c.getCheckpoint();
    const cp0 = model.keep(openCp(first, s));
    assert.equal(cp0.treeSize, model.size, 'the model knows the whole log');

    // Raw bytes, all 256 byte values, no JSON anywhere.
    const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const empty = Buffer.alloc(0);
    const sent1 = [allBytes, Buffer.from([0, 0, 0]), entry('unary', 1), Buffer.from([0xff, 0xfe, 0x0a, 0x0d]), ...(model.byHash.has(hex(leafHash(empty))) ? [] : [empty])];
    const r1 = await c.append(sent1, { id: 'first' });
    assert.equal(r1.id, 'first', 'id echoed');
    model.check(r1, sent1, 'append 1');
    assert.equal(r1.checkpoint.length, 0, 'no checkpoint without wait_published');
    for (const e of r1.entries) assert.deepEqual(e.proof, [], 'no proof without wait_published');
    assert.ok(BigInt(r1.treeSize) >= model.size, `tree_size ${r1.treeSize} covers the entries`);

    // Duplicates: of entries in the log, and within one request; plus new ones. With wait_published.
    const n1 = entry('unary', 2);
    const n2 = entry('unary', 3, 65_535); // the largest entry allowed
    const sent2 = [n1, allBytes, n1, n2, Buffer.from([0, 0, 0])];
    const r2 = await c.append(sent2, { id: 'second', waitPublished: true });
    assert.equal(r2.id, 'second');
    model.check(r2, sent2, 'append 2');
    assert.deepEqual(
      r2.entries.map((e) => e.duplicate),
      [false, true, true, false, true],
    );
    const cp = model.keep(openCp(r2.checkpoint, s));
    assert.equal(r2.treeSize, cp.treeSize.toString(), 'tree_size is the checkpoint size');
    assert.ok(cp.treeSize >= model.size, 'the checkpoint covers every entry');
    r2.entries.forEach((e, i) => {
      const proof = e.proof.map(u8);
      assert.ok(verifyInclusion(u8(e.leafHash), BigInt(e.index), cp.treeSize, proof, cp.rootHash), `entry ${i} (index ${e.index}) proof verifies against the returned checkpoint`);
    });

    // GetEntry returns the bytes.
    for (let i = 0; i < model.entries.length; i++) {
      const got = await c.getEntry(BigInt(i));
      assert.equal(got.index, String(i));
      assert.ok(bytesEqual(u8(got.data), model.entries[i] as Uint8Array), `entry ${i} bytes`);
    }
    // The same entries over HTTP (GET /v1/entries/<i>).
    const r = await request(`${s.baseUrl}/v1/entries/${model.byHash.get(hex(leafHash(allBytes)))}`);
    assert.equal(r.status, 200);
    assert.ok(r.body.equals(allBytes));
  });

  test('GetInclusionProof (by index and by leaf_hash, with and without tree_size) and GetConsistencyProof verify', async () => {
    // Grow the log in a few published steps, keeping each verified checkpoint.
    for (let k = 0; k < 3; k++) {
      const sent = Array.from({ length: 3 + k * 5 }, (_, i) => entry(`proofs ${k}`, i));
      const r = await c.append(sent, { waitPublished: true });
      model.check(r, sent, `proof batch ${k}`);
      model.keep(openCp(r.checkpoint, s));
    }
    const latest = model.keep(await waitPublished(c, s, model.size));
    assert.equal(latest.treeSize, model.size);
    const tiles = new HttpTiles(s.baseUrl);
    const sizes = [...model.cps.keys()].filter((x) => x > 0n).sort((a, b) => (a < b ? -1 : 1));
    for (const size of sizes) {
      const cp = model.cps.get(size) as Cp;
      assert.ok(bytesEqual(await tiles.rootFromTiles(size), cp.rootHash), `root from tiles at ${size} is the checkpoint's`);
    }

    const indexes = [0n, 1n, 4n, model.size / 2n, model.size - 1n];
    for (const i of indexes) {
      const lh = leafHash(model.entries[Number(i)] as Uint8Array);
      // Default size: the published one, with its checkpoint.
      const p = await c.getInclusionProof({ index: i });
      assert.equal(p.index, i.toString());
      assert.equal(p.treeSize, latest.treeSize.toString());
      assert.equal(hex(p.leafHash), hex(lh));
      assert.ok(verifyInclusion(lh, i, latest.treeSize, p.proof.map(u8), latest.rootHash), `inclusion of ${i} at the published size`);
      const pc = openCp(p.checkpoint, s);
      assert.equal(pc.treeSize, latest.treeSize);
      assert.ok(bytesEqual(pc.rootHash, latest.rootHash));
      // By leaf hash: the same proof.
      const ph = await c.getInclusionProof({ leafHash: lh });
      assert.equal(ph.index, i.toString());
      assert.deepEqual(ph.proof.map(hex), p.proof.map(hex));
      // At every older checkpoint size that holds it (no checkpoint returned unless it is the published size).
      for (const size of sizes) {
        if (size <= i) continue;
        const cp = model.cps.get(size) as Cp;
        for (const q of [{ index: i, treeSize: size }, { leafHash: lh, treeSize: size }]) {
          const ps = await c.getInclusionProof(q);
          assert.equal(ps.treeSize, size.toString());
          assert.equal(ps.index, i.toString());
          assert.ok(verifyInclusion(lh, i, size, ps.proof.map(u8), cp.rootHash), `inclusion of ${i} at ${size} (${'index' in q ? 'index' : 'leaf_hash'})`);
          const expected = await tileInclusionProof(i, size, tiles.reader);
          assert.deepEqual(ps.proof.map(hex), expected.map(hex), `the proof of ${i} at ${size} is the one computed from tiles`);
          if (size === latest.treeSize) assert.ok(ps.checkpoint.length > 0);
          else assert.equal(ps.checkpoint.length, 0, `no checkpoint at the unpublished size ${size}`);
        }
      }
    }

    // Consistency between every pair of checkpoints seen, and to the published size by default.
    for (const from of [0n, ...sizes]) {
      const old = from === 0n ? { rootHash: EMPTY_ROOT } : (model.cps.get(from) as Cp);
      for (const to of sizes) {
        if (to < from) continue;
        const p = await c.getConsistencyProof(from, to);
        assert.equal(p.from, from.toString());
        assert.equal(p.to, to.toString());
        const cpTo = model.cps.get(to) as Cp;
        assert.ok(verifyConsistency(from, to, old.rootHash, cpTo.rootHash, p.proof.map(u8)), `consistency ${from} → ${to}`);
        if (from > 0n && to > from) assert.deepEqual(p.proof.map(hex), (await tileConsistencyProof(from, to, tiles.reader)).map(hex));
      }
      const d = await c.getConsistencyProof(from);
      assert.equal(d.to, latest.treeSize.toString(), 'default to: the published size');
      assert.ok(verifyConsistency(from, latest.treeSize, old.rootHash, latest.rootHash, d.proof.map(u8)));
    }
  });

  test('WatchCheckpoints: the current checkpoint, then every newly published one, each verifying and consistent with the previous', async () => {
    const current = openCp(await c.getCheckpoint(), s);
    const w1 = c.watchCheckpoints({ deadlineMs: 30_000 });
    const w2 = c.watchCheckpoints({ deadlineMs: 30_000 });
    const r1 = new StreamReader<CheckpointMsg>(w1);
    const r2 = new StreamReader<CheckpointMsg>(w2);
    try {
      const first = openCp((await r1.next(5_000, 'first watched checkpoint')).checkpoint, s);
      assert.equal(first.treeSize, current.treeSize, 'the watch starts with the current checkpoint');
      assert.ok(bytesEqual(first.rootHash, current.rootHash));
      assert.equal(openCp((await r2.next(5_000, 'first checkpoint of the second watcher')).checkpoint, s).treeSize, current.treeSize);

      const seen1: Cp[] = [first];
      const seen2: bigint[] = [first.treeSize];
      const consistent = async (prev: Cp, next: Cp, what: string) => {
        assert.ok(next.treeSize > prev.treeSize, `${what}: size grows (${prev.treeSize} → ${next.treeSize}); no checkpoint sent twice`);
        const p = await c.getConsistencyProof(prev.treeSize, next.treeSize);
        assert.ok(verifyConsistency(prev.treeSize, next.treeSize, prev.rootHash, next.rootHash, p.proof.map(u8)), `${what}: consistent with the previous`);
      };
      // One append per publication: each must be delivered, exactly at the size appended.
      for (let k = 0; k < 4; k++) {
        const sent = Array.from({ length: k + 1 }, (_, i) => entry(`watch ${k}`, i));
        model.check(await c.append(sent), sent, `watch append ${k}`);
        const next = openCp((await r1.next(5_000, `checkpoint after append ${k}`)).checkpoint, s);
        assert.equal(next.treeSize, model.size, `watch delivers the checkpoint of size ${model.size}`);
        await consistent(seen1[seen1.length - 1] as Cp, next, `watched checkpoint ${k}`);
        seen1.push(model.keep(next));
        seen2.push(openCp((await r2.next(5_000, `second watcher, append ${k}`)).checkpoint, s).treeSize);
      }
      // Several appends within one interval: one or more checkpoints, the last covering them all.
      for (let k = 0; k < 3; k++) {
        const sent = [entry('watch burst', k)];
        model.check(await c.append(sent), sent, `burst ${k}`);
      }
      for (;;) {
        const next = openCp((await r1.next(5_000, 'checkpoint after the burst')).checkpoint, s);
        await consistent(seen1[seen1.length - 1] as Cp, next, 'burst');
        seen1.push(model.keep(next));
        if (next.treeSize === model.size) break;
        assert.ok(next.treeSize < model.size);
      }
      for (;;) {
        const size = openCp((await r2.next(5_000, 'second watcher after the burst')).checkpoint, s).treeSize;
        seen2.push(size);
        if (size === model.size) break;
      }
      assert.deepEqual(seen2, seen1.map((x) => x.treeSize), 'both watchers see the same checkpoints');
      // Nothing new while idle (more than two intervals).
      await sleep(600);
      assert.equal(r1.buffered, 0, 'no checkpoint is sent while the tree does not grow');
    } finally {
      w1.cancel();
      w2.cancel();
    }
    await r1.drain(5_000).catch(() => {});
    assert.equal(r1.error && (r1.error as grpc.ServiceError).code, grpc.status.CANCELLED, 'the watch ends when the client cancels');
  });

  test('AppendStream: 100,000 entries in batches of 1,000 — every batch acknowledged once, in order, ids echoed, indexes distinct and contiguous', async () => {
    const BATCHES = 100;
    const PER = 1000;
    const start = model.size;
    const call = c.appendStream({ deadlineMs: 60_000 });
    const reader = new StreamReader<AppendResponse>(call);
    const sent: Buffer[][] = [];
    const writer = (async () => {
      for (let b = 0; b < BATCHES; b++) {
        const entries = Array.from({ length: PER }, (_, i) => entry(`stream ${b}`, i));
        sent.push(entries);
        if (!call.write({ id: `batch-${b}`, entries })) await withTimeout(once(call, 'drain'), 30_000, `drain before batch ${b + 1}`);
      }
      call.end();
    })();
    const acked: [bigint, Uint8Array][] = [];
    for (let b = 0; b < BATCHES; b++) {
      const ack = await reader.next(30_000, `ack of batch ${b}`);
      assert.equal(ack.id, `batch-${b}`, `acks in order: ack ${b}`);
      assert.equal(ack.error, null, `batch ${b}: ${JSON.stringify(ack.error)}`);
      assert.equal(ack.entries.length, PER, `batch ${b}: one result per entry`);
      const entries = sent[b] as Buffer[];
      ack.entries.forEach((e, i) => {
        if (e.duplicate) assert.fail(`batch ${b} entry ${i}: flagged duplicate`);
        if (!bytesEqual(u8(e.leafHash), leafHash(entries[i] as Buffer))) assert.fail(`batch ${b} entry ${i}: wrong leaf hash`);
        acked.push([BigInt(e.index), entries[i] as Buffer]);
      });
    }
    await writer;
    const rest = await reader.drain(15_000, 'end of the append stream');
    assert.deepEqual(rest, [], 'no acknowledgement beyond one per batch');
    assert.equal(reader.status?.code, grpc.status.OK, `stream status ${reader.status?.details}`);
    assert.equal(acked.length, BATCHES * PER);
    model.recordStream(acked, '100,000-entry stream');
    assert.equal(model.size, start + BigInt(BATCHES * PER));
    // The published checkpoint covers them all; a sample of proofs and entries.
    const cp = model.keep(await waitPublished(c, s, model.size));
    for (const [b, i] of [
      [0, 0],
      [50, 500],
      [99, 999],
    ] as const) {
      const e = (sent[b] as Buffer[])[i] as Buffer;
      const p = await c.getInclusionProof({ leafHash: leafHash(e) });
      assert.ok(verifyInclusion(leafHash(e), BigInt(p.index), cp.treeSize, p.proof.map(u8), cp.rootHash));
      const got = await c.getEntry(BigInt(p.index));
      assert.ok(got.data.equals(e));
    }
    for (const i of [start, start + 54_321n, model.size - 1n]) {
      const got = await c.getEntry(i);
      assert.ok(bytesEqual(u8(got.data), model.entries[Number(i)] as Uint8Array), `GetEntry(${i}) returns the bytes acknowledged at ${i}`);
    }
  });

  test('AppendStream flow control: 500 batches written without reading do not grow the server RSS without bound; all acks arrive once the client reads', async (t) => {
    const BATCHES = 500;
    const PER = 40;
    const SIZE = 1536; // 60 KiB per batch, 30 MiB in all; an acknowledgement is ~1.6 KiB
    const pid = s.proc.pid;
    const integrated = async () => BigInt(((await getJson(`${s.baseUrl}/v1/log`)).json as { integratedTreeSize: number }).integratedTreeSize);
    const before = rssBytes(pid);
    const sizeBefore = await integrated();
    const call = c.appendStream({ deadlineMs: 90_000 });
    let failed: Error | undefined;
    call.on('error', (err: Error) => (failed = err));
    // One read request, then nothing: grpc-js only applies HTTP/2 backpressure to a call's responses once the
    // application has asked to read (before that it buffers every response in the client, without bound, and
    // the server never sees a slow reader). After this, at most 16 responses wait in the client's stream buffer.
    call.read(0);
    const sent: Buffer[][] = [];
    for (let b = 0; b < BATCHES; b++) {
      const entries = Array.from({ length: PER }, (_, i) => entry(`flow ${b}`, i, SIZE));
      sent.push(entries);
      call.write({ id: `flow-${b}`, entries }); // ignoring backpressure: the client buffers what the server does not take
    }
    call.end();
    // Not reading: wait until the server stopped sequencing (bounded), sampling its RSS.
    let peak = before;
    let last = -1n;
    let stable = 0;
    const deadline = Date.now() + 8_000;
    while (stable < 3) {
      if (Date.now() > deadline) assert.fail(`the server never stopped taking batches from a stream whose acks are not read (${last - sizeBefore} entries sequenced)`);
      await sleep(150);
      peak = Math.max(peak, rssBytes(pid));
      const now = await integrated();
      stable = now === last ? stable + 1 : 0;
      last = now;
    }
    const sequenced = Number(last - sizeBefore);
    const plateau = rssBytes(pid);
    await sleep(300);
    const later = rssBytes(pid);
    const growth = Math.max(peak, later) - before;
    const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
    const payload = BATCHES * PER * SIZE;
    t.diagnostic(`stalled stream: ${sequenced} of ${BATCHES * PER} entries sequenced; server RSS ${mib(before)} → peak ${mib(peak)}, then ${mib(later)}`);
    assert.equal(failed, undefined, `the stream did not fail while not read: ${failed?.message}`);
    assert.ok(call.readableLength <= 16, `the client holds at most a stream buffer of acknowledgements (${call.readableLength})`);
    assert.ok(sequenced < (BATCHES * PER) / 2, `the server stopped reading: ${sequenced} of ${BATCHES * PER} entries sequenced while the client did not read acks`);
    assert.ok(growth < 64 * 2 ** 20, `server RSS grew by ${mib(growth)} (from ${mib(before)}) while an unread stream offered ${mib(payload)}; ${sequenced} entries were sequenced meanwhile`);
    assert.ok(later - plateau < 8 * 2 ** 20, `server RSS keeps growing while the stream is stalled: ${mib(plateau)} → ${mib(later)} in 300 ms`);

    // Now read: every batch acknowledged, in order.
    const reader = new StreamReader<AppendResponse>(call);
    const acked: [bigint, Uint8Array][] = [];
    for (let b = 0; b < BATCHES; b++) {
      const ack = await reader.next(30_000, `flow-control ack ${b}`);
      assert.equal(ack.id, `flow-${b}`, `acks in order: ack ${b}`);
      assert.equal(ack.error, null, `batch ${b}: ${JSON.stringify(ack.error)}`);
      assert.equal(ack.entries.length, PER);
      const entries = sent[b] as Buffer[];
      ack.entries.forEach((e, i) => {
        if (e.duplicate || !bytesEqual(u8(e.leafHash), leafHash(entries[i] as Buffer))) assert.fail(`batch ${b} entry ${i}: bad result`);
        acked.push([BigInt(e.index), entries[i] as Buffer]);
      });
    }
    assert.deepEqual(await reader.drain(15_000, 'end of the flow-control stream'), []);
    assert.equal(reader.status?.code, grpc.status.OK);
    model.recordStream(acked, 'flow-control stream');
    assert.ok(s.proc.stderrLines.every((l) => !/MaxListenersExceeded|memory leak/i.test(l)), `no listener-leak warning on stderr:\n${s.proc.stderrLines.join('\n')}`);
  });

  /** Sends one malformed message on an AppendStream (raw bytes); resolves with the final status code. */
  let malformedStream: Promise<{ code: number | undefined; message: string }> | undefined;
  const malformedAppendStream = async () => {
    // A short deadline: a server that never answers shows up as DEADLINE_EXCEEDED instead of a long wait.
    const { client, call } = rawBidi(s.grpc, '/tilelog.v1.LogService/AppendStream', { deadlineMs: 2_000 });
    const reader = new StreamReader<Buffer>(call);
    call.write(Buffer.from([0x12, 0x10, 0x01]));
    call.end();
    await reader.drain(5_000, 'malformed AppendStream').catch(() => {});
    client.close();
    return { code: (reader.error as grpc.ServiceError | undefined)?.code ?? reader.status?.code, message: reader.error?.message ?? '' };
  };

  test('errors: OUT_OF_RANGE, NOT_FOUND, an entry of 65,536 bytes, malformed protobuf (INVALID_ARGUMENT, never INTERNAL), a message over --max-body (RESOURCE_EXHAUSTED); the server stays healthy', async () => {
    // Runs alongside (checked by the next test).
    malformedStream = malformedAppendStream();
    malformedStream.catch(() => {});
    const seed = Array.from({ length: 10 }, (_, i) => entry('errors seed', i));
    model.check(await c.append(seed), seed, 'seed');
    const cp = await waitPublished(c, s, model.size);
    const size = model.size;
    assert.equal(cp.treeSize, size);
    const beyond = [
      ['GetInclusionProof index = size', c.getInclusionProof({ index: size })],
      ['GetInclusionProof index ≫ size', c.getInclusionProof({ index: size + 1000n })],
      ['GetInclusionProof tree_size beyond the tree', c.getInclusionProof({ index: 0n, treeSize: size + 1n })],
      ['GetInclusionProof index not in tree_size', c.getInclusionProof({ index: 5n, treeSize: 5n })],
      ['GetEntry beyond the tree', c.getEntry(size)],
      ['GetConsistencyProof to beyond the tree', c.getConsistencyProof(1n, size + 1n)],
    ] as const;
    for (const [what, p] of beyond) {
      const e = await grpcError(p, what);
      assert.equal(e.code, grpc.status.OUT_OF_RANGE, `${what}: ${describeError(e)}`);
      assert.equal(e.metadata.get('tilelog-error-code')[0], 'OUT_OF_RANGE');
    }
    const nf = await grpcError(c.getInclusionProof({ leafHash: leafHash(Buffer.from(`never appended ${RUN}`)) }), 'unknown leaf hash');
    assert.equal(nf.code, grpc.status.NOT_FOUND, describeError(nf));
    for (const [what, p] of [
      ['leaf_hash of 31 bytes', c.getInclusionProof({ leafHash: new Uint8Array(31) })],
      ['neither index nor leaf_hash', c.unary('GetInclusionProof', {})],
      ['from > to', c.getConsistencyProof(3n, 2n)],
      ['Append without entries', c.append([])],
    ] as const) {
      const e = await grpcError(p, what);
      assert.equal(e.code, grpc.status.INVALID_ARGUMENT, `${what}: ${describeError(e)}`);
    }

    // Entry size limit: 65,535 is fine (appended earlier), 65,536 is INVALID_ARGUMENT naming the limit; nothing added.
    const tooBig = await grpcError(c.append([entry('ok', 1), Buffer.alloc(65_536, 7)]), 'entry of 65,536 bytes');
    assert.equal(tooBig.code, grpc.status.INVALID_ARGUMENT, describeError(tooBig));
    assert.match(tooBig.details, /65535|65,535/, 'the message names the limit');
    assert.equal(tooBig.metadata.get('tilelog-error-code')[0], 'TOO_LARGE');

    // Malformed protobuf bytes, sent raw: INVALID_ARGUMENT on every method, never INTERNAL.
    const garbage: [string, Buffer][] = [
      ['invalid wire type 7', Buffer.from([0x0f])],
      ['truncated varint', Buffer.from([0x08, 0xff])],
      ['length beyond the message', Buffer.from([0x12, 0x10, 0x01])],
      ['truncated 64-bit field', Buffer.from([0x09, 0x01, 0x02])],
      ['end-group without start', Buffer.from([0x0c])],
    ];
    for (const method of ['Append', 'GetEntry', 'GetInclusionProof', 'GetConsistencyProof', 'GetCheckpoint']) {
      for (const [what, bytes] of garbage) {
        const e = await grpcError(rawUnary(s.grpc, `/tilelog.v1.LogService/${method}`, bytes), `${method} with ${what}`);
        assert.equal(e.code, grpc.status.INVALID_ARGUMENT, `${method} with ${what}: ${describeError(e)}`);
      }
    }
    // A raw but valid request still works (the identity path is fine).
    const okRaw = await rawUnary(s.grpc, '/tilelog.v1.LogService/GetCheckpoint', Buffer.alloc(0));
    assert.ok(okRaw.length > 0);

    // A message over --max-body (1 MiB): RESOURCE_EXHAUSTED from grpc-js, and the server survives.
    const huge = Array.from({ length: 20 }, (_, i) => entry('huge', i, 60_000));
    const big = await grpcError(c.append(huge), 'a 1.2 MB Append');
    assert.equal(big.code, grpc.status.RESOURCE_EXHAUSTED, describeError(big));
    const bigStream = c.appendStream({ deadlineMs: 10_000 });
    const bigReader = new StreamReader<AppendResponse>(bigStream);
    bigStream.write({ id: 'huge', entries: huge });
    bigStream.end();
    await bigReader.drain(10_000, 'oversized AppendStream message').catch(() => {});
    assert.equal((bigReader.error as grpc.ServiceError | undefined)?.code, grpc.status.RESOURCE_EXHAUSTED, `oversized stream message: ${bigReader.error?.message}`);

    // Still healthy and working, nothing was appended by the failures.
    assert.equal(s.proc.exited, undefined, 'the server is still running');
    assert.equal(await healthCheck(s.grpc, ''), 'SERVING');
    assert.equal(await healthCheck(s.grpc, 'tilelog.v1.LogService'), 'SERVING');
    const after = [entry('after errors', 1)];
    const r = await c.append(after, { waitPublished: true });
    model.check(r, after, 'append after the errors');
    assert.equal(r.treeSize, model.size.toString(), 'nothing was appended by the failed requests');
    assert.equal((await request(`${s.baseUrl}/healthz`)).status, 200);
    assert.deepEqual(s.proc.errorRecords(), [], 'no error logged (a client mistake is not a server error)');
    const metrics = (await request(`${s.baseUrl}/metrics`)).body.toString('utf8');
    assert.doesNotMatch(metrics, /tilelog_grpc_calls_total\{[^}]*code="13"[^}]*\}/, 'no INTERNAL among the gRPC calls');
    assert.doesNotMatch(metrics, /tilelog_errors_total\{code="INTERNAL"\}/);
  });
  test('a malformed message in an AppendStream ends the stream with INVALID_ARGUMENT (not a hang, not INTERNAL); the server stays healthy', async () => {
    const { code, message } = await (malformedStream ?? malformedAppendStream());
    assert.equal(code, grpc.status.INVALID_ARGUMENT, `malformed AppendStream message: ${statusName(code ?? -1)} ${message}`);
    assert.equal(await healthCheck(s.grpc, 'tilelog.v1.LogService'), 'SERVING');
    assert.deepEqual(s.proc.errorRecords(), []);
  });
});

describe('gRPC pushback', () => {
  /** Requests refused with PUSHBACK by the first test (unary calls and stream batches). */
  let refusedUnary = 0;
  let refusedInStream = 0;

  after(async () => {
    const s = await servers.pushback;
    if (s.proc.exited === undefined) await s.proc.stop();
    assert.deepEqual(s.proc.errorRecords(), []);
  });

  test('a full pool answers UNAVAILABLE with a retry-after trailer and google.rpc.Status + RetryInfo; in a stream, the batch fails and the stream goes on', async () => {
    const s = await servers.pushback;
    const c = new LogClient(s.grpc);
    try {
      const N = 12;
      const entries = Array.from({ length: N }, (_, i) => entry('pushback', i));
      // Fire them all; the refused ones answer at once, the pooled ones after the 1 s batch delay.
      const outcomes: (PromiseSettledResult<AppendResponse> | undefined)[] = new Array(N).fill(undefined);
      const all = entries.map((e, i) =>
        c.append([e]).then(
          (value) => void (outcomes[i] = { status: 'fulfilled', value }),
          (reason: unknown) => void (outcomes[i] = { status: 'rejected', reason }),
        ),
      );
      await pollUntil('the refused appends answered', 5_000, () => (outcomes.filter((o) => o?.status === 'rejected').length >= N - 4 ? true : undefined), 5);
      const busy = outcomes.filter((r): r is PromiseRejectedResult => r?.status === 'rejected');
      assert.ok(busy.length >= N - 4, `at most 4 pooled`);
      refusedUnary = busy.length;
      for (const r of busy) {
        const e = r.reason as grpc.ServiceError;
        assert.equal(e.code, grpc.status.UNAVAILABLE, describeError(e));
        const ra = e.metadata.get('retry-after')[0];
        assert.ok(typeof ra === 'string' && /^[1-9][0-9]*$/.test(ra), `retry-after trailer: ${String(ra)}`);
        assert.equal(e.metadata.get('tilelog-error-code')[0], 'PUSHBACK');
        const bin = e.metadata.get('grpc-status-details-bin')[0];
        assert.ok(Buffer.isBuffer(bin), 'grpc-status-details-bin trailer');
        const st = decodeStatusDetails(bin);
        assert.equal(st.code, grpc.status.UNAVAILABLE);
        assert.equal(st.message, e.details);
        const retry = st.details.find((d) => d.typeUrl === 'type.googleapis.com/google.rpc.RetryInfo');
        assert.ok(retry !== undefined, `RetryInfo detail: ${JSON.stringify(st.details)}`);
        const delay = retry.value['retryDelay'] as { seconds: string; nanos: number } | null;
        assert.ok(delay !== null && Number(delay.seconds) >= 1, `retry_delay: ${JSON.stringify(delay)}`);
        assert.equal(Number(delay.seconds), Number(ra), 'RetryInfo and retry-after agree');
        const info = st.details.find((d) => d.typeUrl === 'type.googleapis.com/google.rpc.ErrorInfo');
        assert.equal(info?.value['reason'], 'PUSHBACK');
      }

      // In a stream while the pool is still full: each batch gets an error ack (in order), the stream goes on.
      const call = c.appendStream({ deadlineMs: 20_000 });
      const reader = new StreamReader<AppendResponse>(call);
      for (let b = 0; b < 3; b++) call.write({ id: `busy-${b}`, entries: [entry('stream pushback', b)] });
      for (let b = 0; b < 3; b++) {
        const ack = await reader.next(10_000, `pushback ack ${b}`);
        assert.equal(ack.id, `busy-${b}`);
        assert.deepEqual(ack.entries, []);
        assert.ok(ack.error !== null, `batch ${b} failed`);
        assert.equal(ack.error.status, grpc.status.UNAVAILABLE);
        assert.equal(ack.error.code, 'PUSHBACK');
        assert.ok(ack.error.retryAfterSeconds >= 1);
        refusedInStream++;
      }
      // After the pool drained, the same stream accepts a batch.
      await withTimeout(Promise.all(all), 10_000, 'the pooled appends');
      const ok = outcomes.filter((r): r is PromiseFulfilledResult<AppendResponse> => r?.status === 'fulfilled');
      assert.equal(ok.length + busy.length, N, `only OK and UNAVAILABLE: ${outcomes.map((o) => (o?.status === 'rejected' ? describeError(o.reason as grpc.ServiceError) : 'OK')).join('; ')}`);
      assert.ok(ok.length >= 1 && ok.length <= 4, `1..4 accepted, got ${ok.length}`);
      assert.deepEqual(ok.map((r) => r.value.entries[0]?.index).sort(), Array.from({ length: ok.length }, (_, i) => String(i)), 'the accepted ones got indexes 0..n-1');
      call.write({ id: 'after', entries: [entry('stream pushback', 0)] });
      call.end();
      const ack = await reader.next(10_000, 'ack after the pool drained');
      assert.equal(ack.id, 'after');
      assert.equal(ack.error, null, JSON.stringify(ack.error));
      assert.equal(ack.entries.length, 1);
      assert.equal(ack.entries[0]?.index, String(ok.length));
      await reader.drain(10_000);
      assert.equal(reader.status?.code, grpc.status.OK);
      const metrics = (await request(`${s.baseUrl}/metrics`)).body.toString('utf8');
      assert.match(metrics, /tilelog_errors_total\{code="PUSHBACK"\} ([1-9][0-9]*)/);
    } finally {
      c.close();
    }
  });

  test('gRPC pushback is counted in tilelog_pushback_total, as HTTP pushback is', async () => {
    const s = await servers.pushback;
    const metrics = (await request(`${s.baseUrl}/metrics`)).body.toString('utf8');
    const m = /^tilelog_pushback_total ([0-9]+)$/m.exec(metrics);
    assert.ok(m !== null, 'tilelog_pushback_total is exported');
    assert.ok(refusedUnary > 0, 'the previous test saw pushback');
    assert.ok(Number(m[1]) >= refusedUnary, `tilelog_pushback_total is ${m[1]} after ${refusedUnary} unary calls (and ${refusedInStream} stream batches) were refused with PUSHBACK over gRPC`);
  });
});

