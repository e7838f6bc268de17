/**
 * The PostgreSQL coordination backend (issue #11, server/coordination/postgres.ts) against a real PostgreSQL started
 * by this test (test/support/pg-server.ts; nothing mocked): the leader lease (acquire, renew, expiry, release,
 * racing candidates in separate pools, epochs that never repeat, the database going away and coming back) and the
 * shared leaf index (absent keys, visibility across instances, first index kept, 20,000-key batches, order and
 * duplicates, separate logs, concurrent overlapping batches). Prints the time of lookup+record of 2,000 keys.
 * Skips loudly if the PostgreSQL server binaries are not installed (.ci/run installs them).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import pg from 'pg';
import type { LeaseCandidate } from '../../server/coordination/lease.js';
import { openPostgresCoordination, type PostgresCoordination } from '../../server/coordination/postgres.js';
import { skipMessage, startPostgres, type PgServer } from '../support/pg-server.js';

const skip = skipMessage();
let pg_: PgServer | undefined;
const opened: PostgresCoordination[] = [];
const unhandled: unknown[] = [];
const onUnhandled = (err: unknown) => unhandled.push(err);

before(async () => {
  if (skip !== false) return;
  process.on('unhandledRejection', onUnhandled);
  pg_ = await startPostgres();
});

after(async () => {
  for (const c of opened) await c.close();
  await pg_?.stop();
  process.off('unhandledRejection', onUnhandled);
});

/** A separate coordination instance (its own pool: a separate frontend process as far as the database is concerned). */
async function open(log: string, onError?: (err: Error) => void): Promise<PostgresCoordination> {
  const c = await openPostgresCoordination((pg_ as PgServer).url, log, { connectTimeoutMs: 3_000, ...(onError !== undefined ? { onError } : {}) });
  opened.push(c);
  return c;
}
const freshLog = (what: string) => `${what}-${randomBytes(4).toString('hex')}/`;
const candidate = (name: string): LeaseCandidate => ({ holder: `${name}-${randomBytes(8).toString('hex')}`, url: `http://127.0.0.1:${10000 + Math.floor(Math.random() * 50000)}` });
const keys = (n: number) => Array.from({ length: n }, () => new Uint8Array(randomBytes(32)));

describe('PostgreSQL schema', { skip }, () => {
  test('10 frontends opening a fresh database at once: one schema, one id per log', async () => {
    const admin = new pg.Client({ connectionString: (pg_ as PgServer).url });
    await admin.connect();
    const db = `fresh_${randomBytes(4).toString('hex')}`;
    try {
      await admin.query(`CREATE DATABASE ${db}`);
    } finally {
      await admin.end();
    }
    const url = new URL((pg_ as PgServer).url);
    url.pathname = `/${db}`;
    const all = await Promise.all(Array.from({ length: 10 }, () => openPostgresCoordination(url.toString(), 'shared/', { connectTimeoutMs: 5_000 })));
    opened.push(...all);
    const [k] = keys(1) as [Uint8Array];
    await (all[3] as PostgresCoordination).leafIndex.record([{ leafHash: k, leafIndex: 42n }]);
    for (const c of all) assert.deepEqual(await c.leafIndex.lookup([k]), [42n]);
    const check = new pg.Client({ connectionString: url.toString() });
    await check.connect();
    try {
      const { rows } = await check.query<{ n: string }>(`SELECT count(*) AS n FROM tilelog_log WHERE log = 'shared/'`);
      assert.equal(rows[0]?.n, '1');
    } finally {
      await check.end();
    }
  });
});

describe('PostgreSQL connection settings', { skip }, () => {
  test('what the url leaves out comes from the PG* environment variables; an empty url means all of them', async () => {
    const u = new URL((pg_ as PgServer).url);
    const env = { PGHOST: u.hostname, PGPORT: u.port, PGUSER: decodeURIComponent(u.username), PGPASSWORD: decodeURIComponent(u.password), PGDATABASE: u.pathname.slice(1) };
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    const log = freshLog('env');
    try {
      Object.assign(process.env, env);
      const fromEnv = await openPostgresCoordination('', log);
      opened.push(fromEnv);
      await fromEnv.leafIndex.record([{ leafHash: new Uint8Array(32).fill(7), leafIndex: 5n }]);
      const noPassword = await openPostgresCoordination(`postgres://${u.username}@${u.host}${u.pathname}`, log);
      opened.push(noPassword);
      assert.deepEqual(await noPassword.leafIndex.lookup([new Uint8Array(32).fill(7)]), [5n]);
      process.env['PGPASSWORD'] = 'wrong';
      await assert.rejects(openPostgresCoordination(`postgres://${u.username}@${u.host}${u.pathname}`, log), /password authentication failed/);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});

describe('PostgreSQL lease', { skip }, () => {
  test('first acquire, renewal keeps the epoch, a second candidate sees the holder, expiry lets it take over', async () => {
    const log = freshLog('lease');
    const [ca, cb] = [await open(log), await open(log)];
    const [a, b] = [candidate('a'), candidate('b')];

    const before = performance.now();
    const first = await ca.lease.tryAcquire(a, 1_000);
    assert.equal(first.mine, true);
    assert.deepEqual(first.lease, { holder: a.holder, url: a.url, epoch: 1n });
    assert.ok(first.validUntil !== undefined && first.validUntil >= before + 750 - 1 && first.validUntil <= performance.now() + 750, `validUntil ${first.validUntil}`);

    const renewed = await ca.lease.tryAcquire(a, 1_000);
    assert.equal(renewed.mine, true);
    assert.equal(renewed.lease?.epoch, 1n);

    const other = await cb.lease.tryAcquire(b, 1_000);
    assert.equal(other.mine, false);
    assert.equal(other.validUntil, undefined);
    assert.deepEqual(other.lease, { holder: a.holder, url: a.url, epoch: 1n });

    await sleep(1_150); // a does not renew: its lease expires (by the database's clock)
    const taken = await cb.lease.tryAcquire(b, 1_000);
    assert.equal(taken.mine, true);
    assert.deepEqual(taken.lease, { holder: b.holder, url: b.url, epoch: 2n });
    const late = await ca.lease.tryAcquire(a, 1_000);
    assert.equal(late.mine, false);
    assert.equal(late.lease?.holder, b.holder);
    assert.equal(late.lease?.url, b.url);
  });

  test('release lets another take over at once with a larger epoch; a non-holder cannot release', async () => {
    const log = freshLog('release');
    const [ca, cb] = [await open(log), await open(log)];
    const [a, b] = [candidate('a'), candidate('b')];
    const held = await ca.lease.tryAcquire(a, 60_000);
    assert.equal(held.mine, true);
    await cb.lease.release(b); // not b's: nothing happens
    assert.equal((await cb.lease.tryAcquire(b, 60_000)).mine, false);

    await ca.lease.release(a);
    const afterRelease = await cb.lease.tryAcquire(b, 60_000);
    assert.equal(afterRelease.mine, true);
    assert.ok((afterRelease.lease?.epoch ?? 0n) > (held.lease?.epoch ?? 0n));

    // The same holder acquiring again after its own release starts a new term: a larger epoch.
    await cb.lease.release(b);
    const noLease = await ca.lease.tryAcquire(a, 60_000);
    assert.equal(noLease.mine, true);
    await ca.lease.release(a);
    const again = await ca.lease.tryAcquire(a, 60_000);
    assert.equal(again.mine, true);
    assert.ok((again.lease?.epoch ?? 0n) > (noLease.lease?.epoch ?? 0n));
    assert.ok((noLease.lease?.epoch ?? 0n) > (afterRelease.lease?.epoch ?? 0n));
  });

  test('10 candidates racing in separate pools: exactly one wins, the others see it', async () => {
    for (let round = 0; round < 3; round++) {
      const log = freshLog('race');
      const instances = await Promise.all(Array.from({ length: 10 }, () => open(log)));
      const candidates = instances.map((_, i) => candidate(`c${i}`));
      const attempts = await Promise.all(instances.map((c, i) => c.lease.tryAcquire(candidates[i] as LeaseCandidate, 30_000)));
      const winners = attempts.filter((x) => x.mine);
      assert.equal(winners.length, 1, `round ${round}: ${winners.length} winners`);
      const winner = winners[0]?.lease;
      assert.equal(winner?.epoch, 1n);
      for (const x of attempts) assert.deepEqual(x.lease, winner);
      await Promise.all(instances.map((c) => c.close()));
    }
  });

  test('epochs never repeat and grow with every change of holder; no overlap of validity (property)', async () => {
    const TTL = 120;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.record({ who: fc.integer({ min: 0, max: 2 }), op: fc.constantFrom('acquire', 'acquire', 'release', 'wait') }), { minLength: 5, maxLength: 25 }), async (ops) => {
        const log = freshLog('epochs');
        const inst = await Promise.all([open(log), open(log), open(log)]);
        const cands = [candidate('x'), candidate('y'), candidate('z')];
        const holderOfEpoch = new Map<bigint, string>();
        let lastEpoch = 0n;
        let lastHolder: string | undefined;
        /** validUntil of the latest grant per holder. */
        const validUntil = new Map<string, number>();
        let released = false;
        for (const { who, op } of ops) {
          const me = cands[who] as LeaseCandidate;
          const store = (inst[who] as PostgresCoordination).lease;
          if (op === 'wait') {
            await sleep(TTL + 20);
          } else if (op === 'release') {
            await store.release(me);
            validUntil.delete(me.holder); // a holder that released stops acting as leader at once
            if (lastHolder === me.holder) released = true;
          } else {
            const got = await store.tryAcquire(me, TTL);
            const now = performance.now();
            if (!got.mine) continue;
            const epoch = got.lease?.epoch ?? 0n;
            assert.ok(epoch >= lastEpoch, `epoch went back: ${epoch} < ${lastEpoch}`);
            if (lastHolder !== undefined && lastHolder !== me.holder) {
              assert.ok(epoch > lastEpoch, `new holder kept epoch ${epoch}`);
              // The previous holder had stopped acting as leader before this one could take over.
              assert.ok((validUntil.get(lastHolder) ?? 0) <= now, 'validity windows overlap');
            }
            if (released && lastHolder === me.holder) assert.ok(epoch > lastEpoch, 'acquisition after release kept the epoch');
            const seen = holderOfEpoch.get(epoch);
            assert.ok(seen === undefined || seen === me.holder, `epoch ${epoch} given to two holders`);
            holderOfEpoch.set(epoch, me.holder);
            validUntil.set(me.holder, got.validUntil ?? 0);
            lastEpoch = epoch;
            lastHolder = me.holder;
            released = false;
          }
        }
        await Promise.all(inst.map((c) => c.close()));
      }),
      { numRuns: 12 },
    );
  });

  test('the database goes away: calls reject (no crash, no unhandled rejection); it comes back: calls work again', async () => {
    const log = freshLog('kill');
    const idleErrors: Error[] = [];
    const c = await open(log, (err) => idleErrors.push(err));
    const a = candidate('a');
    const held = await c.lease.tryAcquire(a, 60_000);
    assert.equal(held.mine, true);
    const [k] = keys(1);
    await c.leafIndex.record([{ leafHash: k as Uint8Array, leafIndex: 7n }]);

    // An open that is half-way (waiting for the schema lock another session holds) when the database goes away.
    const db = `fresh_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: (pg_ as PgServer).url });
    admin.on('error', () => {}); // the shutdown below terminates this session too
    await admin.connect();
    await admin.query(`CREATE DATABASE ${db}`);
    const url = new URL((pg_ as PgServer).url);
    url.pathname = `/${db}`;
    const locker = new pg.Client({ connectionString: url.toString() });
    locker.on('error', () => {});
    await locker.connect();
    await locker.query('SELECT pg_advisory_lock(32767011577425767)'); // postgres-schema.ts's lock key
    const halfOpen = openPostgresCoordination(url.toString(), log, { connectTimeoutMs: 2_000 });
    halfOpen.catch(() => {}); // asserted below
    await sleep(300);

    await (pg_ as PgServer).kill();
    await assert.rejects(halfOpen);
    await Promise.all([admin.end().catch(() => {}), locker.end().catch(() => {})]);
    await assert.rejects(c.lease.tryAcquire(a, 60_000));
    await assert.rejects(c.leafIndex.lookup([k as Uint8Array]));
    await assert.rejects(c.lease.release(a));
    await assert.rejects(openPostgresCoordination((pg_ as PgServer).url, log, { connectTimeoutMs: 2_000 }));

    await (pg_ as PgServer).restart();
    const back = await c.lease.tryAcquire(a, 60_000);
    assert.equal(back.mine, true);
    assert.equal(back.lease?.epoch, held.lease?.epoch, 'renewal of the unexpired lease after the restart');
    assert.deepEqual(await c.leafIndex.lookup([k as Uint8Array]), [7n]);
    await sleep(50);
    assert.deepEqual(unhandled, []);
  });
});

describe('PostgreSQL leaf index', { skip }, () => {
  test('absent keys, visibility from another instance, first index kept, order and duplicates', async () => {
    const log = freshLog('leaf');
    const [a, b] = [await open(log), await open(log)];
    const ks = keys(5) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array];
    assert.deepEqual(await a.leafIndex.lookup(ks), [undefined, undefined, undefined, undefined, undefined]);
    assert.deepEqual(await a.leafIndex.lookup([]), []);
    await a.leafIndex.record([]);

    await a.leafIndex.record([
      { leafHash: ks[0], leafIndex: 0n },
      { leafHash: ks[2], leafIndex: 2n },
      { leafHash: ks[2], leafIndex: 99n }, // a duplicate within one call: the first entry wins
      { leafHash: ks[4], leafIndex: (1n << 62n) + 5n },
    ]);
    assert.deepEqual(await b.leafIndex.lookup([ks[4], ks[1], ks[2], ks[0], ks[2], ks[3], ks[4]]), [(1n << 62n) + 5n, undefined, 2n, 0n, 2n, undefined, (1n << 62n) + 5n]);

    // Idempotent, keeps the first index.
    await b.leafIndex.record([{ leafHash: ks[0], leafIndex: 10n }, { leafHash: ks[1], leafIndex: 1n }]);
    assert.deepEqual(await a.leafIndex.lookup(ks), [0n, 1n, 2n, undefined, (1n << 62n) + 5n]);
    await a.leafIndex.record([{ leafHash: ks[0], leafIndex: 0n }, { leafHash: ks[4], leafIndex: 4n }]);
    assert.deepEqual(await a.leafIndex.lookup(ks), [0n, 1n, 2n, undefined, (1n << 62n) + 5n]);

    // A Buffer and a Uint8Array view into a larger buffer name the same key.
    const big = new Uint8Array(64);
    big.set(ks[3], 16);
    await a.leafIndex.record([{ leafHash: big.subarray(16, 48), leafIndex: 3n }]);
    assert.deepEqual(await b.leafIndex.lookup([Buffer.from(ks[3])]), [3n]);

    // Keys are 32-byte hashes.
    await assert.rejects(a.leafIndex.lookup([ks[0], new Uint8Array(31)]), RangeError);
    await assert.rejects(a.leafIndex.record([{ leafHash: new Uint8Array(33), leafIndex: 9n }]), RangeError);
    await assert.rejects(a.leafIndex.record([{ leafHash: ks[3], leafIndex: -1n }]), RangeError);
  });

  test('two logs in one database are separate', async () => {
    const [x, y] = [await open(freshLog('logx')), await open(freshLog('logy'))];
    const [k] = keys(1) as [Uint8Array];
    await x.leafIndex.record([{ leafHash: k, leafIndex: 1n }]);
    assert.deepEqual(await y.leafIndex.lookup([k]), [undefined]);
    await y.leafIndex.record([{ leafHash: k, leafIndex: 2n }]);
    assert.deepEqual(await x.leafIndex.lookup([k]), [1n]);
    assert.deepEqual(await y.leafIndex.lookup([k]), [2n]);
    // Leases too.
    assert.equal((await x.lease.tryAcquire(candidate('p'), 60_000)).mine, true);
    assert.equal((await y.lease.tryAcquire(candidate('q'), 60_000)).mine, true);
  });

  test('a batch of 20,000 keys in one call, and a reopened instance sees it', async () => {
    const log = freshLog('big');
    const a = await open(log);
    const ks = keys(20_000);
    await a.leafIndex.record(ks.map((leafHash, i) => ({ leafHash, leafIndex: BigInt(i) })));
    await a.close();
    const b = await open(log);
    const got = await b.leafIndex.lookup([...ks].reverse());
    assert.equal(got.length, 20_000);
    got.forEach((v, i) => assert.equal(v, BigInt(20_000 - 1 - i)));
  });

  test('concurrent overlapping batches in opposite orders: no deadlock, one index per key', async () => {
    const log = freshLog('overlap');
    const [a, b] = [await open(log), await open(log)];
    for (let round = 0; round < 4; round++) {
      const ks = keys(5_000);
      const rev = [...ks].reverse();
      await Promise.all([
        a.leafIndex.record(ks.map((leafHash, i) => ({ leafHash, leafIndex: BigInt(i) }))),
        b.leafIndex.record(rev.map((leafHash, i) => ({ leafHash, leafIndex: BigInt(100_000 + i) }))),
      ]);
      const [ga, gb] = [await a.leafIndex.lookup(ks), await b.leafIndex.lookup(ks)];
      assert.deepEqual(ga, gb);
      ga.forEach((v, i) => assert.ok(v === BigInt(i) || v === BigInt(100_000 + 5_000 - 1 - i), `key ${i}: ${v}`));
    }
  });

  test('measurement: lookup + record of 2,000 keys (printed, not asserted)', async () => {
    const c = await open(freshLog('timing'));
    const total: number[] = [];
    const lookups: number[] = [];
    const records: number[] = [];
    for (let round = 0; round < 7; round++) {
      const ks = keys(2_000);
      const t0 = performance.now();
      const found = await c.leafIndex.lookup(ks);
      const t1 = performance.now();
      await c.leafIndex.record(ks.map((leafHash, i) => ({ leafHash, leafIndex: BigInt(round * 2_000 + i) })));
      const t2 = performance.now();
      total.push(t2 - t0);
      lookups.push(t1 - t0);
      records.push(t2 - t1);
      assert.ok(found.every((v) => v === undefined));
    }
    const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[3]?.toFixed(1);
    process.stderr.write(
      `\n[postgres] lookup+record of 2,000 keys: median ${median(total)} ms (lookup ${median(lookups)} ms, record ${median(records)} ms; ` +
        `runs: ${total.map((t) => t.toFixed(1)).join(', ')} ms)\n`,
    );
  });
});
