/**
 * The fault-test machinery of the log server (used by test/e2e/crash-consistency.test.ts with LevelDB and by
 * test/e2e/s3-crash.test.ts with an S3 bucket, unchanged): concurrent writers, a checkpoint poller and a tile
 * reader that record everything clients were told ({@link Record_}), and {@link verifyAgainstRecord}, which checks a
 * restarted server against that record.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { TlogError } from '../../server/core/errors.js';
import { leafHash, type Hash } from '../../server/core/hash.js';
import { verifyConsistency, verifyInclusion } from '../../server/core/proof.js';
import { bytesEqual, encodeHex } from '../../server/core/strict.js';
import { ProofBuilder } from '../../clients/tlog/proofs.js';
import { HttpTiles, fetchCheckpoint, getJson, postEntries, request, verifyCheckpoint, type VerifiedCheckpoint } from './http-tiles.js';
import { ServerProcess, sleep, withTimeout, type ServerOptions } from './server-process.js';

/** mulberry32: a small seeded PRNG in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const hex = (h: Uint8Array) => encodeHex(h);

/** A network-level failure (connection refused/reset, timeout): expected around a kill, proves nothing. */
export function isNetworkError(err: unknown): boolean {
  const name = (err as { name?: string })?.name;
  return err instanceof TypeError || name === 'TimeoutError' || name === 'AbortError';
}

/** Everything the clients were told and saw, across restarts. */
export class Record_ {
  /** Acknowledged entries by index. */
  readonly acked = new Map<bigint, { leafHash: string; entry: Uint8Array }>();
  readonly byHash = new Map<string, bigint>();
  /** Verified checkpoints seen (at /checkpoint or in ?wait=published replies), by size. */
  readonly seen = new Map<bigint, VerifiedCheckpoint>();
  /** Things that must never happen; the test fails if any is recorded. */
  readonly problems: string[] = [];
  statuses = new Map<string, number>();

  count(what: string): void {
    this.statuses.set(what, (this.statuses.get(what) ?? 0) + 1);
  }

  ack(index: bigint, lh: Hash, entry: Uint8Array, duplicate: boolean, what: string): void {
    const h = hex(lh);
    if (h !== hex(leafHash(entry))) this.problems.push(`${what}: leaf hash ${h} is not SHA-256(0x00 || entry)`);
    const prev = this.acked.get(index);
    if (prev !== undefined && prev.leafHash !== h) this.problems.push(`${what}: index ${index} acknowledged for two different entries`);
    const prevIndex = this.byHash.get(h);
    if (prevIndex !== undefined && prevIndex !== index) this.problems.push(`${what}: entry ${h} acknowledged at ${prevIndex} and at ${index}`);
    if (duplicate && prevIndex === undefined && prev === undefined) {
      // A duplicate of an entry we never saw acknowledged: only possible if an earlier, unacknowledged request was
      // committed (fine) — but our entries are unique per request, so note it.
      this.problems.push(`${what}: fresh entry reported as duplicate at ${index}`);
    }
    this.acked.set(index, { leafHash: h, entry });
    this.byHash.set(h, index);
  }

  see(cp: VerifiedCheckpoint, what: string): void {
    const prev = this.seen.get(cp.treeSize);
    if (prev !== undefined && hex(prev.rootHash) !== hex(cp.rootHash)) this.problems.push(`${what}: two signed checkpoints of size ${cp.treeSize} with different roots`);
    this.seen.set(cp.treeSize, cp);
  }

  get maxAcked(): bigint {
    let m = -1n;
    for (const i of this.acked.keys()) if (i > m) m = i;
    return m;
  }
}

export interface Load {
  stop(): void;
  done: Promise<void>;
}

/**
 * Starts concurrent clients against `s`: `writers` posting batches of unique entries (NDJSON, JSON arrays, single
 * octet-stream entries; some with ?wait=published), a checkpoint poller, and a reader that rebuilds the latest seen
 * root from tiles. All loops are bounded in iterations and by `deadline`.
 */
export function startLoad(s: ServerProcess, rec: Record_, rng: () => number, tag: string, writers: number, deadline: number): Load {
  let stopped = false;
  const running = () => !stopped && Date.now() < deadline;
  let serial = 0;

  const writer = async (w: number) => {
    for (let n = 0; n < 5000 && running(); n++) {
      const k = 1 + Math.floor(rng() * 40);
      const mode = rng();
      const wait = rng() < 0.2;
      // Keys in RFC 8785 order and plain values, so JSON.stringify gives the canonical bytes the log stores.
      const vals = Array.from({ length: mode < 0.15 ? 1 : k }, () => ({ r: Math.floor(rng() * 1e9), s: serial++, t: tag, w }));
      const sent = vals.map((v) => Buffer.from(JSON.stringify(v)));
      let body: string | Uint8Array;
      let ct: string;
      if (mode < 0.15) {
        body = sent[0] as Buffer;
        ct = 'application/octet-stream';
      } else if (mode < 0.55) {
        body = vals.map((v) => JSON.stringify(v)).join('\n');
        ct = 'application/x-ndjson';
      } else {
        body = JSON.stringify(vals);
        ct = 'application/json';
      }
      const what = `${tag} writer ${w} request ${n}`;
      try {
        const r = await postEntries(s.baseUrl, body, { 'content-type': ct }, wait ? '?wait=published' : '', 8_000);
        rec.count(String(r.status));
        if (r.status === 200) {
          if (r.entries.length !== sent.length) rec.problems.push(`${what}: ${r.entries.length} results for ${sent.length} entries`);
          r.entries.forEach((e, i) => rec.ack(e.index, e.leafHash, sent[i] as Uint8Array, e.duplicate, what));
          if (wait) {
            if (r.checkpoint === undefined) {
              rec.problems.push(`${what}: wait=published reply without a checkpoint`);
            } else {
              const cp = verifyCheckpoint(r.checkpoint, s.vkey, s.origin);
              rec.see(cp, what);
              for (const e of r.entries) {
                if (e.proof === undefined || !verifyInclusion(e.leafHash, e.index, cp.treeSize, e.proof, cp.rootHash)) rec.problems.push(`${what}: inclusion proof of ${e.index} does not verify`);
              }
            }
          }
        } else if (r.status !== 503) {
          rec.problems.push(`${what}: unexpected status ${r.status}: ${r.text.slice(0, 200)}`);
        } else if (r.headers.get('retry-after') === null) {
          rec.problems.push(`${what}: 503 without Retry-After`);
        }
      } catch (err) {
        if (!isNetworkError(err)) rec.problems.push(`${what}: ${(err as Error).message}`);
        rec.count('network error');
        await sleep(5);
      }
    }
  };

  const poller = async () => {
    let last = -1n;
    for (let n = 0; n < 10_000 && running(); n++) {
      try {
        const r = await request(`${s.baseUrl}/checkpoint`, {}, 5_000);
        if (r.status !== 200) {
          rec.problems.push(`${tag} poller: GET /checkpoint status ${r.status}`);
        } else {
          const cp = verifyCheckpoint(r.body.toString('utf8'), s.vkey, s.origin);
          if (cp.treeSize < last) rec.problems.push(`${tag} poller: /checkpoint went back from ${last} to ${cp.treeSize}`);
          last = cp.treeSize;
          rec.see(cp, `${tag} poller`);
        }
      } catch (err) {
        if (err instanceof TlogError || !isNetworkError(err)) rec.problems.push(`${tag} poller: ${(err as Error).message}`);
        await sleep(5);
      }
      await sleep(10);
    }
  };

  const reader = async () => {
    for (let n = 0; n < 10_000 && running(); n++) {
      let latest: VerifiedCheckpoint | undefined;
      for (const cp of rec.seen.values()) if (latest === undefined || cp.treeSize > latest.treeSize) latest = cp;
      if (latest !== undefined && latest.treeSize > 0n) {
        try {
          const root = await new HttpTiles(s.baseUrl).rootFromTiles(latest.treeSize);
          if (hex(root) !== hex(latest.rootHash)) rec.problems.push(`${tag} reader: root from tiles at ${latest.treeSize} is not the checkpoint's`);
        } catch (err) {
          if (!isNetworkError(err)) rec.problems.push(`${tag} reader: ${(err as Error).message}`);
          await sleep(5);
        }
      }
      await sleep(20);
    }
  };

  const done = Promise.all([...Array.from({ length: writers }, (_, w) => writer(w)), poller(), reader()]).then(() => {});
  return {
    stop: () => {
      stopped = true;
    },
    done,
  };
}

/**
 * Checks a freshly (re)started server against everything recorded: same key; its checkpoint covers every
 * acknowledged entry, which is in the level-0 tiles at its index; the root rebuilds from tiles; every checkpoint
 * seen before is consistent with it; re-submitting acknowledged entries gives their old index.
 */
export async function verifyAgainstRecord(t: TestContext, s: ServerProcess, rec: Record_, vkey: string, origin: string, rng: () => number, opts: { justStarted?: boolean } = {}): Promise<VerifiedCheckpoint> {
  assert.equal(s.vkey, vkey, 'same vkey after restart');
  assert.equal(s.origin, origin, 'same origin after restart');
  const cp = await fetchCheckpoint(s.baseUrl, vkey, origin);
  if (opts.justStarted ?? true) assert.equal(cp.treeSize, s.startTreeSize, 'the checkpoint served after start covers the whole stored tree');
  const max = rec.maxAcked;
  assert.ok(cp.treeSize > max, `checkpoint size ${cp.treeSize} covers the largest acknowledged index ${max}`);
  const tiles = new HttpTiles(s.baseUrl);
  // The whole tree from tiles: root = checkpoint root, level-0 hashes = leaf hashes of the entry bundles' entries.
  const audited = await tiles.audit(cp, { entries: true });

  const indexes = [...rec.acked.keys()];
  let missing = 0;
  for (const i of indexes) {
    const a = rec.acked.get(i) as { leafHash: string; entry: Uint8Array };
    const stored = audited.entries[Number(i)];
    if (stored === undefined || !bytesEqual(stored, a.entry) || hex(audited.leafHashes[Number(i)] as Hash) !== a.leafHash) missing++;
  }
  assert.equal(missing, 0, `${missing} of ${indexes.length} acknowledged entries are not (byte for byte) at their index`);

  // Consistency proofs computed by the client from tiles authenticated against the new checkpoint.
  const builder = new ProofBuilder({ treeSize: cp.treeSize, rootHash: cp.rootHash }, tiles.reader);
  let checked = 0;
  for (const old of rec.seen.values()) {
    assert.ok(old.treeSize <= cp.treeSize, `a checkpoint of size ${old.treeSize} was seen before, now only ${cp.treeSize} (rollback)`);
    const proof = await builder.consistencyProof(old.treeSize);
    assert.ok(verifyConsistency(old.treeSize, cp.treeSize, old.rootHash, cp.rootHash, proof), `checkpoint ${old.treeSize} seen before is consistent with ${cp.treeSize}`);
    checked++;
  }
  // The server's own consistency proof endpoint agrees (spot check against the oldest checkpoint seen).
  const oldest = [...rec.seen.values()].reduce<VerifiedCheckpoint | undefined>((a, b) => (a === undefined || b.treeSize < a.treeSize ? b : a), undefined);
  if (oldest !== undefined && oldest.treeSize > 0n) {
    const r = await getJson(`${s.baseUrl}/v1/proof/consistency?from=${oldest.treeSize}&to=${cp.treeSize}`);
    assert.equal(r.status, 200, r.text);
    const served = ((r.json as { proof: string[] }).proof ?? []).map((p) => new Uint8Array(Buffer.from(p, 'base64')));
    assert.ok(verifyConsistency(oldest.treeSize, cp.treeSize, oldest.rootHash, cp.rootHash, served), 'the served consistency proof verifies');
  }

  // A few acknowledged entries again: duplicates at their old index.
  for (let k = 0; k < 3 && indexes.length > 0; k++) {
    const i = indexes[Math.floor(rng() * indexes.length)] as bigint;
    const a = rec.acked.get(i) as { entry: Uint8Array };
    const r = await postEntries(s.baseUrl, a.entry, { 'content-type': 'application/octet-stream' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.entries[0]?.index, i);
    assert.equal(r.entries[0]?.duplicate, true);
  }
  t.diagnostic(`size ${cp.treeSize}: ${indexes.length} acknowledged entries present, ${checked} earlier checkpoints consistent`);
  return cp;
}

/**
 * One crash cycle: writers run against `s`, which is kill -9'd after `killAfterMs`; the clients are stopped, nothing
 * they were told may contradict itself, and the server is restarted on the same options and checked against the
 * record. Returns the restarted server.
 */
export async function killCycle(t: TestContext, s: ServerProcess, opts: ServerOptions, rec: Record_, rng: () => number, cycle: number, killAfterMs: number): Promise<ServerProcess> {
  const before = rec.acked.size;
  const load = startLoad(s, rec, rng, `c${cycle}`, 4, Date.now() + 10_000);
  await sleep(killAfterMs);
  const exit = await s.kill();
  assert.equal(exit.signal, 'SIGKILL');
  load.stop();
  await withTimeout(load.done, 15_000, 'clients to stop');
  assert.deepEqual(rec.problems, [], `cycle ${cycle}`);
  t.diagnostic(`cycle ${cycle}: killed after ${killAfterMs} ms; ${rec.acked.size} acknowledged (${rec.acked.size - before} new), ${rec.seen.size} checkpoints seen`);
  const next = await ServerProcess.start(opts);
  await verifyAgainstRecord(t, next, rec, s.vkey, s.origin, rng);
  return next;
}
