/**
 * Two frontends in one process on one shared MemoryStorage (issue #11): Log.add on the frontend that does not lead
 * forwards to the leader's /internal/v1/sequence (real HTTP on 127.0.0.1, real Forwarder and route); after a
 * takeover the roles swap. The lease is an in-memory fake (no S3, no PostgreSQL): fast and deterministic.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { Authenticator } from '../../server/auth.js';
import type { LeaseAttempt, LeaseCandidate, LeaseRecord, LeaseStore } from '../../server/coordination/lease.js';
import { TlogError } from '../../server/core/errors.js';
import { newEd25519Signer } from '../../server/core/keys.js';
import { FORWARD_PATH, Forwarder, encodeForwardRequest, forwardToken } from '../../server/forward.js';
import { createHttpHandler } from '../../server/http/app.js';
import { Ingest } from '../../server/ingest.js';
import { Leadership } from '../../server/leadership.js';
import { Log } from '../../server/log.js';
import { Metrics } from '../../server/metrics.js';
import { MemoryStorage } from '../../server/storage/memory-storage.js';

const ORIGIN = 'example.com/forwarding-test';
const signer = newEd25519Signer(ORIGIN, new Uint8Array(32).fill(4));
const TOKEN = forwardToken(signer, ORIGIN);
/** Generous: the first start-up is CPU-bound (module JIT) and may not turn the event loop for most of a second. */
const TTL = 3000;

/** A shared in-memory lease (one store object for both frontends), with a forced takeover for the test. */
class SharedLease {
  private record: { lease: LeaseRecord; expiresAt: number } | undefined;
  private epoch = 0n;
  store(): LeaseStore {
    return {
      tryAcquire: async (me: LeaseCandidate, ttlMs: number): Promise<LeaseAttempt> => {
        const sent = performance.now();
        const r = this.record;
        if (r !== undefined && r.lease.holder !== me.holder && r.expiresAt > sent) return { lease: r.lease, mine: false };
        const epoch = r !== undefined && r.lease.holder === me.holder && r.expiresAt > sent ? r.lease.epoch : ++this.epoch;
        this.record = { lease: { holder: me.holder, url: me.url, epoch }, expiresAt: sent + ttlMs };
        return { lease: this.record.lease, mine: true, validUntil: sent + ttlMs - 40 };
      },
      release: async (me) => {
        if (this.record?.lease.holder === me.holder) this.record = undefined;
      },
      close: async () => {},
    };
  }
  /** `to` holds the lease from now on (as if the old holder's lease had expired). */
  takeOver(to: LeaseCandidate): void {
    this.record = { lease: { holder: to.holder, url: to.url, epoch: ++this.epoch }, expiresAt: performance.now() + 600_000 };
  }
  get current(): LeaseRecord | undefined {
    return this.record?.lease;
  }
}

interface Frontend {
  me: LeaseCandidate;
  leadership: Leadership;
  log: Log;
  server: Server;
}

async function frontend(name: string, storage: MemoryStorage, lease: SharedLease): Promise<Frontend> {
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.writeHead(503).end();
  const server = createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const me: LeaseCandidate = { holder: name, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
  let log: Log | undefined;
  const leadership = new Leadership({
    store: lease.store(),
    candidate: () => me,
    ttlMs: TTL,
    onElected: async () => {
      if (log !== undefined) await log.sequencer.resync();
    },
  });
  await leadership.start();
  log = await Log.open({
    storage,
    signer,
    origin: ORIGIN,
    sequencer: { batchSize: 64, batchDelayMs: 2, maxPending: 10_000 },
    checkpointIntervalMs: 50,
    refreshIntervalMs: 50,
    leadership,
    forwarder: new Forwarder(TOKEN, 5000),
  });
  const metrics = new Metrics();
  handler = createHttpHandler(log, { metrics, logger: pino({ level: 'silent' }), auth: new Authenticator(undefined), ingest: new Ingest(log, undefined, metrics) }, { maxBodyBytes: 1 << 20, maxCheckpointAgeMs: 5000, forwardToken: TOKEN });
  return { me, leadership, log, server };
}

async function close(f: Frontend): Promise<void> {
  f.server.closeAllConnections();
  await new Promise<void>((resolve) => f.server.close(() => resolve()));
  await f.log.drain().catch(() => {});
  await f.leadership.stop();
  await f.log.close();
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const text = (s: string) => new TextEncoder().encode(s);

describe('two frontends on one storage: forwarding through Log.add', () => {
  const storage = new MemoryStorage();
  const lease = new SharedLease();
  let a: Frontend;
  let b: Frontend;
  before(async () => {
    a = await frontend('a', storage, lease);
    b = await frontend('b', storage, lease);
  });
  after(async () => {
    await close(b);
    await close(a);
  });

  test('the first frontend leads; the other forwards its writes to it', async () => {
    assert.equal(a.leadership.isLeader(), true);
    assert.equal(b.leadership.isLeader(), false);
    assert.deepEqual(b.leadership.target(), { self: false, url: a.me.url, epoch: 1n });
    const r = await b.log.add([text('via b 1'), text('via b 2')]);
    assert.deepEqual(r.map((x) => x.leafIndex), [0n, 1n]);
    assert.equal(a.log.tree.treeSize, 2n, 'sequenced by the leader');
    const [dup] = await b.log.add([text('via b 1')]);
    assert.deepEqual({ i: dup?.leafIndex, d: dup?.duplicate }, { i: 0n, d: true });
    // The follower catches up by refreshing from storage and serves what the leader sequenced.
    await until(() => b.log.tree.treeSize === 2n, 3000, 'follower refresh');
    assert.deepEqual(Buffer.from(await b.log.entry(1n)), Buffer.from(text('via b 2')));
  });

  test('a frontend that does not lead refuses forwarded writes with NOT_LEADER (503, Retry-After): no loops', async () => {
    const res = await fetch(b.me.url + FORWARD_PATH, { method: 'POST', headers: { authorization: `Tilelog-Forward ${TOKEN}` }, body: encodeForwardRequest([text('x')]) });
    assert.equal(res.status, 503);
    assert.ok(Number(res.headers.get('retry-after')) >= 1);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'NOT_LEADER');
    await assert.rejects(b.log.addLocal([text('x')]), (e: unknown) => e instanceof TlogError && e.code === 'NOT_LEADER');
  });

  test('after a takeover the roles swap: the old leader forwards to the new one', async () => {
    lease.takeOver(b.me);
    await until(() => b.leadership.isLeader() && a.leadership.target()?.self === false, 5000, 'takeover');
    assert.deepEqual(a.leadership.target(), { self: false, url: b.me.url, epoch: lease.current?.epoch });
    const [r] = await a.log.add([text('via a after takeover')]);
    assert.equal(r?.leafIndex, 2n, 'the new leader re-read the tree before sequencing');
    assert.equal(b.log.tree.treeSize, 3n);
    const [own] = await b.log.add([text('on b itself')]);
    assert.equal(own?.leafIndex, 3n);
    assert.equal(storage.tree?.treeSize, 4n);
  });
});
