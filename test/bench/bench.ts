/**
 * `npm run bench` — throughput, latency and memory of a real `tilelog serve` process on this machine, with
 * baselines of the machine (SHA-256, raw LevelDB) measured in the same run so that numbers from different or
 * noisy machines can be compared as ratios. The load generator runs in this process, on the same cores.
 *
 * Phases (each bounded in time; the server is restarted on the same data directory between phases, with the
 * default flags, so the checkpoint interval is the default 1 s):
 *   1. baseline   SHA-256/s (256-byte inputs, 1 thread); LevelDB synced batches of 1,000 × 300 B (entries/s)
 *   2. ingest     POST /v1/entries, batches of 1,000 entries of 256 bytes: JSON vs NDJSON, then 2/4/8 clients
 *   3. singles    POST /v1/entries, one 256-byte application/octet-stream entry per request (autocannon)
 *   4. published  ?wait=published probes at the default 1 s interval under a paced background load: p50/p99
 *   5. reads      GET /tile/0/<N> over existing full tiles, and GET /checkpoint (autocannon, keep-alive)
 *   6. long       (BENCH_LONG=1 only) 5,000,000 entries into a fresh log: max RSS and throughput over time
 * Every throughput is the median of ≥ 3 back-to-back windows after a warm-up; every window's value is kept in
 * .bench/results.json.
 *
 * Environment:
 *   BENCH_LONG=1            also run the long phase (5M entries; ≈ 2–4 min at 25–45k entries/s on a 2-core VM)
 *   BENCH_LONG_ENTRIES=N    entries of the long phase (default 5,000,000)
 *   BENCH_PROFILE=1         run each server with `node --cpu-prof` and print its hot spots per phase
 *                           (profiles in .bench/profiles/<phase>/; summarize with dist/test/bench/profile.js)
 *   BENCH_PHASES=a,b        run only these phases (baseline, ingest, singles, published, reads, long)
 *   BENCH_QUICK=1           shorter windows (smoke test; numbers are not comparable)
 *   BENCH_CONCURRENCY=2,4,8 batch-ingest client counts
 *   BENCH_TMPDIR=DIR        where the temporary data directories go (default: the OS temp dir)
 *   BENCH_KEEP=1            keep the data directory
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { tilePath } from '../../server/core/tile.js';
import { levelBatchRates, sha256Rates } from './baselines.js';
import { EntryFactory, type BatchFormat } from './entries.js';
import { cannon, PacedLoad, p50p99, runBatchIngest, runPublishedProbes, windowRates, type BatchIngestResult, type CannonResult } from './load.js';
import { formatProfile, summarizeProfile, type ProfileSummary } from './profile.js';
import { CpuMeter, type CpuReading, REPO_ROOT, RssSampler, ServerProcess, installCleanup } from './server.js';
import { fmt, median, nowMs, quantile, sleep } from './stats.js';
import { renderMarkdown, type Row } from './report.js';

const env = process.env;
const QUICK = env['BENCH_QUICK'] === '1';
const PROFILE = env['BENCH_PROFILE'] === '1';
const ALL_PHASES = ['baseline', 'ingest', 'singles', 'published', 'reads', 'long'] as const;
type Phase = (typeof ALL_PHASES)[number];
const PHASES = new Set<Phase>(
  env['BENCH_PHASES'] !== undefined
    ? (env['BENCH_PHASES'].split(',').map((s) => s.trim()) as Phase[])
    : ALL_PHASES.filter((p) => p !== 'long' || env['BENCH_LONG'] === '1'),
);
for (const p of PHASES) if (!ALL_PHASES.includes(p)) throw new Error(`unknown phase ${p}; phases: ${ALL_PHASES.join(', ')}`);

/** Durations (ms). Defaults keep `npm run bench` under ~3 minutes including the build. */
const T = QUICK
  ? { shaRep: 300, levelRep: 500, fmtWarm: 500, fmtWin: 1000, ingWarm: 500, ingWin: 1000, acWarmS: 1, acRepS: 1, pubWin: 2500, readWarmS: 1, readRepS: 1 }
  : { shaRep: 1000, levelRep: 2000, fmtWarm: 1000, fmtWin: 2000, ingWarm: 1500, ingWin: 3000, acWarmS: 1, acRepS: 4, pubWin: 5000, readWarmS: 1, readRepS: 3 };
const REPS = 3;
const BATCH = 1000;
const ENTRY_BYTES = 256;
const CONCURRENCY = (env['BENCH_CONCURRENCY'] ?? '2,4,8').split(',').map(Number);
const SINGLE_CONNECTIONS = Number(env['BENCH_SINGLE_CONNECTIONS'] ?? 100);
const READ_CONNECTIONS = 50;
const PUBLISHED_PROBES = 10;
const BACKGROUND_RATE = 5000; // entries/s during the published-latency phase
const LONG_ENTRIES = Number(env['BENCH_LONG_ENTRIES'] ?? 5_000_000);
const TARGETS = { ingest: 50_000, singles: 3_000, publishedP99Ms: 1500, reads: 15_000, longRssMB: 300 };

const OUT_DIR = join(REPO_ROOT, '.bench');
const PROFILE_DIR = join(OUT_DIR, 'profiles');

function log(msg: string): void {
  process.stdout.write(`${msg}\n`);
}

const MB = 1024 * 1024;

interface PhaseServer {
  readonly server: ServerProcess;
  readonly rss: RssSampler;
  readonly base: URL;
}

interface PhaseMeta {
  cpu: CpuReading;
  rssMaxMB: number;
  rssEndMB: number;
  stopMs: number;
  stopKilled: boolean;
  profile?: ProfileSummary;
  command: string;
}

const results: Record<string, unknown> = {};
const phaseMeta: Record<string, PhaseMeta> = {};
const profileTexts: string[] = [];

async function withServer<T>(phase: string, dataDir: string, f: (s: PhaseServer) => Promise<T>): Promise<T> {
  const profDir = join(PROFILE_DIR, phase);
  if (PROFILE) {
    rmSync(profDir, { recursive: true, force: true });
    mkdirSync(profDir, { recursive: true });
  }
  const server = await ServerProcess.start({ dataDir, nodeArgs: PROFILE ? ['--cpu-prof', '--cpu-prof-dir', profDir] : [] });
  const rss = new RssSampler(server.pid, 250);
  const meter = new CpuMeter(server.pid);
  log(`  [${phase}] server pid ${server.pid} on ${server.base}: ${server.command}`);
  let out: T;
  try {
    out = await f({ server, rss, base: new URL(server.base) });
  } catch (err) {
    rss.stop();
    await server.stop(5000);
    throw new Error(`${phase}: ${(err as Error).message}\n  server output (tail):\n  ${server.tail.join('\n  ')}`);
  }
  const m = rss.stop();
  const cpu = meter.read();
  const stop = await server.stop();
  const meta: PhaseMeta = { cpu, rssMaxMB: m.maxBytes / MB, rssEndMB: m.lastBytes / MB, stopMs: stop.ms, stopKilled: stop.killed, command: server.command };
  if (stop.killed || (stop.code !== 0 && stop.code !== null)) log(`  [${phase}] warning: server exit code ${stop.code} signal ${stop.signal} (killed: ${stop.killed})`);
  if (PROFILE) {
    const f2 = readdirSync(profDir).find((x) => x.endsWith('.cpuprofile'));
    if (f2 !== undefined) {
      meta.profile = summarizeProfile(join(profDir, f2), 20);
      const text = formatProfile(meta.profile, phase);
      profileTexts.push(text);
      log(text);
    }
  }
  phaseMeta[phase] = meta;
  log(`  [${phase}] server RSS max ${Math.round(m.maxBytes / MB)} MB; SIGTERM → exit in ${Math.round(stop.ms)} ms; phase ${cpuText(cpu)}`);
  if (cpu.otherCores > 0.25) log(`  [${phase}] WARNING: other processes used ${cpu.otherCores.toFixed(2)} cores during this phase: the numbers are disturbed`);
  return out;
}

function summarizeIngest(r: BatchIngestResult, cpu: Cpu) {
  const rates = windowRates(r);
  const lat = r.windows.flatMap((w) => w.latenciesMs);
  return {
    cpu,
    concurrency: r.concurrency,
    format: r.format,
    medianEntriesPerS: median(rates),
    windowEntriesPerS: rates,
    requestLatencyMs: { p50: quantile(lat, 0.5), p99: quantile(lat, 0.99) },
    warmupAcked: r.warmup.acked,
    pushbacks: r.pushbacks,
    errors: r.errors,
    duplicates: r.duplicates,
    firstError: r.firstError,
  };
}
type IngestSummary = ReturnType<typeof summarizeIngest>;

function checkIngest(s: IngestSummary): void {
  if (s.duplicates > 0) throw new Error(`the server reported ${s.duplicates} duplicates among unique entries`);
  if (s.errors > 0) log(`    warning: ${s.errors} failed requests (first: ${s.firstError})`);
}

type Cpu = CpuReading;
type CannonRep = CannonResult & { cpu: Cpu };

function cpuText(c: Cpu): string {
  return `CPU: server ${c.serverCores.toFixed(2)}, load gen ${c.loadGenCores.toFixed(2)}, other ${c.otherCores.toFixed(2)} cores`;
}

function medianCpu(cs: readonly Cpu[]): Cpu {
  return { serverCores: median(cs.map((c) => c.serverCores)), loadGenCores: median(cs.map((c) => c.loadGenCores)), otherCores: median(cs.map((c) => c.otherCores)) };
}

async function cannonReps(label: string, pid: number, mk: () => Parameters<typeof cannon>[0], warmS: number, repS: number): Promise<{ warm: CannonResult; reps: CannonRep[] }> {
  const warm = await cannon({ ...mk(), durationS: warmS });
  const reps: CannonRep[] = [];
  for (let i = 0; i < REPS; i++) {
    const meter = new CpuMeter(pid);
    const r = await cannon({ ...mk(), durationS: repS });
    const cpu = meter.read();
    reps.push({ ...r, cpu });
    log(`    ${label} rep ${i + 1}: ${fmt(r.okPerSecond)} ok/s (p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, non-2xx ${r.non2xx}, errors ${r.errors}, timeouts ${r.timeouts}; ${cpuText(cpu)})`);
  }
  return { warm, reps };
}

/** Mean entries per sequencer commit so far, from the server's /metrics (tilelog_batch_entries histogram). */
async function meanCommitEntries(base: URL): Promise<{ commits: number; meanEntries: number }> {
  const text = await (await fetch(new URL('/metrics', base))).text();
  const num = (name: string) => Number(new RegExp(`^${name} ([0-9.e+]+)$`, 'm').exec(text)?.[1] ?? NaN);
  const count = num('tilelog_batch_entries_count');
  return { commits: count, meanEntries: num('tilelog_batch_entries_sum') / count };
}

async function treeSizeOf(base: URL): Promise<bigint> {
  const r = await fetch(new URL('/checkpoint', base));
  const text = await r.text();
  const line = text.split('\n')[1];
  if (r.status !== 200 || line === undefined || !/^[0-9]+$/.test(line)) throw new Error(`bad checkpoint: HTTP ${r.status} ${text.slice(0, 100)}`);
  return BigInt(line);
}

function machine() {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    // not a git checkout
  }
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memGB: Math.round(totalmem() / 1024 ** 3),
    node: process.version,
    kernel: release(),
    commit,
    date: new Date().toISOString(),
  };
}

async function main(): Promise<void> {
  installCleanup();
  const t0 = nowMs();
  mkdirSync(OUT_DIR, { recursive: true });
  const parent = env['BENCH_TMPDIR'] ?? tmpdir();
  const dataDir = mkdtempSync(join(parent, 'tilelog-bench-'));
  const factory = new EntryFactory();
  const rows: Row[] = [];
  const m = machine();
  log(`tilelog benchmark — ${m.cpu}, ${m.cores} cores, ${m.memGB} GB, node ${m.node}, linux ${m.kernel}, commit ${m.commit}`);
  log(`command: npm run bench   (= npm run build && node dist/test/bench/bench.js)${QUICK ? '  [BENCH_QUICK=1]' : ''}${PROFILE ? '  [BENCH_PROFILE=1]' : ''}`);
  log(`data dir: ${dataDir}`);
  results['machine'] = m;
  results['settings'] = { quick: QUICK, profile: PROFILE, phases: [...PHASES], durationsMs: T, reps: REPS, batchEntries: BATCH, entryBytes: ENTRY_BYTES, concurrency: CONCURRENCY, singleConnections: SINGLE_CONNECTIONS, readConnections: READ_CONNECTIONS, publishedProbes: PUBLISHED_PROBES, backgroundEntriesPerS: BACKGROUND_RATE };

  let shaMedian = NaN;
  let levelMedian = NaN;
  let bestIngest: IngestSummary | undefined;
  let bestFormat: BatchFormat = 'json';

  try {
    // ---- 1. Baselines -------------------------------------------------------------------------------------
    if (PHASES.has('baseline')) {
      log('\n# baseline: SHA-256 (node:crypto, 256-byte inputs, 1 thread)');
      const meter = new CpuMeter(undefined);
      const sha = sha256Rates(REPS, T.shaRep, 256);
      shaMedian = median(sha);
      log(`    ${sha.map((x) => fmt(x)).join(' / ')} hashes/s → median ${fmt(shaMedian)}`);
      log('# baseline: raw LevelDB, sequential write batches of 1,000 puts (33 B key, 300 B value), sync: true');
      const lv = await levelBatchRates(REPS, T.levelRep, 1000, 300, parent);
      levelMedian = median(lv.rates);
      log(`    ${lv.rates.map((x) => fmt(x)).join(' / ')} entries/s (${lv.batchMs.map((x) => x.toFixed(2)).join(' / ')} ms per batch) → median ${fmt(levelMedian)}`);
      const cpu = meter.read();
      log(`    ${cpuText(cpu)}`);
      if (cpu.otherCores > 0.25) log(`  [baseline] WARNING: other processes used ${cpu.otherCores.toFixed(2)} cores during this phase: the numbers are disturbed`);
      phaseMeta['baseline'] = { cpu, rssMaxMB: NaN, rssEndMB: NaN, stopMs: 0, stopKilled: false, command: '' };
      results['baseline'] = { sha256PerS: sha, sha256Median: shaMedian, levelEntriesPerS: lv.rates, levelMsPerBatch: lv.batchMs, levelMedian };
      rows.push({ metric: 'SHA-256, 256-byte inputs (node:crypto, 1 thread)', value: `${fmt(shaMedian)} hashes/s`, reps: sha });
      rows.push({ metric: 'Raw LevelDB: batches of 1,000 × 300 B puts, sync (entries/s)', value: `${fmt(levelMedian)} entries/s (${median(lv.batchMs).toFixed(1)} ms/batch)`, reps: lv.rates });
    }

    // ---- 2. Batch ingest ----------------------------------------------------------------------------------
    if (PHASES.has('ingest')) {
      await withServer('ingest', dataDir, async ({ base, server }) => {
        const ingest = async (o: Omit<Parameters<typeof runBatchIngest>[0], 'base' | 'factory' | 'batchEntries' | 'entryBytes'>) => {
          const meter = new CpuMeter(server.pid);
          const r = await runBatchIngest({ ...o, base, factory, batchEntries: BATCH, entryBytes: ENTRY_BYTES });
          return summarizeIngest(r, meter.read());
        };
        log(`\n# ingest: POST /v1/entries, batches of ${BATCH} × ${ENTRY_BYTES}-byte entries`);
        const formats: Record<string, IngestSummary> = {};
        for (const format of ['json', 'ndjson'] as const) {
          const r = await ingest({ concurrency: 4, format, warmupMs: T.fmtWarm, windowMs: T.fmtWin, windows: REPS });
          checkIngest(r);
          formats[format] = r;
          log(`    format ${format.padEnd(6)} (4 clients): ${r.windowEntriesPerS.map((x) => fmt(x)).join(' / ')} entries/s → median ${fmt(r.medianEntriesPerS)} (${cpuText(r.cpu)})`);
        }
        bestFormat = (formats['ndjson']?.medianEntriesPerS ?? 0) > (formats['json']?.medianEntriesPerS ?? 0) ? 'ndjson' : 'json';
        log(`    cheaper format: ${bestFormat}`);
        const perConcurrency: IngestSummary[] = [];
        for (const c of CONCURRENCY) {
          const r = await ingest({ concurrency: c, format: bestFormat, warmupMs: T.ingWarm, windowMs: T.ingWin, windows: REPS });
          checkIngest(r);
          perConcurrency.push(r);
          log(`    ${String(c).padStart(2)} clients: ${r.windowEntriesPerS.map((x) => fmt(x)).join(' / ')} entries/s → median ${fmt(r.medianEntriesPerS)} (request p50 ${Math.round(r.requestLatencyMs.p50)} ms, p99 ${Math.round(r.requestLatencyMs.p99)} ms, pushbacks ${r.pushbacks}; ${cpuText(r.cpu)})`);
        }
        bestIngest = perConcurrency.reduce((a, b) => (b.medianEntriesPerS > a.medianEntriesPerS ? b : a));
        const commits = await meanCommitEntries(base);
        log(`    sequencer: ${commits.commits} commits of ${fmt(commits.meanEntries)} entries on average`);
        results['ingest'] = { formats, perConcurrency, best: bestIngest, commits, treeSizeAfter: (await treeSizeOf(base)).toString() };
      });
      const b = bestIngest as IngestSummary | undefined;
      if (b !== undefined) {
        const per = (results['ingest'] as { perConcurrency: IngestSummary[] }).perConcurrency;
        rows.push({ metric: `Batch ingest, best (${b.concurrency} clients, ${b.format}, ${BATCH} × ${ENTRY_BYTES} B)`, value: `${fmt(b.medianEntriesPerS)} entries/s (${cpuText(b.cpu)})`, reps: b.windowEntriesPerS, target: `≥ ${fmt(TARGETS.ingest)}`, met: b.medianEntriesPerS >= TARGETS.ingest });
        rows.push({ metric: `Batch ingest per concurrency (${per.map((x) => x.concurrency).join(' / ')} clients)`, value: per.map((x) => fmt(x.medianEntriesPerS)).join(' / ') + ' entries/s' });
        const f = (results['ingest'] as { formats: Record<string, IngestSummary> }).formats;
        rows.push({ metric: 'Batch ingest by format, 4 clients (json / ndjson)', value: `${fmt(f['json']?.medianEntriesPerS ?? NaN)} / ${fmt(f['ndjson']?.medianEntriesPerS ?? NaN)} entries/s` });
        rows.push({ metric: 'Server RSS during batch ingest (max)', value: `${Math.round(phaseMeta['ingest']?.rssMaxMB ?? NaN)} MB` });
      }
    }

    // ---- 3. Single-entry posts ----------------------------------------------------------------------------
    if (PHASES.has('singles')) {
      const out = await withServer('singles', dataDir, async ({ base, server }) => {
        log(`\n# singles: POST /v1/entries, one ${ENTRY_BYTES}-byte application/octet-stream entry per request, ${SINGLE_CONNECTIONS} connections (autocannon)`);
        const mk = () => ({
          url: base.origin,
          connections: SINGLE_CONNECTIONS,
          durationS: 1,
          requests: [
            {
              method: 'POST',
              path: '/v1/entries',
              headers: { 'content-type': 'application/octet-stream' },
              setupRequest: (req: import('autocannon').RequestSpec) => ({ ...req, body: factory.octet(ENTRY_BYTES) }),
            },
          ],
        });
        const before = await treeSizeOf(base);
        const r = await cannonReps('singles', server.pid, mk, T.acWarmS, T.acRepS);
        // Every 2xx must have appended one entry: check the tree grew by at least the 2xx count.
        await sleep(1200);
        const after = await treeSizeOf(base);
        const ok = [r.warm, ...r.reps].reduce((a, x) => a + x.ok, 0);
        if (after - before < BigInt(ok)) throw new Error(`the tree grew by ${after - before} but ${ok} posts were acknowledged`);
        return r;
      });
      const rates = out.reps.map((x) => x.okPerSecond);
      const med = median(rates);
      const lat = { p50: median(out.reps.map((x) => x.latencyMs.p50)), p99: median(out.reps.map((x) => x.latencyMs.p99)) };
      const cpu = medianCpu(out.reps.map((x) => x.cpu));
      results['singles'] = { connections: SINGLE_CONNECTIONS, reps: out.reps, medianPerS: med, latencyMs: lat, cpu };
      rows.push({ metric: `Single-entry posts, octet-stream, ${SINGLE_CONNECTIONS} connections`, value: `${fmt(med)} req/s (latency p50 ${lat.p50} ms, p99 ${lat.p99} ms; ${cpuText(cpu)})`, reps: rates, target: `≥ ${fmt(TARGETS.singles)}`, met: med >= TARGETS.singles });
      rows.push({ metric: 'Server RSS during single posts (max)', value: `${Math.round(phaseMeta['singles']?.rssMaxMB ?? NaN)} MB` });
    }

    // ---- 4. Submission → published ------------------------------------------------------------------------
    if (PHASES.has('published')) {
      const out = await withServer('published', dataDir, async ({ base }) => {
        log(`\n# published: ${PUBLISHED_PROBES} clients posting one entry with ?wait=published (random 0–1 s pauses), background load ${fmt(BACKGROUND_RATE)} entries/s, checkpoint interval 1 s (default)`);
        const bg = new PacedLoad(base, factory, BACKGROUND_RATE, 100, ENTRY_BYTES);
        await sleep(1000);
        const pr = await runPublishedProbes({ base, factory, probes: PUBLISHED_PROBES, entryBytes: ENTRY_BYTES, windowMs: T.pubWin, windows: REPS, jitterMs: 1000 });
        const bgRate = await bg.stop();
        return { pr, bgRate, bgErrors: bg.errors };
      });
      const all = out.pr.windows.flat();
      const perRep = out.pr.windows.map((w) => p50p99(w));
      perRep.forEach((x, i) => log(`    rep ${i + 1}: p50 ${Math.round(x.p50)} ms, p99 ${Math.round(x.p99)} ms (${x.n} probes)`));
      const pooled = p50p99(all);
      const medP50 = median(perRep.map((x) => x.p50));
      const medP99 = median(perRep.map((x) => x.p99));
      log(`    all ${pooled.n} probes: p50 ${Math.round(pooled.p50)} ms, p99 ${Math.round(pooled.p99)} ms, max ${Math.round(quantile(all, 1))} ms; background achieved ${fmt(out.bgRate)} entries/s (${out.bgErrors} errors); probe errors ${out.pr.errors}`);
      results['published'] = { perRep, pooled, medianOfRepsP50Ms: medP50, medianOfRepsP99Ms: medP99, maxMs: quantile(all, 1), backgroundEntriesPerS: out.bgRate, backgroundErrors: out.bgErrors, probeErrors: out.pr.errors, latenciesMs: all };
      rows.push({
        metric: `Submission → published (1 s interval, bg ${fmt(BACKGROUND_RATE)} entries/s), p50 / p99`,
        value: `${Math.round(medP50)} / ${Math.round(medP99)} ms (all ${pooled.n}: ${Math.round(pooled.p50)} / ${Math.round(pooled.p99)} ms)`,
        reps: perRep.map((x) => x.p99),
        target: `p99 ≤ ${fmt(TARGETS.publishedP99Ms)} ms`,
        met: medP99 <= TARGETS.publishedP99Ms && pooled.p99 <= TARGETS.publishedP99Ms,
      });
    }

    // ---- 5. Reads -----------------------------------------------------------------------------------------
    if (PHASES.has('reads')) {
      const prep = await withServer('reads-tiles', dataDir, async ({ base, server }) => {
        let size = await treeSizeOf(base);
        if (size < 256n * 64n) {
          // Not enough tiles (ingest skipped): add some.
          await runBatchIngest({ base, concurrency: 2, format: 'json', batchEntries: BATCH, entryBytes: ENTRY_BYTES, warmupMs: 0, windowMs: 1000, windows: 30, factory, stopAfterEntries: 256 * 200 });
          await sleep(1500);
          size = await treeSizeOf(base);
        }
        const full = size / 256n;
        const n = full < 1000n ? full : 1000n;
        const paths: string[] = [];
        for (let i = 0n; i < n; i++) paths.push(`/${tilePath({ kind: 'hash', level: 0, index: (i * full) / n, width: 256 })}`);
        log(`\n# reads: GET /tile/0/<N> rotating over ${paths.length} of ${full} full level-0 tiles (8 KiB each); ${READ_CONNECTIONS} keep-alive connections (autocannon)`);
        const tiles = await cannonReps('tiles', server.pid, () => ({ url: base.origin, connections: READ_CONNECTIONS, durationS: 1, requests: paths.map((path) => ({ method: 'GET', path })) }), T.readWarmS, T.readRepS);
        return { tiles, tilesUsed: paths.length, fullTiles: full.toString(), treeSize: size.toString() };
      });
      const cp = await withServer('reads-checkpoint', dataDir, async ({ base, server }) => {
        log(`\n# reads: GET /checkpoint; ${READ_CONNECTIONS} keep-alive connections (autocannon)`);
        return cannonReps('checkpoint', server.pid, () => ({ url: base.origin, connections: READ_CONNECTIONS, durationS: 1, requests: [{ method: 'GET', path: '/checkpoint' }] }), T.readWarmS, T.readRepS);
      });
      const out = { ...prep, cp };
      for (const [key, label, r] of [
        ['tiles', `GET /tile/0/<N> (${out.tilesUsed} full tiles, ${READ_CONNECTIONS} conns)`, out.tiles],
        ['checkpoint', `GET /checkpoint (${READ_CONNECTIONS} conns)`, out.cp],
      ] as const) {
        const rates = r.reps.map((x) => x.okPerSecond);
        const med = median(rates);
        const lat = { p50: median(r.reps.map((x) => x.latencyMs.p50)), p99: median(r.reps.map((x) => x.latencyMs.p99)) };
        const cpu = medianCpu(r.reps.map((x) => x.cpu));
        results[`reads_${key}`] = { reps: r.reps, medianPerS: med, latencyMs: lat, cpu };
        rows.push({ metric: label, value: `${fmt(med)} req/s (p50 ${lat.p50} ms, p99 ${lat.p99} ms; ${cpuText(cpu)})`, reps: rates, target: `≥ ${fmt(TARGETS.reads)}`, met: med >= TARGETS.reads });
      }
      results['reads'] = { tilesUsed: out.tilesUsed, fullTiles: out.fullTiles, treeSize: out.treeSize };
    }

    // ---- 6. Long run --------------------------------------------------------------------------------------
    if (PHASES.has('long')) {
      const longDir = mkdtempSync(join(parent, 'tilelog-bench-long-'));
      try {
        const c = bestIngest?.concurrency ?? 4;
        const winMs = 10_000;
        const out = await withServer('long', longDir, async ({ base, rss }) => {
          log(`\n# long: ${fmt(LONG_ENTRIES)} entries (${c} clients, ${bestFormat}, ${BATCH} × ${ENTRY_BYTES} B) into a fresh log; every 10 s:`);
          const tStart = nowMs();
          let lastReport = 0;
          const r = await runBatchIngest({
            base,
            concurrency: c,
            format: bestFormat,
            batchEntries: BATCH,
            entryBytes: ENTRY_BYTES,
            warmupMs: 0,
            windowMs: winMs,
            windows: 360, // at most one hour
            factory,
            stopAfterEntries: LONG_ENTRIES,
            progress: (acked, elapsed) => {
              if (elapsed - lastReport >= winMs) {
                lastReport += winMs;
                const cur = rss.samples[rss.samples.length - 1]?.rss ?? 0;
                log(`    ${Math.round(elapsed / 1000)} s: ${fmt(acked)} entries, RSS ${Math.round(cur / MB)} MB`);
              }
            },
          });
          const elapsedMs = nowMs() - tStart;
          const used = r.windows.filter((w) => w.requests > 0);
          const timeline = used.map((w, i) => {
            const from = i * winMs;
            const to = Math.min((i + 1) * winMs, elapsedMs);
            const inWin = rss.samples.filter((s) => s.t >= from && s.t < to).map((s) => s.rss);
            return { fromS: from / 1000, entriesPerS: w.acked / ((to - from) / 1000), rssMaxMB: (inWin.length ? Math.max(...inWin) : 0) / MB };
          });
          const acked = r.windows.reduce((a, w) => a + w.acked, 0);
          return { acked, elapsedMs, timeline, treeSize: (await treeSizeOf(base)).toString() };
        });
        const meta = phaseMeta['long'];
        const rssMax = meta?.rssMaxMB ?? NaN;
        const rates = out.timeline.map((x) => x.entriesPerS);
        const mean = out.acked / (out.elapsedMs / 1000);
        log(`    ${fmt(out.acked)} entries in ${(out.elapsedMs / 1000).toFixed(0)} s = ${fmt(mean)} entries/s; first/last 10 s: ${fmt(rates[0] ?? NaN)} / ${fmt(rates[rates.length - 2] ?? rates[0] ?? NaN)} entries/s; max RSS ${Math.round(rssMax)} MB`);
        results['long'] = { ...out, meanEntriesPerS: mean, rssMaxMB: rssMax };
        rows.push({ metric: `Long run: ${fmt(LONG_ENTRIES)} entries, max server RSS`, value: `${Math.round(rssMax)} MB`, target: `< ${TARGETS.longRssMB} MB`, met: rssMax < TARGETS.longRssMB });
        rows.push({
          metric: 'Long run: throughput, mean (first → last 10 s window)',
          value: `${fmt(mean)} entries/s (${fmt(rates[0] ?? NaN)} → ${fmt(rates[rates.length - 2] ?? rates[0] ?? NaN)}) in ${(out.elapsedMs / 1000).toFixed(0)} s`,
        });
      } finally {
        if (env['BENCH_KEEP'] !== '1') rmSync(longDir, { recursive: true, force: true });
      }
    }

    const others = Object.entries(phaseMeta).map(([k, v]) => `${k} ${v.cpu.otherCores.toFixed(2)}`);
    if (others.length > 0) rows.push({ metric: 'CPU used by other processes during each phase (cores; ≈ 0 = quiet machine)', value: others.join(', ') });

    // ---- 7. Ratios ----------------------------------------------------------------------------------------
    const best = bestIngest as IngestSummary | undefined;
    if (best !== undefined && Number.isFinite(levelMedian)) {
      const rl = best.medianEntriesPerS / levelMedian;
      const rs = best.medianEntriesPerS / shaMedian;
      results['ratios'] = { ingestOverLevel: rl, ingestOverSha256: rs };
      rows.push({ metric: 'Ratio: batch ingest ÷ raw LevelDB batch writes', value: rl.toFixed(3) });
      rows.push({ metric: 'Ratio: batch ingest ÷ SHA-256/s', value: rs.toFixed(4) });
    }
  } finally {
    results['phases'] = phaseMeta;
    results['totalSeconds'] = (nowMs() - t0) / 1000;
    writeFileSync(join(OUT_DIR, 'results.json'), `${JSON.stringify(results, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`);
    if (env['BENCH_KEEP'] !== '1') rmSync(dataDir, { recursive: true, force: true });
  }

  const md = renderMarkdown(rows, {
    title: `tilelog ${m.commit}, ${m.cpu} × ${m.cores} cores, node ${m.node}, ${m.date.slice(0, 10)}`,
    command: 'npm run bench',
    notes: [
      `Server: \`node bin/tilelog.js serve --data DIR --http 127.0.0.1:0\` (defaults: checkpoint interval 1 s, batch size 1000, batch delay 10 ms, max pending 100000), restarted between phases on the same data directory; load generator in the same machine (autocannon / node:http keep-alive).`,
      `Throughputs are medians of ${REPS} back-to-back windows after a warm-up (ingest ${T.ingWin / 1000} s, autocannon ${T.acRepS} s / ${T.readRepS} s, published ${T.pubWin / 1000} s); only acknowledged (2xx) requests count; per-window values in .bench/results.json.`,
    ],
  });
  log(`\n${md}`);
  log(`results: ${join(OUT_DIR, 'results.json')} — total ${((nowMs() - t0) / 1000).toFixed(0)} s`);
  writeFileSync(join(OUT_DIR, 'results.md'), `${md}\n${profileTexts.length ? `\n\`\`\`\n${profileTexts.join('\n\n')}\n\`\`\`\n` : ''}`);
}

if (env['NODE_TEST_CONTEXT'] !== undefined) {
  // `npm test` runs every file under dist/test with node --test: do not start a 3-minute benchmark there.
  process.stdout.write('bench.js: skipped under node --test (run `npm run bench`)\n');
} else {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`\nbench failed: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
