/**
 * `npm run bench:s3` — the S3 backend against the embedded one, in the same run, reported as ratios (issue #11,
 * "Benchmark"): ingest entries/s and tile reads/s of `tilelog serve` with LevelDB, with one frontend on a Ceph
 * RGW bucket, and with two frontends sharing that bucket (clients split between them). The RGW is started by this
 * script on loopback (test/support/ceph-s3/start-s3.sh, memstore) and shares the machine's cores with the servers
 * and the load generator, so absolute numbers are a floor; the ratios are what to compare across machines.
 *
 * Each configuration: BENCH_S3_CLIENTS (default 4) clients post NDJSON batches of BENCH_S3_BATCH (default 100)
 * entries of 256 bytes for BENCH_S3_SECONDS (default 10) s → acknowledged new entries/s; then 16 concurrent
 * clients GET random full level-0 tiles for 5 s → reads/s. Results also in .bench/s3-results.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tilePath } from '../../server/core/tile.js';
import { postEntries, request } from '../support/http-tiles.js';
import { cephInstalled, startS3, type S3Server } from '../support/s3-server.js';
import { exportS3Env, withS3 } from '../support/s3-log.js';
import { REPO_ROOT, ServerProcess, cleanupAll, newDataDir } from '../support/server-process.js';

const CLIENTS = Number(process.env['BENCH_S3_CLIENTS'] ?? 4);
const BATCH = Number(process.env['BENCH_S3_BATCH'] ?? 100);
const SECONDS = Number(process.env['BENCH_S3_SECONDS'] ?? 10);

interface Result {
  readonly name: string;
  readonly entriesPerSecond: number;
  readonly readsPerSecond: number;
  readonly treeSize: number;
}

async function ingest(servers: readonly ServerProcess[]): Promise<{ perSecond: number }> {
  const end = Date.now() + SECONDS * 1000;
  let acked = 0;
  let failures = 0;
  let serial = 0;
  const pad = 'x'.repeat(200);
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, c) => {
      const s = servers[c % servers.length] as ServerProcess;
      while (Date.now() < end) {
        const body = Array.from({ length: BATCH }, () => JSON.stringify({ c, n: serial++, r: Math.random(), pad })).join('\n');
        try {
          const r = await postEntries(s.baseUrl, body, { 'content-type': 'application/x-ndjson' }, '', 60_000);
          if (r.status === 200) acked += r.entries.filter((e) => !e.duplicate).length;
        } catch {
          failures++;
        }
      }
    }),
  );
  if (failures > 0) process.stderr.write(`${failures} requests failed (timeouts)\n`);
  return { perSecond: acked / ((Date.now() - end + SECONDS * 1000) / 1000) };
}

async function reads(servers: readonly ServerProcess[], treeSize: number): Promise<number> {
  const fullTiles = Math.floor(treeSize / 256);
  if (fullTiles === 0) return 0;
  const end = Date.now() + 5000;
  let n = 0;
  await Promise.all(
    Array.from({ length: 16 }, async (_, c) => {
      const s = servers[c % servers.length] as ServerProcess;
      while (Date.now() < end) {
        const i = Math.floor(Math.random() * fullTiles);
        const r = await request(`${s.baseUrl}/${tilePath({ kind: 'hash', level: 0, index: BigInt(i), width: 256 })}`);
        if (r.status === 200) n++;
      }
    }),
  );
  return n / 5;
}

async function size(s: ServerProcess): Promise<number> {
  const r = await request(`${s.baseUrl}/checkpoint`);
  return Number(r.body.toString('utf8').split('\n')[1]);
}

async function run(name: string, start: () => Promise<ServerProcess[]>): Promise<Result> {
  const servers = await start();
  const { perSecond } = await ingest(servers);
  await new Promise((r) => setTimeout(r, 1500)); // let the checkpoint catch up
  const treeSize = await size(servers[0] as ServerProcess);
  const readsPerSecond = await reads(servers, treeSize);
  for (const s of servers) await s.stop(30_000);
  const r = { name, entriesPerSecond: Math.round(perSecond), readsPerSecond: Math.round(readsPerSecond), treeSize };
  process.stderr.write(`${JSON.stringify(r)}\n`);
  return r;
}

async function main(): Promise<number> {
  if (!cephInstalled()) {
    process.stderr.write('bench:s3: the Ceph binaries are not installed (apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw ceph-common curl)\n');
    return 1;
  }
  const s3: S3Server = await startS3();
  try {
    exportS3Env(s3);
    const base = { checkpointInterval: '1s' };
    const results: Result[] = [];
    results.push(await run('embedded (LevelDB)', async () => [await ServerProcess.start({ ...base, dataDir: newDataDir() })]));
    results.push(await run('S3, 1 frontend', async () => [await ServerProcess.start(withS3({ ...base, dataDir: newDataDir() }, s3, 'bench', 'one'))]));
    results.push(await run('S3, 1 frontend, --s3-skip-leaf-index', async () => [await ServerProcess.start(withS3({ ...base, dataDir: newDataDir(), extraArgs: ['--s3-skip-leaf-index'] }, s3, 'bench', 'noindex'))]));
    results.push(
      await run('S3, 2 frontends', async () => {
        const dir = newDataDir();
        const a = await ServerProcess.start(withS3({ ...base, dataDir: dir }, s3, 'bench', 'two'));
        const b = await ServerProcess.start(withS3({ ...base, dataDir: newDataDir(), key: join(dir, 'log.key') }, s3, 'bench', 'two'));
        return [a, b];
      }),
    );
    const e = results[0] as Result;
    const lines = [
      `| configuration | ingest entries/s | ÷ embedded | tile reads/s | ÷ embedded |`,
      `| --- | --- | --- | --- | --- |`,
      ...results.map((r) => `| ${r.name} | ${r.entriesPerSecond} | ${(r.entriesPerSecond / Math.max(1, e.entriesPerSecond)).toFixed(3)} | ${r.readsPerSecond} | ${(r.readsPerSecond / Math.max(1, e.readsPerSecond)).toFixed(3)} |`),
    ];
    process.stdout.write(`${lines.join('\n')}\n(${CLIENTS} clients × batches of ${BATCH}, ${SECONDS} s each; reads: 16 clients, 5 s)\n`);
    mkdirSync(join(REPO_ROOT, '.bench'), { recursive: true });
    writeFileSync(join(REPO_ROOT, '.bench', 's3-results.json'), `${JSON.stringify({ at: new Date().toISOString(), clients: CLIENTS, batch: BATCH, seconds: SECONDS, results }, null, 2)}\n`);
    return 0;
  } finally {
    await cleanupAll();
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
