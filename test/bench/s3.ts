/**
 * `npm run bench:s3` — the S3 backend against the embedded one, in the same run, reported as ratios (issue #11,
 * "Benchmark": "ingest entries/s and tile reads/s on the S3 backend with 1 and 2 frontends, in the same run as the
 * embedded backend, reported as ratios"; target ≥ 10,000 entries/s durable ingest on S3). The RGW is started by
 * this script on loopback (test/support/ceph-s3/start-s3.sh, memstore) and shares the machine's cores with the
 * servers and the load generator, so absolute numbers are a floor; the ratios are what to compare across machines.
 *
 * 1. Preload: a tree of BENCH_S3_READ_ENTRIES (default 1,048,576) entries of 64 bytes is written in-process, once
 *    into LevelDB and once into the bucket (S3Storage without leaf index): 4,096 full level-0 tiles and as many
 *    bundles (~100 MB), more than the server's 32 MiB tile cache, so random reads are not all cache hits.
 * 2. Each configuration of {@link CONFIGS} (BENCH_S3_ONLY=<regexp> picks some by name) starts its servers on that
 *    tree, then
 *    - reads (first, while the store is idle): 16 concurrent clients GET random full level-0 tiles, then random
 *      full entry bundles, for BENCH_S3_READ_SECONDS (default 5) s each → responses/s;
 *    - ingest: BENCH_S3_CLIENTS (default 16) clients, split over the frontends, post NDJSON batches of
 *      BENCH_S3_BATCH (default 500) unique 256-byte entries, back to back, for BENCH_S3_SECONDS (default 10) s →
 *      acknowledged (durable) new entries/s (a request unanswered after 30 s counts as an error). Servers run
 *      with --batch-size BENCH_S3_SERVER_BATCH (default 4000) and --batch-delay BENCH_S3_BATCH_DELAY (default
 *      20ms), the same for every configuration.
 * 3. A reference row: the same GETs straight from the bucket (public-read policy), no server.
 * 4. Leader failover (BENCH_S3_FAILOVER=0 skips it): kill -9 of the leader of two frontends, 3 trials per lease
 *    store (S3 object; PostgreSQL row when installed) → time to the first write acknowledged by the survivor.
 * 5. The commit-time profile (s3-profile.ts, BENCH_S3_PROFILE=0 skips it): where the time of an S3 commit goes.
 * Results in .bench/s3-results.json and as a markdown table on stdout. The whole run is bounded by
 * BENCH_S3_MAX_SECONDS (default 1200): past it, everything is stopped and the script exits 2.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { EMPTY_EDGE, integrate, type TreeEdge } from '../../server/core/edge.js';
import { leafHash } from '../../server/core/hash.js';
import { TILE_WIDTH, tilePath } from '../../server/core/tile.js';
import { LevelStorage } from '../../server/storage/level-storage.js';
import { S3Storage } from '../../server/storage/s3-storage.js';
import type { LogStorage } from '../../server/storage/storage.js';
import { request } from '../support/http-tiles.js';
import { cephInstalled, startS3, type S3Server } from '../support/s3-server.js';
import { pgInstalled, startPostgres, type PgServer } from '../support/pg-server.js';
import { exportS3Env, makePublic, testClient, withS3 } from '../support/s3-log.js';
import { REPO_ROOT, ServerProcess, cleanupAll, newDataDir, type ServerOptions } from '../support/server-process.js';
import { EntryFactory, CONTENT_TYPE } from './entries.js';
import { profileS3Commits, renderProfiles, type CommitProfile } from './s3-profile.js';

const env = process.env;
const num = (name: string, dflt: number) => {
  const v = Number(env[name] ?? dflt);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
  return v;
};
const CLIENTS = num('BENCH_S3_CLIENTS', 16);
const BATCH = num('BENCH_S3_BATCH', 500);
const SECONDS = num('BENCH_S3_SECONDS', 10);
const SERVER_BATCH = num('BENCH_S3_SERVER_BATCH', 4000);
const BATCH_DELAY = env['BENCH_S3_BATCH_DELAY'] ?? '20ms';
const READ_ENTRIES = num('BENCH_S3_READ_ENTRIES', 1_048_576);
const READ_SECONDS = num('BENCH_S3_READ_SECONDS', 5);
const READ_CLIENTS = 16;
const MAX_SECONDS = num('BENCH_S3_MAX_SECONDS', 1200);
const PROFILE_SECONDS = num('BENCH_S3_PROFILE_SECONDS', 8);
const BUCKET = 'bench';
const PREFIX = 'log/';

/** A configuration: `kind` picks the storage; `args` are extra `tilelog serve` flags; clients split over frontends. */
export interface BenchConfig {
  readonly name: string;
  readonly kind: 'embedded' | 's3';
  readonly frontends: number;
  readonly args: readonly string[];
}

/**
 * The configurations, in order (the first is the embedded baseline of the ratios). Extend here. `{PG}` in args is
 * replaced by the URL of the PostgreSQL this script starts (test/support/pg-server.ts); those rows are skipped
 * (with a message) when PostgreSQL is not installed.
 */
export const CONFIGS: readonly BenchConfig[] = [
  { name: 'embedded (LevelDB)', kind: 'embedded', frontends: 1, args: [] },
  { name: 'S3, 1 frontend (leaf index objects)', kind: 's3', frontends: 1, args: [] },
  { name: 'S3, 1 frontend, --s3-skip-leaf-index', kind: 's3', frontends: 1, args: ['--s3-skip-leaf-index'] },
  { name: 'S3, 2 frontends, --s3-skip-leaf-index', kind: 's3', frontends: 2, args: ['--s3-skip-leaf-index'] },
  { name: 'S3 + PostgreSQL (lease, duplicate table), 1 frontend', kind: 's3', frontends: 1, args: ['--coordination', '{PG}'] },
  { name: 'S3 + PostgreSQL (lease, duplicate table), 2 frontends', kind: 's3', frontends: 2, args: ['--coordination', '{PG}'] },
];

/**
 * Leader failover: two frontends on a fresh prefix; the leader (tilelog_leader 1) is killed with -9 and a client
 * posts one entry to the survivor every 50 ms: the time from the kill to the first acknowledgement. Target ≤ 5 s.
 */
async function failover(s3: S3Server, key: string, args: readonly string[], trial: number): Promise<number> {
  const prefix = `failover-${trial}-${randomBytes(4).toString('hex')}`;
  const base: ServerOptions = { checkpointInterval: '200ms', batchDelay: '5ms', key, extraArgs: args, startTimeoutMs: 60_000 };
  const a = await ServerProcess.start(withS3({ ...base, dataDir: newDataDir() }, s3, BUCKET, prefix));
  const b = await ServerProcess.start(withS3({ ...base, dataDir: newDataDir() }, s3, BUCKET, prefix));
  try {
    const isLeader = async (s: ServerProcess) => /\ntilelog_leader 1\n/.test((await request(`${s.baseUrl}/metrics`, {}, 10_000)).body.toString('utf8'));
    const leader = (await isLeader(a)) ? a : b;
    const survivor = leader === a ? b : a;
    // Traffic through the survivor before the kill (it forwards to the leader).
    for (let i = 0; i < 5; i++) await request(`${survivor.baseUrl}/v1/entries`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: `warm ${trial} ${i}` }, 10_000);
    const killedAt = performance.now();
    await leader.kill();
    for (let n = 0; n < 600; n++) {
      try {
        const r = await request(`${survivor.baseUrl}/v1/entries`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: `probe ${trial} ${n}` }, 20_000);
        if (r.status === 200) return performance.now() - killedAt;
      } catch {
        // not yet
      }
      await sleep(50);
    }
    return Number.NaN;
  } finally {
    await a.stop(20_000).catch(() => {});
    await b.stop(20_000).catch(() => {});
  }
}

interface Result {
  readonly name: string;
  readonly frontends: number;
  readonly entriesPerSecond: number | undefined;
  readonly tileReadsPerSecond: number;
  readonly bundleReadsPerSecond: number;
  readonly treeSize: number;
  readonly errors: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Writes `n` entries of 64 bytes in commits of 16,384 (in-process: no HTTP, no sequencer). */
async function preload(storage: LogStorage, n: number): Promise<void> {
  let edge: TreeEdge = EMPTY_EDGE;
  const tag = randomBytes(4).toString('hex');
  const t0 = performance.now();
  while (edge.treeSize < BigInt(n)) {
    const k = Math.min(16_384, n - Number(edge.treeSize));
    const base = Number(edge.treeSize);
    const es = Array.from({ length: k }, (_, i) => Buffer.from(`preload ${tag} ${String(base + i).padStart(12, '0')} `.padEnd(64, 'x')));
    const hs = es.map(leafHash);
    const r = integrate(edge, es, hs);
    await storage.commit({ tiles: r.tiles, leafIndexes: hs.map((h, i) => ({ leafHash: h, leafIndex: edge.treeSize + BigInt(i) })), tree: { treeSize: r.edge.treeSize, rootHash: r.rootHash } });
    edge = r.edge;
  }
  await storage.readTree(); // waits for the last commit's background step
  await storage.close();
  process.stderr.write(`preloaded ${n} entries in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
}

async function ingest(servers: readonly ServerProcess[]): Promise<{ perSecond: number; errors: number }> {
  const f = new EntryFactory();
  const t0 = performance.now();
  const end = t0 + SECONDS * 1000;
  let acked = 0;
  let errors = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, c) => {
      const s = servers[c % servers.length] as ServerProcess;
      while (performance.now() < end) {
        const body = f.batchBody('ndjson', BATCH, 256);
        try {
          const r = await request(`${s.baseUrl}/v1/entries`, { method: 'POST', headers: { 'content-type': CONTENT_TYPE.ndjson }, body }, 30_000);
          if (r.status !== 200) {
            errors++;
            await sleep(100);
            continue;
          }
          const entries = (JSON.parse(r.body.toString('utf8')) as { entries: { duplicate: boolean }[] }).entries;
          acked += entries.filter((e) => !e.duplicate).length;
        } catch {
          errors++;
        }
      }
    }),
  );
  return { perSecond: acked / ((performance.now() - t0) / 1000), errors };
}

/**
 * A GET through a keep-alive agent → status (body read and dropped). Not fetch: on a busy 2-core machine fetch
 * with a timeout signal tops out at a few hundred requests/s, which would measure the load generator.
 */
function get(url: string, agent: http.Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, timeout: 10_000 }, (res) => {
      res.on('data', () => {});
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timeout`)));
  });
}

/** GETs of random full level-0 tiles or entry bundles below `treeSize` from `bases` (round-robin) → per second. */
async function reads(bases: readonly string[], treeSize: number, kind: 'hash' | 'entries'): Promise<{ perSecond: number; errors: number }> {
  const full = Math.floor(treeSize / TILE_WIDTH);
  if (full === 0) return { perSecond: 0, errors: 0 };
  const t0 = performance.now();
  const end = t0 + READ_SECONDS * 1000;
  let n = 0;
  let errors = 0;
  const agent = new http.Agent({ keepAlive: true, maxSockets: READ_CLIENTS });
  await Promise.all(
    Array.from({ length: READ_CLIENTS }, async (_, c) => {
      const base = bases[c % bases.length] as string;
      while (performance.now() < end) {
        const index = BigInt(Math.floor(Math.random() * full));
        try {
          if ((await get(`${base}/${tilePath({ kind, level: 0, index, width: TILE_WIDTH })}`, agent)) === 200) n++;
          else errors++;
        } catch {
          errors++;
        }
      }
    }),
  );
  agent.destroy();
  return { perSecond: n / ((performance.now() - t0) / 1000), errors };
}

/** The published tree size, once it has stopped growing (bounded: 15 s). */
async function settledSize(s: ServerProcess): Promise<number> {
  let last = -1;
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = await request(`${s.baseUrl}/checkpoint`);
    const size = r.status === 200 ? Number(r.body.toString('utf8').split('\n')[1]) : 0;
    if ((size === last && size > 0) || Date.now() > deadline) return size;
    last = size;
    await sleep(1200);
  }
}

async function run(cfg: BenchConfig, start: () => Promise<ServerProcess[]>): Promise<Result> {
  process.stderr.write(`${cfg.name}: starting\n`);
  const servers = await start();
  try {
    // Reads first, on the preloaded tree: after the ingest the store may still be busy with its backlog.
    const readSize = await settledSize(servers[0] as ServerProcess);
    const bases = servers.map((s) => s.baseUrl);
    const tiles = await reads(bases, readSize, 'hash');
    const bundles = await reads(bases, readSize, 'entries');
    const ing = await ingest(servers);
    const treeSize = await settledSize(servers[0] as ServerProcess);
    const r: Result = { name: cfg.name, frontends: cfg.frontends, entriesPerSecond: Math.round(ing.perSecond), tileReadsPerSecond: Math.round(tiles.perSecond), bundleReadsPerSecond: Math.round(bundles.perSecond), treeSize, errors: ing.errors + tiles.errors + bundles.errors };
    process.stderr.write(`${JSON.stringify(r)}\n`);
    return r;
  } finally {
    // A server drains its pool on SIGTERM: with the leaf index on S3 that can take long (see the profile).
    for (const s of servers) await s.stop(60_000).catch((err: unknown) => process.stderr.write(`${cfg.name}: ${String(err).split('\n')[0]}\n`));
  }
}

function ratio(x: number | undefined, base: number | undefined): string {
  return x === undefined || base === undefined || base === 0 ? '–' : (x / base).toFixed(3);
}

function table(results: readonly Result[]): string {
  const e = results.find((r) => r.name.startsWith('embedded'));
  return [
    '| configuration | ingest entries/s | ÷ embedded | tile reads/s | ÷ embedded | bundle reads/s | ÷ embedded | errors |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...results.map((r) => `| ${r.name} | ${r.entriesPerSecond ?? '–'} | ${ratio(r.entriesPerSecond, e?.entriesPerSecond)} | ${r.tileReadsPerSecond} | ${ratio(r.tileReadsPerSecond, e?.tileReadsPerSecond)} | ${r.bundleReadsPerSecond} | ${ratio(r.bundleReadsPerSecond, e?.bundleReadsPerSecond)} | ${r.errors} |`),
  ].join('\n');
}

async function main(): Promise<number> {
  if (!cephInstalled()) {
    process.stderr.write('bench:s3: the Ceph binaries are not installed (apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw ceph-common curl)\n');
    return 1;
  }
  const only = env['BENCH_S3_ONLY'] === undefined ? undefined : new RegExp(env['BENCH_S3_ONLY'], 'i');
  env['CEPH_MEMSTORE_BYTES'] ??= String(6 * 1024 ** 3); // the preloaded tree, every configuration's ingest, staging objects
  const s3: S3Server = await startS3();
  const watchdog = setTimeout(() => {
    process.stderr.write(`bench:s3: over BENCH_S3_MAX_SECONDS=${MAX_SECONDS}; stopping\n`);
    void cleanupAll()
      .then(() => s3.stop())
      .finally(() => process.exit(2));
  }, MAX_SECONDS * 1000);
  watchdog.unref();
  const client = testClient(s3);
  let pg: PgServer | undefined;
  try {
    exportS3Env(s3);
    if (pgInstalled()) pg = await startPostgres();
    else process.stderr.write('bench:s3: PostgreSQL is not installed (apt-get install postgresql): its rows are skipped\n');
    // 1. The read tree, once per backend.
    const embeddedDir = newDataDir();
    const keyDir = newDataDir();
    const key = join(keyDir, 'log.key'); // created by the first server; shared by every S3 frontend
    await preload(await LevelStorage.open(join(embeddedDir, 'leveldb')), READ_ENTRIES);
    await preload(await S3Storage.open({ bucket: BUCKET, prefix: PREFIX, client, createBucket: true, leafIndex: false }), READ_ENTRIES);

    // 2. The configurations.
    const base: ServerOptions = { checkpointInterval: '1s', batchSize: SERVER_BATCH, batchDelay: BATCH_DELAY };
    const results: Result[] = [];
    for (let cfg of CONFIGS) {
      if (only !== undefined && !only.test(cfg.name)) continue;
      if (cfg.args.includes('{PG}')) {
        if (pg === undefined) continue;
        cfg = { ...cfg, args: cfg.args.map((a) => (a === '{PG}' ? (pg as PgServer).url : a)) };
      }
      results.push(
        await run(cfg, async () => {
          if (cfg.kind === 'embedded') return [await ServerProcess.start({ ...base, dataDir: embeddedDir, extraArgs: cfg.args, startTimeoutMs: 60_000 })];
          const servers: ServerProcess[] = [];
          for (let i = 0; i < cfg.frontends; i++) servers.push(await ServerProcess.start(withS3({ ...base, dataDir: newDataDir(), key, extraArgs: cfg.args, startTimeoutMs: 60_000 }, s3, BUCKET, PREFIX)));
          return servers;
        }),
      );
    }

    // 3. Straight from the bucket (public-read), no server.
    await makePublic(client, BUCKET);
    const bucketBase = `${s3.endpoint}/${BUCKET}/${PREFIX.slice(0, -1)}`;
    const size = Math.max(READ_ENTRIES, ...results.map((r) => r.treeSize));
    const bt = await reads([bucketBase], READ_ENTRIES, 'hash');
    const bb = await reads([bucketBase], READ_ENTRIES, 'entries');
    results.push({ name: 'bucket direct (RGW GETs, no server)', frontends: 0, entriesPerSecond: undefined, tileReadsPerSecond: Math.round(bt.perSecond), bundleReadsPerSecond: Math.round(bb.perSecond), treeSize: size, errors: bt.errors + bb.errors });

    // 4. Leader failover, with each lease store.
    const failovers: { lease: string; medianMs: number; trialsMs: number[] }[] = [];
    if (env['BENCH_S3_FAILOVER'] !== '0') {
      const leases: [string, string[]][] = [['S3 lease object', ['--s3-skip-leaf-index']], ...(pg !== undefined ? [['PostgreSQL lease row', ['--coordination', pg.url]] as [string, string[]]] : [])];
      for (const [lease, args] of leases) {
        const trialsMs: number[] = [];
        for (let i = 0; i < 3; i++) trialsMs.push(Math.round(await failover(s3, key, args, i)));
        const sorted = [...trialsMs].sort((x, y) => x - y);
        failovers.push({ lease, medianMs: sorted[1] as number, trialsMs });
        process.stderr.write(`failover (${lease}): ${trialsMs.join(', ')} ms\n`);
      }
    }

    // 5. Where the commit time goes.
    const profiles: CommitProfile[] = [];
    if (env['BENCH_S3_PROFILE'] !== '0') {
      const common = { bucket: BUCKET, seconds: PROFILE_SECONDS, clients: CLIENTS, batch: BATCH, batchSize: SERVER_BATCH, batchDelayMs: Number.parseInt(BATCH_DELAY, 10) };
      // The third run: 4× the clients (4× the entries in flight), to show how throughput scales with batch size.
      for (const [leafIndex, clients] of [[true, CLIENTS], [false, CLIENTS], [false, 4 * CLIENTS]] as const) {
        const c = testClient(s3);
        try {
          const name = `S3 sequencer, ${leafIndex ? 'leaf index objects' : 'no leaf index'}, ${clients} × ${BATCH} in flight`;
          profiles.push(await profileS3Commits({ ...common, clients, name, client: c, prefix: `profile-${leafIndex ? 'index' : 'noindex'}-${clients}/`, leafIndex }));
        } finally {
          c.destroy();
        }
      }
    }

    const params = `${CLIENTS} clients × NDJSON batches of ${BATCH} × 256 B for ${SECONDS} s; servers --batch-size ${SERVER_BATCH} --batch-delay ${BATCH_DELAY}; reads: ${READ_CLIENTS} clients × ${READ_SECONDS} s each over a preloaded tree of ${READ_ENTRIES} entries`;
    const best = Math.max(0, ...results.filter((r) => r.name.startsWith('S3')).map((r) => r.entriesPerSecond ?? 0));
    const failoverLines = failovers.map((f) => `Leader failover (${f.lease}, lease ttl 2 s, kill -9 → first write acknowledged by the survivor): median ${f.medianMs} ms of ${f.trialsMs.join(', ')} → ${f.medianMs <= 5000 ? 'met' : 'NOT met'} (target ≤ 5 s)`);
    const out = [table(results), '', params, `Target ≥ 10,000 entries/s durable ingest on S3: best ${best} → ${best >= 10_000 ? 'met' : 'NOT met'}`, ...failoverLines, ...(profiles.length > 0 ? ['', renderProfiles(profiles)] : [])].join('\n');
    process.stdout.write(`${out}\n`);
    mkdirSync(join(REPO_ROOT, '.bench'), { recursive: true });
    writeFileSync(
      join(REPO_ROOT, '.bench', 's3-results.json'),
      `${JSON.stringify({ at: new Date().toISOString(), clients: CLIENTS, batch: BATCH, seconds: SECONDS, serverBatchSize: SERVER_BATCH, batchDelay: BATCH_DELAY, readEntries: READ_ENTRIES, readSeconds: READ_SECONDS, results, failovers, profiles }, null, 2)}\n`,
    );
    return 0;
  } finally {
    clearTimeout(watchdog);
    client.destroy();
    await cleanupAll();
    await pg?.stop();
    await s3.stop();
  }
}

// `npm test` runs every file under dist/test with node --test: do not start a benchmark there.
if (process.env['NODE_TEST_CONTEXT'] === undefined && process.argv[1]?.endsWith('s3.js') === true) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`bench:s3 failed: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
