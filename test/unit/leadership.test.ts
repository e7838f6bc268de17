/**
 * Unit tests of server/leadership.ts (issue #11, "Several frontends") against an in-memory LeaseStore that keeps
 * the invariants of server/coordination/lease.ts and lets each test decide what the store answers.
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import type { LeaseAttempt, LeaseCandidate, LeaseRecord, LeaseStore } from '../../server/coordination/lease.js';
import { Leadership, type LeaderTarget } from '../../server/leadership.js';

/**
 * An in-memory lease: at most one unexpired holder (judged by this store's monotonic clock), the epoch grows on
 * every change of holder and stays while one holder renews, `validUntil` is taken before the acquisition, minus a
 * margin. Tests steer it: `reject` makes every call fail, `gate` holds calls until it resolves, `takeOver` makes
 * another candidate hold it.
 */
class FakeLeaseStore implements LeaseStore {
  private record: { lease: LeaseRecord; expiresAt: number } | undefined;
  private lastEpoch = 0n;
  reject: Error | undefined;
  gate: Promise<void> | undefined;
  acquires = 0;
  releases: string[] = [];
  closed = false;
  readonly events: string[] = [];

  async tryAcquire(me: LeaseCandidate, ttlMs: number): Promise<LeaseAttempt> {
    const sent = performance.now();
    this.acquires++;
    if (this.closed) throw new Error('store closed');
    if (this.gate !== undefined) await this.gate;
    if (this.reject !== undefined) throw this.reject;
    const now = performance.now();
    const r = this.record;
    if (r !== undefined && r.lease.holder !== me.holder && r.expiresAt > now) return { lease: r.lease, mine: false };
    const epoch = r !== undefined && r.lease.holder === me.holder && r.expiresAt > now ? r.lease.epoch : ++this.lastEpoch;
    const lease: LeaseRecord = { holder: me.holder, url: me.url, epoch };
    this.record = { lease, expiresAt: now + ttlMs };
    return { lease, mine: true, validUntil: sent + ttlMs - Math.min(50, ttlMs / 10) };
  }

  async release(me: LeaseCandidate): Promise<void> {
    this.events.push('release');
    this.releases.push(me.holder);
    if (this.record?.lease.holder === me.holder) this.record = undefined;
  }

  async close(): Promise<void> {
    this.events.push('close');
    this.closed = true;
  }

  /** Another candidate takes the lease over (as if ours had expired), for `ttlMs`. */
  takeOver(other: LeaseCandidate, ttlMs: number): LeaseRecord {
    const lease: LeaseRecord = { holder: other.holder, url: other.url, epoch: ++this.lastEpoch };
    this.record = { lease, expiresAt: performance.now() + ttlMs };
    return lease;
  }

  /** Whoever holds the lease lets it go (the other candidate shut down). */
  drop(): void {
    this.record = undefined;
  }

  get current(): LeaseRecord | undefined {
    return this.record?.lease;
  }
}

const ME: LeaseCandidate = { holder: 'me-1', url: 'http://127.0.0.1:1001' };
const OTHER: LeaseCandidate = { holder: 'other-1', url: 'http://127.0.0.1:1002' };
const TTL = 200;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `cond` until true or `ms` passed (bounded waits only). */
async function until(cond: () => boolean, ms = 3000, what = 'condition'): Promise<void> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

interface Harness {
  store: FakeLeaseStore;
  leadership: Leadership;
  elected: bigint[];
  deposed: string[];
  /** isLeader() as seen from inside each onElected call (must be false). */
  leaderDuringElection: boolean[];
}

const running: Leadership[] = [];
afterEach(async () => {
  for (const l of running.splice(0)) await l.stop().catch(() => {});
});

function harness(o: { ttlMs?: number; store?: FakeLeaseStore; onElected?: (epoch: bigint) => Promise<void> } = {}): Harness {
  const store = o.store ?? new FakeLeaseStore();
  const h: Harness = { store, elected: [], deposed: [], leaderDuringElection: [], leadership: undefined as unknown as Leadership };
  h.leadership = new Leadership({
    store,
    candidate: () => ME,
    ttlMs: o.ttlMs ?? TTL,
    onElected: async (epoch) => {
      h.leaderDuringElection.push(h.leadership.isLeader());
      if (o.onElected !== undefined) await o.onElected(epoch);
      h.elected.push(epoch);
    },
    onDeposed: (reason) => h.deposed.push(reason),
  });
  running.push(h.leadership);
  return h;
}

describe('Leadership', () => {
  test('the first round elects: onElected once per epoch, before isLeader() is true', async () => {
    const h = harness();
    assert.equal(h.leadership.isLeader(), false);
    assert.equal(h.leadership.target(), undefined);
    await h.leadership.start();
    assert.deepEqual(h.elected, [1n]);
    assert.deepEqual(h.leaderDuringElection, [false]);
    assert.equal(h.leadership.isLeader(), true);
    assert.equal(h.leadership.epoch, 1n);
    assert.deepEqual(h.leadership.target(), { self: true, epoch: 1n });
    // Renewals (every ttl/4) keep the same epoch, call onElected no more, and keep it leading past the ttl.
    await sleep(TTL * 3);
    assert.ok(h.leadership.rounds >= 5, `rounds ${h.leadership.rounds}`);
    assert.equal(h.leadership.isLeader(), true);
    assert.deepEqual(h.elected, [1n]);
    assert.deepEqual(h.deposed, []);
    assert.equal(h.store.current?.epoch, 1n);
  });

  test('onElected rejecting: not the leader, retried at the next round', async () => {
    let fail = 2;
    const h = harness({
      onElected: async () => {
        if (fail-- > 0) throw new Error('fencing storage failed');
      },
    });
    await h.leadership.start();
    assert.equal(h.leadership.isLeader(), false);
    assert.equal(h.leadership.epoch, undefined);
    assert.equal(h.leadership.target(), undefined, 'a failed takeover is no target (not self, not another)');
    await until(() => h.leadership.isLeader(), 3000, 'election after retries');
    assert.deepEqual(h.elected, [1n]);
    assert.equal(h.leaderDuringElection.length, 3);
    assert.ok(h.leaderDuringElection.every((x) => !x));
    assert.deepEqual(h.deposed, []);
  });

  test('another frontend holds the lease: follows it; target() is its url', async () => {
    const store = new FakeLeaseStore();
    const theirs = store.takeOver(OTHER, 60_000);
    const h = harness({ store });
    await h.leadership.start();
    assert.equal(h.leadership.isLeader(), false);
    assert.deepEqual(h.elected, []);
    assert.deepEqual(h.leadership.target(), { self: false, url: OTHER.url, epoch: theirs.epoch });
  });

  test('the lease taken over while leading: deposed, target() is the new leader', async () => {
    const h = harness();
    await h.leadership.start();
    assert.equal(h.leadership.isLeader(), true);
    const theirs = h.store.takeOver(OTHER, 60_000);
    await until(() => h.deposed.length > 0, 3000, 'deposition');
    assert.equal(h.leadership.isLeader(), false);
    assert.match(h.deposed[0] ?? '', new RegExp(OTHER.url.replace(/[.]/g, '\\.')));
    assert.deepEqual(h.leadership.target(), { self: false, url: OTHER.url, epoch: theirs.epoch });
    assert.equal(h.deposed.length, 1, 'deposed once, not at every round');
    await sleep(TTL);
    assert.equal(h.deposed.length, 1);
  });

  test('renewals failing: isLeader() false once validUntil passed, then deposed', async () => {
    const h = harness();
    await h.leadership.start();
    const elected = performance.now();
    h.store.reject = new Error('lease store unreachable');
    await until(() => !h.leadership.isLeader(), 3000, 'lease expiry');
    // Not before validUntil (ttl − margin from the acquisition): the failed renewals alone do not end it early.
    assert.ok(performance.now() - elected >= TTL - 60, `stopped leading after ${performance.now() - elected} ms`);
    assert.equal(h.leadership.target(), undefined);
    await until(() => h.deposed.length === 1, 3000, 'onDeposed');
    assert.match(h.deposed[0] ?? '', /expired/);
    // The store comes back: the same holder gets a lease again and is elected again.
    h.store.reject = undefined;
    await until(() => h.leadership.isLeader(), 3000, 're-election');
    assert.equal(h.elected.length, 2);
  });

  test('fenced() deposes at once; the next round re-elects when the lease is still ours', async () => {
    const h = harness();
    await h.leadership.start();
    h.leadership.fenced('storage refused epoch 1');
    assert.equal(h.leadership.isLeader(), false);
    assert.deepEqual(h.deposed, ['storage refused epoch 1']);
    assert.equal(h.leadership.target(), undefined);
    h.leadership.fenced('again');
    assert.equal(h.deposed.length, 1, 'fenced() when not leading does nothing');
    await until(() => h.leadership.isLeader(), 3000, 're-election');
    assert.deepEqual(h.elected, [1n, 1n], 'onElected runs again (fence and re-read) before leading again');
  });

  test('a new epoch while leading (taken over and given back): deposed, then elected with the new epoch', async () => {
    const h = harness();
    await h.leadership.start();
    // Between two of our rounds, another frontend took the lease over and released it: ours is a new epoch.
    h.store.takeOver(OTHER, 60_000);
    h.store.drop();
    await until(() => h.elected.length === 2, 3000, 'second election');
    assert.deepEqual(h.elected, [1n, 3n]);
    assert.equal(h.deposed.length, 1);
    assert.match(h.deposed[0] ?? '', /epoch changed from 1 to 3/);
    assert.equal(h.leaderDuringElection[1], false, 'not leading while taking over the new epoch');
    assert.equal(h.leadership.epoch, 3n);
  });

  test('waitForTarget resolves at the change, not at timeout', async () => {
    const store = new FakeLeaseStore();
    store.takeOver(OTHER, 60_000);
    const h = harness({ store });
    await h.leadership.start();
    const before = h.leadership.target();
    assert.equal(before?.self, false);
    const t0 = performance.now();
    const changed = h.leadership.waitForTarget(10_000, (t) => t.epoch !== before?.epoch);
    await sleep(20);
    const theirs = store.takeOver({ holder: 'third', url: 'http://127.0.0.1:1003' }, 60_000);
    const t = await changed;
    assert.deepEqual(t, { self: false, url: 'http://127.0.0.1:1003', epoch: theirs.epoch });
    assert.ok(performance.now() - t0 < 3000, 'resolved at the next round, far before the timeout');
  });

  test('waitForTarget: a known target at once; undefined after the timeout', async () => {
    const h = harness();
    await h.leadership.start();
    assert.deepEqual(await h.leadership.waitForTarget(0), { self: true, epoch: 1n });
    const t0 = performance.now();
    assert.equal(await h.leadership.waitForTarget(150, () => false), undefined);
    const took = performance.now() - t0;
    assert.ok(took >= 140 && took < 2000, `took ${took} ms`);
  });

  test('waitForTarget honours an AbortSignal promptly (not at the next round)', async () => {
    const store = new FakeLeaseStore();
    store.takeOver(OTHER, 600_000);
    const h = harness({ store, ttlMs: 8000 }); // rounds and polls every 2 s
    await h.leadership.start();
    const ac = new AbortController();
    const waiting = h.leadership.waitForTarget(20_000, () => false, ac.signal);
    await sleep(30);
    const t0 = performance.now();
    ac.abort();
    assert.equal(await waiting, undefined);
    const took = performance.now() - t0;
    assert.ok(took < 50, `returned ${took} ms after the abort`);
    // Already aborted: returns at once.
    const t1 = performance.now();
    assert.equal(await h.leadership.waitForTarget(20_000, () => false, ac.signal), undefined);
    assert.ok(performance.now() - t1 < 50);
  });

  test('stop() while leading releases the lease, then closes the store', async () => {
    const h = harness();
    await h.leadership.start();
    await h.leadership.stop();
    assert.deepEqual(h.store.events, ['release', 'close']);
    assert.deepEqual(h.store.releases, [ME.holder]);
    assert.equal(h.store.current, undefined, 'another frontend may take it at once');
    assert.equal(h.leadership.isLeader(), false);
    const rounds = h.leadership.rounds;
    await sleep(TTL);
    assert.equal(h.leadership.rounds, rounds, 'no rounds after stop');
  });

  test('stop() while following does not release (the lease is another\'s) but closes the store', async () => {
    const store = new FakeLeaseStore();
    const theirs = store.takeOver(OTHER, 60_000);
    const h = harness({ store });
    await h.leadership.start();
    await h.leadership.stop();
    assert.deepEqual(store.events, ['close']);
    assert.deepEqual(store.current, theirs);
  });

  test('stop() during an election: not leading afterwards, and the acquired lease is released', async () => {
    let entered!: () => void;
    const inElection = new Promise<void>((r) => (entered = r));
    let finish!: () => void;
    const h = harness({
      onElected: () => {
        entered();
        return new Promise<void>((r) => (finish = r));
      },
    });
    const started = h.leadership.start();
    await inElection;
    const stopped = h.leadership.stop();
    finish();
    await started;
    await stopped;
    assert.equal(h.leadership.isLeader(), false, 'a stopped frontend never leads');
    assert.equal(h.leadership.target(), undefined);
    assert.deepEqual(h.store.events, ['release', 'close'], 'the lease it acquired is given back before closing');
    assert.equal(h.store.current, undefined);
  });

  test('stop() during a lease request: no lease kept, store closed after the request', async () => {
    const h = harness();
    let open!: () => void;
    h.store.gate = new Promise<void>((r) => (open = r));
    const started = h.leadership.start();
    await until(() => h.store.acquires === 1, 1000, 'the request');
    const stopped = h.leadership.stop();
    open();
    await started;
    await stopped;
    assert.equal(h.leadership.isLeader(), false);
    assert.deepEqual(h.elected, [], 'no election after stop');
    assert.equal(h.store.current, undefined, 'the lease granted to the in-flight request was released');
    assert.equal(h.store.events.at(-1), 'close');
  });

  test('stop() ends a pending waitForTarget at once (undefined), not at its next poll', async () => {
    const store = new FakeLeaseStore();
    store.takeOver(OTHER, 600_000);
    const h = harness({ store, ttlMs: 8000 });
    await h.leadership.start();
    const waiting = h.leadership.waitForTarget(20_000, () => false);
    await sleep(30);
    const t0 = performance.now();
    await h.leadership.stop();
    assert.equal(await waiting, undefined);
    assert.ok(performance.now() - t0 < 50, `returned ${performance.now() - t0} ms after stop()`);
  });

  test('target() never names this frontend itself (an old lease of the same url)', async () => {
    const store = new FakeLeaseStore();
    store.takeOver({ holder: 'me-0 (previous process)', url: ME.url }, 60_000);
    const h = harness({ store });
    await h.leadership.start();
    assert.equal(h.leadership.target(), undefined);
    const t: LeaderTarget | undefined = await h.leadership.waitForTarget(100);
    assert.equal(t, undefined);
  });
});
