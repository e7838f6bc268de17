/**
 * The S3 leader lease (server/coordination/s3-lease.ts) against a real Ceph RGW started by this test: acquisition,
 * renewal (same epoch, new ETag), no takeover while the holder renews, takeover only after the ETag stayed
 * unchanged for ttl of the observer's own clock, release, a race of 8 candidates with separate SDK clients, strictly
 * increasing epochs, and store errors rejecting. Skips loudly if the Ceph binaries are not installed.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { S3Client } from '@aws-sdk/client-s3';
import { LEASE_KEY, S3LeaseStore } from '../../server/coordination/s3-lease.js';
import type { LeaseAttempt, LeaseCandidate } from '../../server/coordination/lease.js';
import { MaybeLost, ObjectStore, type ObjectMeta } from '../../server/storage/s3-objects.js';
import { S3Storage, s3ClientConfig } from '../../server/storage/s3-storage.js';
import { skipMessage, startS3, type S3Server } from '../support/s3-server.js';
import { testClient } from '../support/s3-log.js';

const skip = skipMessage();
let s3: S3Server | undefined;
const clients: S3Client[] = [];
const BUCKET = 'tilelog-lease';

before(async () => {
  if (skip !== false) return;
  s3 = await startS3();
  await (await S3Storage.open({ bucket: BUCKET, prefix: 'init/', client: newClient(), createBucket: true })).close();
});

after(async () => {
  for (const c of clients) c.destroy();
  await s3?.stop();
});

/** A separate SDK client (a separate frontend, as far as the store can tell). */
function newClient(): S3Client {
  const c = testClient(s3 as S3Server);
  clients.push(c);
  return c;
}

/** A lease store with its own client, like one frontend's. */
function observer(prefix: string): { lease: S3LeaseStore; store: ObjectStore } {
  const store = new ObjectStore(newClient(), BUCKET);
  return { lease: new S3LeaseStore(store, prefix), store };
}

const freshPrefix = () => `log-${randomBytes(6).toString('hex')}/`;
const candidate = (name: string): LeaseCandidate => ({ holder: `${name}-${randomBytes(4).toString('hex')}`, url: `http://${name}.example:8080` });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function mine(a: LeaseAttempt): bigint {
  assert.equal(a.mine, true, `expected to hold the lease, got ${JSON.stringify(a, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`);
  assert.ok(a.lease !== undefined && a.validUntil !== undefined);
  return a.lease.epoch;
}

describe('s3 lease (Ceph RGW)', { skip }, () => {
  test('first acquire is mine; renewal keeps the epoch and changes the ETag; validUntil ≤ time before + ttl', async () => {
    const prefix = freshPrefix();
    const { lease, store } = observer(prefix);
    const a = candidate('a');
    const t0 = performance.now();
    const first = await lease.tryAcquire(a, 1000);
    assert.equal(mine(first), 1n);
    assert.deepEqual(first.lease, { holder: a.holder, url: a.url, epoch: 1n });
    assert.ok((first.validUntil as number) <= t0 + 1000, 'validUntil counts from before the request');
    assert.ok((first.validUntil as number) > t0, 'validUntil is in the future');
    const etag1 = (await store.get(prefix + LEASE_KEY))?.etag;
    const t1 = performance.now();
    const second = await lease.tryAcquire(a, 1000);
    assert.equal(mine(second), 1n, 'a renewal keeps the epoch');
    assert.ok((second.validUntil as number) <= t1 + 1000);
    assert.ok((second.validUntil as number) > (first.validUntil as number), 'a renewal extends validUntil');
    const stored = await store.get(prefix + LEASE_KEY);
    assert.notEqual(stored?.etag, etag1, 'every renewal changes the ETag');
    assert.match(Buffer.from(stored?.body ?? []).toString('utf8'), new RegExp(`^tilelog-lease/v1\n${a.holder}\n${a.url.replace(/\./g, '\\.')}\n1\n[0-9a-f]{32}\n$`));
  });

  test('a second candidate gets mine:false and sees the holder and its url', async () => {
    const prefix = freshPrefix();
    const a = candidate('a');
    const b = candidate('b');
    mine(await observer(prefix).lease.tryAcquire(a, 5000));
    const r = await observer(prefix).lease.tryAcquire(b, 5000);
    assert.equal(r.mine, false);
    assert.equal(r.validUntil, undefined);
    assert.deepEqual(r.lease, { holder: a.holder, url: a.url, epoch: 1n });
  });

  test('no takeover while the holder renews (3 s, ttl 1000 ms, renewal every 250 ms); takeover ≥ ttl after its last renewal', async () => {
    const prefix = freshPrefix();
    const A = observer(prefix).lease;
    const B = observer(prefix).lease;
    const a = candidate('a');
    const b = candidate('b');
    const ttl = 1000;
    mine(await A.tryAcquire(a, ttl));
    let stop = false;
    let lastRenewSent = performance.now();
    const renewals: number[] = [];
    const holder = (async () => {
      // Renewals every 250 ms (a fixed schedule: a slow renewal does not delay the next one).
      while (!stop) {
        await sleep(Math.max(0, lastRenewSent + 250 - performance.now()));
        const sent = performance.now();
        assert.equal(mine(await A.tryAcquire(a, ttl)), 1n);
        renewals.push(performance.now() - sent);
        lastRenewSent = sent;
      }
    })();
    const end = performance.now() + 3000;
    let polls = 0;
    while (performance.now() < end) {
      const r = await B.tryAcquire(b, ttl);
      assert.equal(r.mine, false, `no takeover while the holder keeps renewing (renewal latencies so far: ${renewals.map(Math.round).join(' ')} ms)`);
      assert.equal(r.lease?.holder, a.holder);
      polls++;
      await sleep(50);
    }
    stop = true;
    await holder;
    assert.ok(polls >= 10, `the observer polled (${polls})`);
    // The holder has stopped: B takes over, but not before ttl after the last renewal was sent.
    let taken: LeaseAttempt | undefined;
    const deadline = performance.now() + 4 * ttl;
    while (taken === undefined && performance.now() < deadline) {
      const r = await B.tryAcquire(b, ttl);
      if (r.mine) taken = r;
      else await sleep(50);
    }
    const takenAt = performance.now();
    assert.ok(taken !== undefined, 'the observer takes an abandoned lease over');
    assert.ok(takenAt >= lastRenewSent + ttl, `takeover ${takenAt - lastRenewSent} ms after the last renewal was sent (ttl ${ttl})`);
    assert.equal(mine(taken), 2n, 'a takeover increments the epoch');
    // The old holder now sees the new one.
    const back = await A.tryAcquire(a, ttl);
    assert.equal(back.mine, false);
    assert.deepEqual(back.lease, { holder: b.holder, url: b.url, epoch: 2n });
  });

  test('a fresh observer takes over no sooner than ttl after it first saw the last ETag, and at the first poll after that', async () => {
    const prefix = freshPrefix();
    const a = candidate('a');
    const b = candidate('b');
    const ttl = 1000;
    const poll = 100;
    mine(await observer(prefix).lease.tryAcquire(a, ttl)); // a holds it and then stops renewing
    const B = observer(prefix).lease;
    const firstSent = performance.now();
    const first = await B.tryAcquire(b, ttl);
    const firstSeen = performance.now(); // ≥ the moment B recorded the ETag
    assert.equal(first.mine, false);
    for (;;) {
      await sleep(poll);
      const sent = performance.now();
      const r = await B.tryAcquire(b, ttl);
      if (r.mine) {
        assert.ok(performance.now() >= firstSent + ttl, 'not before ttl after the observer first saw the ETag');
        assert.equal(mine(r), 2n);
        break;
      }
      // A poll sent ttl after the first sighting must have taken it over.
      assert.ok(sent < firstSeen + ttl, `poll sent ${sent - firstSeen} ms after the first sighting did not take over (ttl ${ttl})`);
      assert.ok(sent < firstSent + 3 * ttl, 'bounded');
    }
  });

  test('release: another candidate acquires at once, with a larger epoch; the released holder can come back', async () => {
    const prefix = freshPrefix();
    const A = observer(prefix).lease;
    const B = observer(prefix).lease;
    const a = candidate('a');
    const b = candidate('b');
    const ttl = 60_000; // expiry cannot explain anything below
    const e1 = mine(await A.tryAcquire(a, ttl));
    assert.equal((await B.tryAcquire(b, ttl)).mine, false);
    await B.release(b); // not the holder: nothing happens
    assert.equal(mine(await A.tryAcquire(a, ttl)), e1);
    await A.release(a);
    const e2 = mine(await B.tryAcquire(b, ttl));
    assert.ok(e2 > e1, `epoch after release ${e2} > ${e1}`);
    const r = await A.tryAcquire(a, ttl);
    assert.equal(r.mine, false);
    assert.deepEqual(r.lease, { holder: b.holder, url: b.url, epoch: e2 });
    await B.release(b);
    const none = observer(prefix).lease;
    // A released lease reads as no lease until someone acquires it.
    await B.release(b); // twice: harmless
    const e3 = mine(await none.tryAcquire(a, ttl));
    assert.ok(e3 > e2);
  });

  test('8 candidates with separate SDK clients race: exactly one holds the lease, every round; epochs increase', async () => {
    const prefix = freshPrefix();
    const ttl = 60_000;
    const players = Array.from({ length: 8 }, (_, i) => ({ me: candidate(`c${i}`), ...observer(prefix) }));
    let lastEpoch = 0n;
    for (let round = 0; round < 4; round++) {
      const results = await Promise.all(players.map((p) => p.lease.tryAcquire(p.me, ttl)));
      const winners = results.flatMap((r, i) => (r.mine ? [i] : []));
      assert.equal(winners.length, 1, `round ${round}: exactly one winner (${winners.join(',')})`);
      const w = winners[0] as number;
      const epoch = mine(results[w] as LeaseAttempt);
      assert.ok(epoch > lastEpoch, `round ${round}: epoch ${epoch} > ${lastEpoch}`);
      lastEpoch = epoch;
      // The losers see either the winner or (if they read before it wrote) no lease — never another holder.
      for (const r of results) if (!r.mine && r.lease !== undefined) assert.equal(r.lease.holder, players[w]?.me.holder);
      const again = await Promise.all(players.map((p) => p.lease.tryAcquire(p.me, ttl)));
      assert.deepEqual(again.map((r) => r.mine), players.map((_, i) => i === w), 'only the holder renews');
      const winner = players[w] as (typeof players)[number];
      await winner.lease.release(winner.me);
    }
  });

  test('a sequence of takeovers (release and expiry) gives strictly increasing epochs', async () => {
    const prefix = freshPrefix();
    const ttl = 300;
    const players = Array.from({ length: 3 }, (_, i) => ({ me: candidate(`s${i}`), lease: observer(prefix).lease }));
    const epochs: bigint[] = [];
    for (let i = 0; i < 6; i++) {
      const p = players[i % players.length] as (typeof players)[number];
      let got: LeaseAttempt | undefined;
      const deadline = performance.now() + 10 * ttl;
      while (got === undefined && performance.now() < deadline) {
        const r = await p.lease.tryAcquire(p.me, ttl);
        if (r.mine) got = r;
        else await sleep(50);
      }
      assert.ok(got !== undefined, `step ${i}: acquired`);
      epochs.push(mine(got));
      if (i % 2 === 0) await p.lease.release(p.me); // odd steps: abandoned, taken over after expiry
    }
    for (let i = 1; i < epochs.length; i++) assert.ok((epochs[i] as bigint) > (epochs[i - 1] as bigint), `epochs ${epochs.join(',')}`);
  });

  test('store errors reject; a corrupt lease object rejects; bad candidates are refused', async () => {
    const dead = new S3Client({ ...s3ClientConfig({ endpoint: 'http://127.0.0.1:9', forcePathStyle: true }, {}), region: 'us-east-1', maxAttempts: 1, credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
    clients.push(dead);
    const unreachable = new S3LeaseStore(new ObjectStore(dead, BUCKET), 'p/');
    await assert.rejects(unreachable.tryAcquire(candidate('a'), 1000));
    await assert.rejects(unreachable.release(candidate('a')));

    const prefix = freshPrefix();
    const { lease, store } = observer(prefix);
    await store.put(prefix + LEASE_KEY, Buffer.from('not a lease\n'), { contentType: 'text/plain' });
    await assert.rejects(lease.tryAcquire(candidate('a'), 1000), /corrupt lease object/);
    await assert.rejects(lease.tryAcquire({ holder: 'a\nb', url: 'http://x' }, 1000), RangeError);
    await assert.rejects(lease.tryAcquire(candidate('a'), 0), RangeError);
    assert.throws(() => new S3LeaseStore(store, 'no-slash'), RangeError);
    await lease.close();
    await assert.rejects(lease.tryAcquire(candidate('a'), 1000), /closed/);
  });

  test('an unclear conditional PUT is decided by the stored bytes: ours → mine; unchanged → a store error', async () => {
    /** Every conditional PUT lands, but its answer is lost (as an SDK retry seeing 412 for its own success). */
    class AnswerLost extends ObjectStore {
      override async swap(key: string, body: Uint8Array, meta: ObjectMeta, ifMatch: string | undefined): Promise<string> {
        await super.swap(key, body, meta, ifMatch);
        throw new MaybeLost(key, 500);
      }
    }
    /** Every conditional PUT fails before reaching the store (a network error). */
    class NeverSent extends ObjectStore {
      override swap(key: string): Promise<string> {
        return Promise.reject(new MaybeLost(key, undefined, { cause: new Error('ECONNRESET (injected)') }));
      }
    }
    const prefix = freshPrefix();
    const a = candidate('a');
    const lost = new S3LeaseStore(new AnswerLost(newClient(), BUCKET), prefix);
    assert.equal(mine(await lost.tryAcquire(a, 5000)), 1n, 'create: the stored bytes are ours');
    assert.equal(mine(await lost.tryAcquire(a, 5000)), 1n, 'renewal: the stored bytes are ours');
    const failing = new S3LeaseStore(new NeverSent(newClient(), BUCKET), prefix);
    await assert.rejects(failing.tryAcquire(a, 5000), /ECONNRESET/, 'renewal not sent: a store error, not a lost race');
    await assert.rejects(new S3LeaseStore(new NeverSent(newClient(), BUCKET), freshPrefix()).tryAcquire(a, 5000), /ECONNRESET/, 'create not sent');
    await lost.release(a);
    const b = candidate('b');
    const e = mine(await new S3LeaseStore(new AnswerLost(newClient(), BUCKET), prefix).tryAcquire(b, 5000));
    assert.equal(e, 2n, 'acquisition after release, answer lost: still mine, epoch + 1');
  });

  test('S3Storage exposes its ObjectStore and prefix for the lease', async () => {
    const prefix = freshPrefix();
    const s = await S3Storage.open({ bucket: BUCKET, prefix, client: newClient() });
    const lease = new S3LeaseStore(s.objects.store, s.objects.prefix);
    mine(await lease.tryAcquire(candidate('a'), 1000));
    assert.ok((await s.objects.store.get(`${prefix}${LEASE_KEY}`)) !== undefined);
    await lease.close();
    await s.close();
  });
});
