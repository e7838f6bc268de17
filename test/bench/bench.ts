/**
 * `npm run bench` — throughput, latency and memory of a real `tilelog serve` process on this machine, with
 * baselines of the machine (SHA-256, raw LevelDB) measured in the same run so that numbers from different or
 * noisy machines can be compared as ratios. The load generator runs in this process, on the same cores, and the
 * CPU used by the server, by the load generator and by any other process is reported for every phase.
 *
 * Phases (each bounded in time; the server is restarted with its default flags — checkpoint interval 1 s, batch
 * size 1000, batch delay 10 ms — on the same data directory between phases):
 *   baseline   SHA-256/s (256-byte inputs, 1 thread); LevelDB synced batches of 1,000 × 300 B (entries/s); a minimal
 *              node:http server in a child process (req/s, autocannon) — every result is also reported as a ratio
 *              to one of these
 *   ingest     POST /v1/entries, batches of 1,000 entries of 256 bytes: JSON vs NDJSON, then 2/4/8 clients
 *   grpc       gRPC LogService/AppendStream (server started with --grpc 127.0.0.1:0), batches of 1,000 raw
 *              256-byte entries, 1/2/4 streams (one HTTP/2 connection each) each keeping up to 8 batches in
 *              flight, round-robin with HTTP batch ingest on the same server (the ingest phase's best client count
 *              and format, else 4 clients, JSON) for the ratio gRPC ÷ HTTP; then the cost of authentication: two
 *              servers side by side on fresh data directories, one with --auth-issuer/--auth-audience/
 *              --auth-jwks-file/--auth-subject (streams carry an ES256 bearer JWT), loaded alternately with 2 streams
 *   singles    POST /v1/entries, one 256-byte application/octet-stream entry per request, 100 and 200
 *              connections (autocannon)
 *   published  ?wait=published probes at the default 1 s interval under a paced background load: p50/p99
 *   reads      GET /tile/0/<N> over existing full tiles, then GET /checkpoint (autocannon, keep-alive)
 *   k8s        POST /v1/k8s/audit: audit.k8s.io/v1 EventLists of 400 events (the API server's default webhook batch),
 *              in the webhook's form (items without kind/apiVersion), built from the real events of
 *              /work/shared/fixtures/k8s-audit/immudb-log-audit-k8s-subset.jsonl with a unique auditID each (stage
 *              kept), 2/4 clients round-robin → events/s (new entries of 200 replies); then a paced open-loop load
 *              of 5,000 events/s in EventLists of 100 for 8 s → send-to-200 p50/p99. Then, if the build serves
 *              POST /v1/logs (probed with an empty request; 404 or no vendored protos → "not served by this build"),
 *              OTLP/HTTP protobuf ExportLogsServiceRequests of 400 LogRecords (1 resource, 1 scope, unique bodies,
 *              encoded with protobufjs from proto/opentelemetry/…), 4 clients → records/s (cross-checked against
 *              the growth of GET /v1/log integratedTreeSize), and the same paced latency for 3 s. About 40 s
 *   proofs     GET /v1/proof/inclusion?index=N and /v1/proof/consistency?from=M over 100 indexes spread over the
 *              tree (at least 100,000 entries), autocannon → proofs/s
 *   collector  `tilelog collect --once` over 200,000 real ingress-nginx lines into a fresh log (test/bench/collector.ts):
 *              lines/s forwarded, lines/s with attestations and receipts, and the spool's share of the time
 *   audit      test/bench/audit-full.ts: a full audit (clients/auditor) of a fresh 210,000-entry log → entries/s
 *   long       (BENCH_LONG=1 only) 10,000,000 entries into a fresh log: max RSS and throughput over time, disk
 *              bytes per entry, and the restart time on that log
 * Throughputs are medians of 3 windows after a warm-up; configurations of one phase (formats, client counts,
 * connection counts) are measured round-robin so that the growing tree and outside disturbances spread evenly.
 * Every window is in .bench/results.json.
 * A failing phase (e.g. the server crashed) is reported in the table and the run continues; exit code 1.
 *
 * Default run: about 3.5 minutes plus the build (the grpc phase about 75 s). Environment:
 *   BENCH_LONG=1            also run the long phase: 5M entries into a fresh log, about 100 s at ~50k entries/s
 *                           on a quiet 2-core VM (up to ~7 min when other processes compete for the CPU), so
 *                           `BENCH_LONG=1 npm run bench` takes about 4 minutes in all
 *   BENCH_LONG_ENTRIES=N    entries of the long phase (default 10,000,000)
 *   BENCH_PROFILE=1         run each server under `node --cpu-prof` and print its hot spots per phase
 *                           (profiles in .bench/profiles/<phase>/; numbers are lower under the profiler)
 *   BENCH_PHASES=a,b        run only these phases (baseline, ingest, grpc, singles, published, reads, proofs, k8s,
 *                           collector, long)
 *   BENCH_QUICK=1 or --quick   shorter windows, fewer repetitions of the collector (under two minutes plus the
 *                           build; `npm run bench -- --quick`; numbers noisier)
 *   BENCH_CONCURRENCY=2,4,8 batch-ingest client counts
 *   BENCH_SINGLE_CONNECTIONS=100,200  connection counts of the single-post phase
 *   BENCH_GRPC_STREAMS=1,2,4   AppendStream counts of the grpc phase
 *   BENCH_GRPC_INFLIGHT=8      unacknowledged batches per stream (the server reads at most 16)
 *   BENCH_GRPC_AUTH_STREAMS=2  stream count of the auth-on / auth-off comparison
 *   BENCH_TMPDIR=DIR        where the temporary data directories go (default: the OS temp dir)
 *   BENCH_KEEP=1            keep the data directories
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import type { RequestSpec } from 'autocannon';
import { levelBatchRates, minimalHttpServer, sha256Rates } from './baselines.js';
import { collectorBench } from './collector.js';
import { EntryFactory, type BatchFormat } from './entries.js';
import { cannon, dropAutocannonResponseBodies, PacedLoad, p50p99, runBatchIngest, runPublishedProbes, type BatchIngestResult, type CannonResult } from './load.js';
import { benchAuth, expectUnauthenticated, runGrpcIngest, type GrpcIngestResult } from './grpc-load.js';
import type { WindowStats } from './load.js';
import { formatProfile, summarizeProfile, type ProfileSummary } from './profile.js';
import { renderMarkdown, type Row } from './report.js';
import { CpuMeter, installCleanup, readMemory, removeOnExit, REPO_ROOT, RssSampler, ServerProcess, type CpuReading } from './server.js';
import { fmt, median, nowMs, quantile, sleep } from './stats.js';
import { AuditEventLists, integratedTreeSize, otlpProtosPresent, OtlpLogExports, probePost, runPacedLatency, runPostIngest, type BodySource, type PacedLatencyResult, type PostIngestResult } from './k8s-load.js';

const env = process.env;
const QUICK = env['BENCH_QUICK'] === '1' || process.argv.includes('--quick');
const PROFILE = env['BENCH_PROFILE'] === '1';
const ALL_PHASES = ['baseline', 'ingest', 'grpc', 'singles', 'published', 'reads', 'proofs', 'k8s', 'collector', 'audit', 'long'] as const;
type Phase = (typeof ALL_PHASES)[number];

/** Durations (ms). The defaults keep `npm run bench` around 2 minutes plus the build. */
const T = QUICK
  ? { shaRep: 300, levelRep: 500, fmtWarm: 500, fmtWin: 1000, ingWarm: 500, ingWin: 1000, acWarmS: 1, acRepS: 1, pubWin: 2500, readWarmS: 1, readRepS: 1, k8sWarm: 500, k8sWin: 1000, k8sLatWarm: 500, k8sLatWin: 1000, otlpLatWin: 1000 }
  : { shaRep: 1000, levelRep: 2000, fmtWarm: 500, fmtWin: 2000, ingWarm: 1000, ingWin: 3000, acWarmS: 1, acRepS: 3, pubWin: 5000, readWarmS: 1, readRepS: 3, k8sWarm: 500, k8sWin: 2500, k8sLatWarm: 1000, k8sLatWin: 8000 / 3, otlpLatWin: 1000 };
const REPS = 3;
const BATCH = 1000;
const ENTRY_BYTES = 256;
const SINGLE_CONNECTIONS = (env['BENCH_SINGLE_CONNECTIONS'] ?? '100,200').split(',').map(Number);
const READ_CONNECTIONS = 50;
const PUBLISHED_PROBES = 10;
const BACKGROUND_RATE = 5000; // entries/s during the published-latency phase
const LONG_ENTRIES = Number(env['BENCH_LONG_ENTRIES'] ?? 10_000_000);
const TARGETS = { fullAudit: 200_000, proofs: 10_000, restartMs: 5000, diskFactor: 1.3, diskPerEntry: 80, collector: 20_000, spoolShare: 0.3, levelShare: 0.25, ingest: 50_000, grpcIngest: 50_000, grpcOverHttp: 1.0, authCost: 0.1, singles: 3_000, publishedP99Ms: 1500, reads: 15_000, longRssMB: 300, k8sAudit: 20_000, k8sAuditP99Ms: 200, otlp: 20_000, otlpP99Ms: 200 };
/** The k8s phase: events per audit EventList (the API server's default webhook batch size), client counts, paced load. */
const K8S = { batch: 400, clients: [2, 4], latencyRate: 5000, latencyBatch: 100, otlpBatch: 400, otlpClients: 4 };
const NOT_SERVED = 'not served by this build';
const OTHER_CPU_WARNING = 0.25;

const OUT_DIR = join(REPO_ROOT, '.bench');
const PROFILE_DIR = join(OUT_DIR, 'profiles');
const MB = 1024 * 1024;

function log(msg: string): void {
  process.stdout.write(`${msg}\n`);
}

function phasesToRun(): Set<Phase> {
  const want = env['BENCH_PHASES'];
  const list = want !== undefined ? want.split(',').map((s) => s.trim()) : ALL_PHASES.filter((p) => p !== 'long' || env['BENCH_LONG'] === '1');
  for (const p of list) if (!(ALL_PHASES as readonly string[]).includes(p)) throw new Error(`unknown phase ${p}; phases: ${ALL_PHASES.join(', ')}`);
  return new Set(list as Phase[]);
}

function intList(name: string, dflt: string, max: number): number[] {
  const xs = (env[name] ?? dflt).split(',').map(Number);
  if (xs.length === 0 || xs.some((c) => !Number.isInteger(c) || c < 1 || c > max)) throw new Error(`${name}: want e.g. ${dflt}`);
  return xs;
}

function concurrencies(): number[] {
  const cs = (env['BENCH_CONCURRENCY'] ?? '2,4,8').split(',').map(Number);
  if (cs.some((c) => !Number.isInteger(c) || c < 1 || c > 64)) throw new Error('BENCH_CONCURRENCY: want e.g. 2,4,8');
  return cs;
}

// ---- formatting helpers ----------------------------------------------------------------------------------------

function cpuText(c: CpuReading): string {
  return `CPU: server ${c.serverCores.toFixed(2)}, load gen ${c.loadGenCores.toFixed(2)}, other ${c.otherCores.toFixed(2)} cores`;
}

function medianCpu(cs: readonly CpuReading[]): CpuReading {
  return { serverCores: median(cs.map((c) => c.serverCores)), loadGenCores: median(cs.map((c) => c.loadGenCores)), otherCores: median(cs.map((c) => c.otherCores)) };
}

function list(xs: readonly number[]): string {
  return xs.map((x) => fmt(x)).join(' / ');
}

/** The tlog-tiles path of a full level-0 hash tile (`tile/0/x001/234`). */
function level0TilePath(index: bigint): string {
  let s = (index % 1000n).toString().padStart(3, '0');
  for (let n = index / 1000n; n > 0n; n /= 1000n) s = `x${(n % 1000n).toString().padStart(3, '0')}/${s}`;
  return `/tile/0/${s}`;
}

// ---- the run ---------------------------------------------------------------------------------------------------

interface PhaseMeta {
  cpu: CpuReading;
  rssMaxMB: number;
  /** Maxima of the anonymous and the file-backed part of the RSS (not necessarily at the same moment). */
  rssAnonMaxMB: number;
  rssFileMaxMB: number;
  rssEndMB: number;
  stopMs: number;
  stopKilled: boolean;
  command: string;
  profile?: ProfileSummary;
}

interface PhaseServer {
  readonly server: ServerProcess;
  readonly rss: RssSampler;
  readonly base: URL;
  /** Aborted when the server dies during the phase: every load generator stops at once. */
  readonly signal: AbortSignal;
}

type CannonRep = CannonResult & { cpu: CpuReading };

interface IngestSummary {
  readonly concurrency: number;
  readonly format: BatchFormat;
  readonly medianEntriesPerS: number;
  readonly windowEntriesPerS: number[];
  readonly requestLatencyMs: { p50: number; p99: number; max: number };
  readonly cpu: CpuReading;
  readonly pushbacks: number;
  readonly errors: number;
  readonly duplicates: number;
  readonly firstError: string | undefined;
}

/** Closed-loop ingest of one client count of the k8s phase (audit or OTLP), over REPS windows. */
interface PostSummary {
  readonly clients: number;
  readonly recordsPerBody: number;
  readonly medianRecordsPerS: number;
  readonly windowRecordsPerS: number[];
  /** New records acknowledged in all warm-ups and windows. */
  readonly ackedAll: number;
  readonly requestLatencyMs: { p50: number; p99: number; max: number };
  readonly cpu: CpuReading;
  readonly pushbacks: number;
  readonly errors: number;
  readonly notAdded: number;
  readonly firstError: string | undefined;
}

type LatencySummary = Omit<PacedLatencyResult, 'windows'> & {
  readonly perWindow: { p50: number; p99: number; n: number }[];
  readonly pooled: { p50: number; p99: number; n: number };
  readonly maxMs: number;
  readonly offeredPerS: number;
  readonly recordsPerBody: number;
  readonly latenciesMs: number[];
  readonly cpu: CpuReading;
};

async function treeSizeOf(base: URL): Promise<bigint> {
  const r = await fetch(new URL('/checkpoint', base));
  const text = await r.text();
  const line = text.split('\n')[1];
  if (r.status !== 200 || line === undefined || !/^[0-9]+$/.test(line)) throw new Error(`bad checkpoint: HTTP ${r.status} ${text.slice(0, 100)}`);
  return BigInt(line);
}

/** Commits and mean entries per commit so far, from the server's /metrics (NaN if the metric is not there). */
async function commitStats(base: URL): Promise<{ commits: number; meanEntries: number }> {
  try {
    const text = await (await fetch(new URL('/metrics', base))).text();
    const num = (name: string) => Number(new RegExp(`^${name} ([0-9.e+]+)$`, 'm').exec(text)?.[1] ?? NaN);
    const count = num('tilelog_batch_entries_count');
    return { commits: count, meanEntries: num('tilelog_batch_entries_sum') / count };
  } catch {
    return { commits: NaN, meanEntries: NaN };
  }
}

interface MemoryBreakdown {
  readonly rssMB: number;
  readonly heapTotalMB: number;
  readonly heapUsedMB: number;
  readonly externalMB: number;
  /** Anonymous RSS − V8 heap − external: native allocations (LevelDB memtables and block cache, malloc arenas). */
  readonly nativeMB: number;
  /** File-backed RSS: the node binary and libraries, and LevelDB's mmapped table files (reclaimable page cache). */
  readonly fileMB: number;
}

/** The server's memory split, from its /metrics (prom-client default metrics) and /proc. */
async function memoryBreakdown(s: PhaseServer): Promise<MemoryBreakdown | undefined> {
  try {
    const text = await (await fetch(new URL('/metrics', s.base))).text();
    const num = (name: string) => Number(new RegExp(`^tilelog_process_${name} ([0-9.e+]+)$`, 'm').exec(text)?.[1] ?? NaN) / MB;
    const mem = readMemory(s.server.pid);
    const heapTotalMB = num('nodejs_heap_size_total_bytes');
    const externalMB = num('nodejs_external_memory_bytes');
    if (!Number.isFinite(heapTotalMB) || mem === undefined) return undefined;
    return { rssMB: mem.rss / MB, heapTotalMB, heapUsedMB: num('nodejs_heap_size_used_bytes'), externalMB, nativeMB: mem.anon / MB - heapTotalMB - externalMB, fileMB: mem.file / MB };
  } catch {
    return undefined;
  }
}

function memText(m: MemoryBreakdown | undefined): string {
  if (m === undefined) return 'memory split unavailable';
  return `RSS ${Math.round(m.rssMB)} MB = V8 heap ${Math.round(m.heapTotalMB)} (used ${Math.round(m.heapUsedMB)}) + external ${Math.round(m.externalMB)} + other anonymous ${Math.round(m.nativeMB)} + file-backed ${Math.round(m.fileMB)}`;
}

function gitDescribe(): string {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    const commit = git('rev-parse', '--short', 'HEAD');
    const dirty = git('status', '--porcelain', '--', 'server', 'bin') !== '';
    return dirty ? `${commit}+uncommitted server changes` : commit;
  } catch {
    return 'unknown';
  }
}

class Bench {
  readonly rows: Row[] = [];
  readonly results: Record<string, unknown> = {};
  readonly phaseMeta: Record<string, PhaseMeta> = {};
  readonly profileTexts: string[] = [];
  readonly failures: string[] = [];
  readonly factory = new EntryFactory();
  shaMedian = NaN;
  levelMedian = NaN;
  httpMedian = NaN;
  bestIngest: IngestSummary | undefined;
  bestFormat: BatchFormat = 'json';

  constructor(
    readonly dataDir: string,
    readonly parentDir: string,
  ) {}

  /** Runs one phase; a failure is logged, put in the table, and the run goes on. */
  async phase(name: string, f: () => Promise<void>): Promise<void> {
    try {
      await f();
    } catch (err) {
      const msg = (err as Error).message;
      this.failures.push(`${name}: ${msg}`);
      this.rows.push({ metric: `${name}: FAILED`, value: msg.split('\n')[0]?.slice(0, 200) ?? '', met: false });
      log(`\n!! phase ${name} failed: ${msg}`);
    }
  }

  /**
   * Starts a server on `dataDir` (with the extra `serve` flags `args`), runs `f`, stops the server (SIGTERM, drain),
   * records RSS, CPU and profile. `sideBySide`: another bench server runs at the same time, whose CPU the phase's
   * "other" CPU includes (no disturbance warning then; the caller records the CPU of its measured windows instead).
   */
  async withServer<R>(phase: string, dataDir: string, f: (s: PhaseServer) => Promise<R>, args: readonly string[] = [], sideBySide = false): Promise<R> {
    const profDir = join(PROFILE_DIR, phase);
    if (PROFILE) {
      rmSync(profDir, { recursive: true, force: true });
      mkdirSync(profDir, { recursive: true });
    }
    const server = await ServerProcess.start({ dataDir, args, nodeArgs: PROFILE ? ['--cpu-prof', '--cpu-prof-dir', profDir] : [] });
    const rss = new RssSampler(server.pid, 250);
    const meter = new CpuMeter(server.pid);
    const abort = new AbortController();
    let stopping = false;
    void server.exit.then((r) => {
      if (!stopping) abort.abort(new Error(`the server died during the phase (exit code ${r.code}, signal ${r.signal})`));
    });
    log(`  [${phase}] server pid ${server.pid} on ${server.base}: ${server.command}`);
    let out: R;
    try {
      out = await f({ server, rss, base: new URL(server.base), signal: abort.signal });
      if (abort.signal.aborted) throw abort.signal.reason as Error;
    } catch (err) {
      stopping = true;
      rss.stop();
      await server.stop(5000);
      const reason = abort.signal.aborted ? (abort.signal.reason as Error).message : (err as Error).message;
      throw new Error(`${reason}\n  server output (tail):\n  ${server.tail.join('\n  ')}`);
    }
    stopping = true;
    const m = rss.stop();
    const cpu = meter.read();
    const stop = await server.stop();
    const meta: PhaseMeta = { cpu, rssMaxMB: m.maxBytes / MB, rssAnonMaxMB: m.maxAnonBytes / MB, rssFileMaxMB: m.maxFileBytes / MB, rssEndMB: m.lastBytes / MB, stopMs: stop.ms, stopKilled: stop.killed, command: server.command };
    if (stop.killed || (stop.code !== 0 && stop.code !== null)) log(`  [${phase}] warning: server exit code ${stop.code}, signal ${stop.signal} (killed: ${stop.killed})`);
    if (PROFILE) {
      const file = readdirSync(profDir).find((x) => x.endsWith('.cpuprofile'));
      if (file !== undefined) {
        meta.profile = summarizeProfile(join(profDir, file), 20);
        const text = formatProfile(meta.profile, phase);
        this.profileTexts.push(text);
        log(text);
      }
    }
    this.phaseMeta[phase] = meta;
    log(`  [${phase}] server RSS max ${Math.round(meta.rssMaxMB)} MB (anonymous max ${Math.round(meta.rssAnonMaxMB)}, file-backed max ${Math.round(meta.rssFileMaxMB)}); SIGTERM → exit in ${Math.round(stop.ms)} ms; phase ${cpuText(cpu)}${sideBySide ? ' (other: mostly the other server of the pair)' : ''}`);
    if (cpu.otherCores > OTHER_CPU_WARNING && !sideBySide) log(`  [${phase}] WARNING: other processes used ${cpu.otherCores.toFixed(2)} cores during this phase: the numbers are disturbed`);
    return out;
  }

  async cannonReps(label: string, s: PhaseServer, requests: () => RequestSpec[], connections: number, warmS: number, repS: number): Promise<CannonRep[]> {
    const run = (durationS: number) => cannon({ url: s.base.origin, connections, durationS, requests: requests(), signal: s.signal });
    await run(warmS);
    const reps: CannonRep[] = [];
    for (let i = 0; i < REPS && !s.signal.aborted; i++) {
      const meter = new CpuMeter(s.server.pid);
      const r = await run(repS);
      const cpu = meter.read();
      reps.push({ ...r, cpu });
      log(`    ${label} rep ${i + 1}: ${fmt(r.okPerSecond)} ok/s (p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, non-2xx ${r.non2xx}, errors ${r.errors}, timeouts ${r.timeouts}; ${cpuText(cpu)})`);
    }
    const bad = reps.reduce((a, r) => a + r.non2xx + r.errors + r.timeouts, 0);
    if (bad > 0) log(`    warning: ${bad} non-2xx replies, errors or timeouts (status codes: ${JSON.stringify(reps.map((r) => r.statusCodes))})`);
    return reps;
  }

  /**
   * Batch ingest of several configurations, round-robin: REPS rounds, each running every configuration for a
   * warm-up and one measured window. Returns one summary per configuration (median over its REPS windows).
   */
  async interleaved(s: PhaseServer, configs: readonly { concurrency: number; format: BatchFormat }[], warmupMs: number, windowMs: number): Promise<IngestSummary[]> {
    const runs: { r: BatchIngestResult; cpu: CpuReading }[][] = configs.map(() => []);
    for (let rep = 0; rep < REPS && !s.signal.aborted; rep++) {
      for (const [i, c] of configs.entries()) {
        const meter = new CpuMeter(s.server.pid);
        const r = await runBatchIngest({ ...c, base: s.base, factory: this.factory, batchEntries: BATCH, entryBytes: ENTRY_BYTES, warmupMs, windowMs, windows: 1, signal: s.signal });
        runs[i]?.push({ r, cpu: meter.read() });
      }
    }
    return configs.map((c, i) => {
      const rs = runs[i] ?? [];
      const rates = rs.map((x) => x.r.windows[0]?.acked ?? 0).map((acked) => acked / (windowMs / 1000));
      const lat = rs.flatMap((x) => x.r.windows[0]?.latenciesMs ?? []);
      const sum = (f: (r: BatchIngestResult) => number) => rs.reduce((a, x) => a + f(x.r), 0);
      const summary = {
        concurrency: c.concurrency,
        format: c.format,
        medianEntriesPerS: median(rates),
        windowEntriesPerS: rates,
        requestLatencyMs: { p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), max: quantile(lat, 1) },
        cpu: medianCpu(rs.map((x) => x.cpu)),
        pushbacks: sum((r) => r.pushbacks),
        errors: sum((r) => r.errors),
        duplicates: sum((r) => r.duplicates),
        firstError: rs.find((x) => x.r.firstError !== undefined)?.r.firstError,
      };
      if (summary.duplicates > 0) throw new Error(`the server reported ${summary.duplicates} duplicates among unique entries`);
      if (summary.errors > 0) log(`    warning: ${summary.errors} failed requests (first: ${summary.firstError})`);
      return summary;
    });
  }

  // ---- 1. baselines --------------------------------------------------------------------------------------------
  async baseline(): Promise<void> {
    log('\n# baseline: SHA-256 (node:crypto createHash, 256-byte inputs, 1 thread)');
    const meter = new CpuMeter(undefined);
    const sha = sha256Rates(REPS, T.shaRep, 256);
    this.shaMedian = median(sha);
    log(`    ${list(sha)} hashes/s → median ${fmt(this.shaMedian)}`);
    log('# baseline: raw LevelDB (level, server options), sequential write batches of 1,000 puts (33 B key, 300 B value), sync: true');
    const lv = await levelBatchRates(REPS, T.levelRep, 1000, 300, this.parentDir);
    this.levelMedian = median(lv.rates);
    log(`    ${list(lv.rates)} entries/s (${lv.batchMs.map((x) => x.toFixed(1)).join(' / ')} ms per batch) → median ${fmt(this.levelMedian)}`);
    log(`# baseline: a minimal node:http server (child process, 200 "ok"), ${READ_CONNECTIONS} keep-alive connections (autocannon)`);
    const http = await minimalHttpServer();
    const httpRates: number[] = [];
    try {
      await cannon({ url: http.url, connections: READ_CONNECTIONS, durationS: T.readWarmS, requests: [{ method: 'GET', path: '/' }] });
      for (let i = 0; i < REPS; i++) httpRates.push((await cannon({ url: http.url, connections: READ_CONNECTIONS, durationS: T.readRepS, requests: [{ method: 'GET', path: '/' }] })).okPerSecond);
    } finally {
      await http.stop();
    }
    this.httpMedian = median(httpRates);
    log(`    ${list(httpRates)} req/s → median ${fmt(this.httpMedian)}`);
    const cpu = meter.read();
    log(`    ${cpuText(cpu)}`);
    if (cpu.otherCores > OTHER_CPU_WARNING) log(`  [baseline] WARNING: other processes used ${cpu.otherCores.toFixed(2)} cores during this phase: the numbers are disturbed`);
    this.phaseMeta['baseline'] = { cpu, rssMaxMB: NaN, rssAnonMaxMB: NaN, rssFileMaxMB: NaN, rssEndMB: NaN, stopMs: 0, stopKilled: false, command: '' };
    this.results['baseline'] = { sha256PerS: sha, sha256Median: this.shaMedian, levelEntriesPerS: lv.rates, levelMsPerBatch: lv.batchMs, levelMedian: this.levelMedian, nodeHttpPerS: httpRates, nodeHttpMedian: this.httpMedian };
    this.rows.push({ metric: 'Baseline: SHA-256 of 256 B (node:crypto, 1 thread)', value: `${fmt(this.shaMedian)} hashes/s`, reps: sha });
    this.rows.push({ metric: 'Baseline: raw LevelDB, synced batches of 1,000 × 300 B', value: `${fmt(this.levelMedian)} entries/s (${median(lv.batchMs).toFixed(1)} ms/batch)`, reps: lv.rates });
    this.rows.push({ metric: `Baseline: minimal node:http server (${READ_CONNECTIONS} conns)`, value: `${fmt(this.httpMedian)} req/s`, reps: httpRates });
  }

  // ---- 2. batch ingest -----------------------------------------------------------------------------------------
  async batchIngest(): Promise<void> {
    const cs = concurrencies();
    const out = await this.withServer('ingest', this.dataDir, async (s) => {
      log(`\n# ingest: POST /v1/entries, batches of ${BATCH} × ${ENTRY_BYTES}-byte entries (JSON strings of 254 random hex digits)`);
      // Configurations are measured round-robin (one window each per round), so that the growth of the tree and
      // any disturbance from other processes spread evenly over them instead of favouring whichever runs first.
      const fm = await this.interleaved(s, [
        { concurrency: 4, format: 'json' },
        { concurrency: 4, format: 'ndjson' },
      ], T.fmtWarm, T.fmtWin);
      const formats: Partial<Record<BatchFormat, IngestSummary>> = { json: fm[0], ndjson: fm[1] };
      for (const r of fm) log(`    format ${r.format.padEnd(6)} (4 clients): ${list(r.windowEntriesPerS)} entries/s → median ${fmt(r.medianEntriesPerS)} (${cpuText(r.cpu)})`);
      this.bestFormat = (formats.ndjson?.medianEntriesPerS ?? 0) > (formats.json?.medianEntriesPerS ?? 0) ? 'ndjson' : 'json';
      log(`    cheaper format this run: ${this.bestFormat}`);
      const perConcurrency = await this.interleaved(s, cs.map((c) => ({ concurrency: c, format: this.bestFormat })), T.ingWarm, T.ingWin);
      for (const r of perConcurrency) {
        log(`    ${String(r.concurrency).padStart(2)} clients: ${list(r.windowEntriesPerS)} entries/s → median ${fmt(r.medianEntriesPerS)} (request p50 ${Math.round(r.requestLatencyMs.p50)} ms, p99 ${Math.round(r.requestLatencyMs.p99)} ms, pushbacks ${r.pushbacks}; ${cpuText(r.cpu)})`);
      }
      const commits = await commitStats(s.base);
      log(`    sequencer: ${commits.commits} commits of ${fmt(commits.meanEntries)} entries on average`);
      const memory = await memoryBreakdown(s);
      log(`    at the end: ${memText(memory)}`);
      return { formats, perConcurrency, commits, memory, treeSizeAfter: (await treeSizeOf(s.base)).toString() };
    });
    const best = out.perConcurrency.reduce((a, b) => (b.medianEntriesPerS > a.medianEntriesPerS ? b : a));
    this.bestIngest = best;
    this.results['ingest'] = { ...out, best };
    this.rows.push({
      metric: `Batch ingest, best of ${cs.join('/')} clients (${best.concurrency} clients, ${best.format}, ${BATCH} × ${ENTRY_BYTES} B)`,
      value: `${fmt(best.medianEntriesPerS)} entries/s (${cpuText(best.cpu)})`,
      reps: best.windowEntriesPerS,
      target: `≥ ${fmt(TARGETS.ingest)}`,
      met: best.medianEntriesPerS >= TARGETS.ingest,
    });
    this.rows.push({ metric: `Submission → sequenced (reply of a batch of ${BATCH}, ${best.concurrency} clients): p50 / p99 / max`, value: `${Math.round(best.requestLatencyMs.p50)} / ${Math.round(best.requestLatencyMs.p99)} / ${Math.round(best.requestLatencyMs.max)} ms` });
    this.rows.push({ metric: `Batch ingest by concurrency (${cs.join(' / ')} clients)`, value: `${list(out.perConcurrency.map((x) => x.medianEntriesPerS))} entries/s` });
    this.rows.push({ metric: 'Batch ingest by format, 4 clients (json / ndjson)', value: `${fmt(out.formats.json?.medianEntriesPerS ?? NaN)} / ${fmt(out.formats.ndjson?.medianEntriesPerS ?? NaN)} entries/s` });
    this.rows.push({ metric: 'Server RSS during batch ingest (max)', value: `${Math.round(this.phaseMeta['ingest']?.rssMaxMB ?? NaN)} MB (at the end: ${memText(out.memory)})` });
  }

  // ---- 2b. gRPC streaming ingest, and the cost of authentication ------------------------------------------------
  async grpcIngest(): Promise<void> {
    const streamCounts = intList('BENCH_GRPC_STREAMS', '1,2,4', 64);
    const inFlight = intList('BENCH_GRPC_INFLIGHT', '8', 16)[0] as number;
    const authStreams = intList('BENCH_GRPC_AUTH_STREAMS', '2', 64)[0] as number;
    const httpClients = this.bestIngest?.concurrency ?? 4;
    const httpFormat = this.bestFormat;
    const grpcArgs = ['--grpc', '127.0.0.1:0'];
    type Cfg = { key: string; label: string; kind: 'grpc'; streams: number; auth: boolean } | { key: string; label: string; kind: 'http'; clients: number; format: BatchFormat };
    type Run = Pick<GrpcIngestResult, 'windows' | 'pushbacks' | 'errors' | 'duplicates' | 'firstError'> & { cpu: CpuReading };
    const grpcCfg = (streams: number, withAuth?: boolean): Cfg => ({
      key: `grpc${streams}${withAuth === undefined ? '' : withAuth ? '-auth-on' : '-auth-off'}`,
      label: `gRPC ${streams} stream${streams === 1 ? '' : 's'}${withAuth === undefined ? '' : withAuth ? ', auth on ' : ', auth off'}`,
      kind: 'grpc',
      streams,
      auth: withAuth === true,
    });
    const httpCfg: Cfg = { key: 'http', label: `HTTP ${httpClients} clients, ${httpFormat}`, kind: 'http', clients: httpClients, format: httpFormat };
    const sweep: Cfg[] = [httpCfg, ...streamCounts.map((n) => grpcCfg(n))];
    const authOff = grpcCfg(authStreams, false);
    const authOn = grpcCfg(authStreams, true);
    const runs = new Map<string, Run[]>();

    /** One warm-up and one measured window of `c` against `s`. */
    const measure = async (s: PhaseServer, c: Cfg, round: number, token?: string): Promise<void> => {
      const meter = new CpuMeter(s.server.pid);
      let r: Omit<Run, 'cpu'>;
      if (c.kind === 'http') {
        r = await runBatchIngest({ base: s.base, concurrency: c.clients, format: c.format, factory: this.factory, batchEntries: BATCH, entryBytes: ENTRY_BYTES, warmupMs: T.ingWarm, windowMs: T.ingWin, windows: 1, signal: s.signal });
      } else {
        const address = s.server.grpcAddress;
        if (address === undefined) throw new Error('the server printed no gRPC address');
        r = await runGrpcIngest({ address, streams: c.streams, inFlight, factory: this.factory, batchEntries: BATCH, entryBytes: ENTRY_BYTES, warmupMs: T.ingWarm, windowMs: T.ingWin, windows: 1, signal: s.signal, ...(token !== undefined ? { token } : {}) });
      }
      const cpu = meter.read();
      const w = r.windows[0];
      const rate = (w?.acked ?? 0) / (T.ingWin / 1000);
      const lat = w?.latenciesMs ?? [];
      log(`    round ${round + 1}, ${c.label}: ${fmt(rate)} entries/s (ack p50 ${Math.round(quantile(lat, 0.5))} ms, p99 ${Math.round(quantile(lat, 0.99))} ms; pushbacks ${r.pushbacks}, errors ${r.errors}; ${cpuText(cpu)})`);
      runs.set(c.key, [...(runs.get(c.key) ?? []), { ...r, cpu }]);
    };

    // 1. gRPC by stream count and HTTP batch ingest, round-robin on one server (the shared data directory).
    log(`\n# grpc: LogService/AppendStream, batches of ${BATCH} raw ${ENTRY_BYTES}-byte entries, ${streamCounts.join('/')} streams (one HTTP/2 connection each) × up to ${inFlight} batches in flight; round-robin with HTTP batch ingest (${httpClients} clients, ${httpFormat}) on the same server`);
    await this.withServer('grpc', this.dataDir, async (s) => {
      for (let round = 0; round < REPS && !s.signal.aborted; round++) for (const c of sweep) await measure(s, c, round);
    }, grpcArgs);

    // 2. Authentication on vs off: two servers running side by side on two fresh data directories, one with --auth-*,
    // loaded alternately with the same gRPC load (the order swapped every round), so that both see the same machine
    // noise, the same tree sizes, and each other's background work (LevelDB compactions) equally.
    log(`\n# grpc auth: ${authStreams} streams, servers with and without --auth-* (ES256 JWT bearer, JWKS file) side by side on fresh data directories, loaded alternately`);
    const dirs = ['off', 'on'].map((x) => mkdtempSync(join(this.parentDir, `tilelog-bench-auth-${x}-`)));
    for (const d of dirs) removeOnExit(d);
    try {
      const auth = await benchAuth(dirs[1] as string);
      await this.withServer('grpc-auth-off', dirs[0] as string, async (off) => {
        await this.withServer('grpc-auth-on', dirs[1] as string, async (on) => {
          await expectUnauthenticated(on.server.grpcAddress ?? '', this.factory);
          for (let round = 0; round < REPS && !off.signal.aborted && !on.signal.aborted; round++) {
            const pair = [() => measure(off, authOff, round), () => measure(on, authOn, round, auth.token)];
            for (const m of round % 2 === 0 ? pair : pair.reverse()) await m();
          }
          if (off.signal.aborted) throw off.signal.reason as Error;
        }, [...grpcArgs, ...auth.args], true);
      }, grpcArgs, true);
    } finally {
      if (env['BENCH_KEEP'] !== '1') for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }

    const summary = (c: Cfg) => {
      const rs = runs.get(c.key) ?? [];
      const rates = rs.map((x) => (x.windows[0]?.acked ?? 0) / (T.ingWin / 1000));
      const lat = rs.flatMap((x) => x.windows[0]?.latenciesMs ?? []);
      const sum = (f: (x: Run) => number) => rs.reduce((a, x) => a + f(x), 0);
      const out = {
        key: c.key,
        label: c.label.trim(),
        /** gRPC streams (0 for HTTP) or HTTP clients (0 for gRPC). */
        streams: c.kind === 'grpc' ? c.streams : 0,
        clients: c.kind === 'http' ? c.clients : 0,
        ...(c.kind === 'grpc' ? { inFlight, auth: c.auth } : { format: c.format }),
        medianEntriesPerS: median(rates),
        windowEntriesPerS: rates,
        ackLatencyMs: { p50: quantile(lat, 0.5), p99: quantile(lat, 0.99) },
        cpu: medianCpu(rs.map((x) => x.cpu)),
        pushbacks: sum((x) => x.pushbacks),
        errors: sum((x) => x.errors),
        duplicates: sum((x) => x.duplicates),
        firstError: rs.find((x) => x.firstError !== undefined)?.firstError,
      };
      if (out.duplicates > 0) throw new Error(`${out.label}: the server reported ${out.duplicates} duplicates among unique entries`);
      if (out.errors > 0) log(`    warning: ${out.label}: ${out.errors} failed batches (first: ${out.firstError})`);
      return out;
    };
    const http = summary(httpCfg);
    const byStreams = sweep.filter((c) => c.kind === 'grpc').map(summary);
    const off = summary(authOff);
    const on = summary(authOn);
    // The two servers ran side by side: their phase CPU is that of their measured windows (medians).
    for (const [phase, x] of [['grpc-auth-off', off], ['grpc-auth-on', on]] as const) {
      const meta = this.phaseMeta[phase];
      if (meta !== undefined) meta.cpu = x.cpu;
      if (x.cpu.otherCores > OTHER_CPU_WARNING) log(`  [${phase}] WARNING: other processes used ${x.cpu.otherCores.toFixed(2)} cores during the measured windows (the idle server of the pair included): the numbers are disturbed`);
    }
    log('');
    for (const x of [http, ...byStreams, off, on]) log(`    ${x.label}: ${list(x.windowEntriesPerS)} entries/s → median ${fmt(x.medianEntriesPerS)} (ack p50 ${Math.round(x.ackLatencyMs.p50)} ms, p99 ${Math.round(x.ackLatencyMs.p99)} ms; ${cpuText(x.cpu)})`);
    const best = byStreams.reduce((a, b) => (b.medianEntriesPerS > a.medianEntriesPerS ? b : a));
    const ratio = best.medianEntriesPerS / http.medianEntriesPerS;
    // Per round: the best stream count's window ÷ the HTTP window of the same round.
    const ratioByRound = best.windowEntriesPerS.map((g, i) => g / (http.windowEntriesPerS[i] ?? NaN));
    const authCost = 1 - on.medianEntriesPerS / off.medianEntriesPerS;
    const authCostByRound = on.windowEntriesPerS.map((x, i) => 1 - x / (off.windowEntriesPerS[i] ?? NaN));
    const ingestPhase = this.bestIngest;
    const vsIngest = ingestPhase === undefined ? '' : `; ÷ the ingest phase's best (${fmt(ingestPhase.medianEntriesPerS)} entries/s, ${ingestPhase.concurrency} clients, ${ingestPhase.format}, server without --grpc): ${(best.medianEntriesPerS / ingestPhase.medianEntriesPerS).toFixed(3)}`;
    const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
    log(`    gRPC (${best.label}) ÷ HTTP: ${ratio.toFixed(3)} (per round ${ratioByRound.map((x) => x.toFixed(3)).join(' / ')})${vsIngest}`);
    log(`    cost of auth at ${authStreams} streams: ${pct(authCost)} (per round ${authCostByRound.map(pct).join(' / ')})`);
    this.results['grpc'] = {
      settings: { streams: streamCounts, inFlight, authStreams, httpClients, httpFormat, authFlags: ['--auth-issuer', '--auth-audience', '--auth-jwks-file', '--auth-subject'], tokenAlg: 'ES256' },
      http,
      byStreams,
      best: best.key,
      grpcOverHttp: ratio,
      grpcOverHttpByRound: ratioByRound,
      grpcOverIngestPhaseBest: ingestPhase === undefined ? null : best.medianEntriesPerS / ingestPhase.medianEntriesPerS,
      authOff: off,
      authOn: on,
      authCost,
      authCostByRound,
    };
    this.rows.push({
      metric: `gRPC AppendStream ingest, best of ${streamCounts.join('/')} streams (${best.streams} stream${best.streams === 1 ? '' : 's'} × ≤ ${inFlight} batches in flight, ${BATCH} × ${ENTRY_BYTES} B raw)`,
      value: `${fmt(best.medianEntriesPerS)} entries/s (ack p50 ${Math.round(best.ackLatencyMs.p50)} ms, p99 ${Math.round(best.ackLatencyMs.p99)} ms; ${cpuText(best.cpu)})`,
      reps: best.windowEntriesPerS,
      target: `≥ ${fmt(TARGETS.grpcIngest)}`,
      met: best.medianEntriesPerS >= TARGETS.grpcIngest,
    });
    this.rows.push({ metric: `gRPC ingest by streams (${streamCounts.join(' / ')})`, value: `${list(byStreams.map((x) => x.medianEntriesPerS))} entries/s` });
    this.rows.push({
      metric: `Ratio: gRPC ingest ÷ HTTP batch ingest (${http.label}, same server, round-robin)`,
      value: `${ratio.toFixed(3)} (${fmt(best.medianEntriesPerS)} ÷ ${fmt(http.medianEntriesPerS)} entries/s; HTTP ${cpuText(http.cpu)})${ingestPhase === undefined ? '' : `; ÷ ingest phase best ${fmt(ingestPhase.medianEntriesPerS)}: ${(best.medianEntriesPerS / ingestPhase.medianEntriesPerS).toFixed(3)}`}`,
      reps: ratioByRound,
      target: `≥ ${TARGETS.grpcOverHttp.toFixed(1)}`,
      met: ratio >= TARGETS.grpcOverHttp,
    });
    this.rows.push({
      metric: `gRPC ingest, auth on (ES256 JWT bearer) / off, ${authStreams} streams, two servers alternated`,
      value: `${fmt(on.medianEntriesPerS)} / ${fmt(off.medianEntriesPerS)} entries/s (on: ${cpuText(on.cpu)}; off: ${cpuText(off.cpu)})`,
      reps: on.windowEntriesPerS,
    });
    this.rows.push({
      metric: `Cost of auth on gRPC ingest: 1 − (on ÷ off), ${authStreams} streams`,
      value: `${pct(authCost)} (per round: ${authCostByRound.map(pct).join(' / ')}; off: ${list(off.windowEntriesPerS)} entries/s)`,
      target: `< ${(100 * TARGETS.authCost).toFixed(0)}%`,
      met: authCost < TARGETS.authCost,
    });
  }

  // ---- 3. single-entry posts -----------------------------------------------------------------------------------
  async singles(): Promise<void> {
    const byConns = await this.withServer('singles', this.dataDir, async (s) => {
      log(`\n# singles: POST /v1/entries, one ${ENTRY_BYTES}-byte application/octet-stream entry per request (unique bodies), ${SINGLE_CONNECTIONS.join(' and ')} connections, round-robin (autocannon)`);
      const requests = (): RequestSpec[] => [
        {
          method: 'POST',
          path: '/v1/entries',
          headers: { 'content-type': 'application/octet-stream' },
          setupRequest: (req) => ({ ...req, body: this.factory.octet(ENTRY_BYTES) }),
        },
      ];
      const before = await treeSizeOf(s.base);
      const run = (connections: number, durationS: number) => cannon({ url: s.base.origin, connections, durationS, requests: requests(), signal: s.signal });
      let ok = 0;
      for (const c of SINGLE_CONNECTIONS) ok += (await run(c, T.acWarmS)).ok;
      const reps = new Map<number, CannonRep[]>(SINGLE_CONNECTIONS.map((c) => [c, []]));
      for (let i = 0; i < REPS && !s.signal.aborted; i++) {
        for (const c of SINGLE_CONNECTIONS) {
          const meter = new CpuMeter(s.server.pid);
          const r = await run(c, T.acRepS);
          const cpu = meter.read();
          ok += r.ok;
          reps.get(c)?.push({ ...r, cpu });
          log(`    ${String(c).padStart(3)} connections, rep ${i + 1}: ${fmt(r.okPerSecond)} ok/s (p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, non-2xx ${r.non2xx}, errors ${r.errors}, timeouts ${r.timeouts}; ${cpuText(cpu)})`);
          if (r.non2xx + r.errors + r.timeouts > 0) log(`    warning: status codes ${JSON.stringify(r.statusCodes)}`);
        }
      }
      // Every 2xx appended one entry (bodies are unique): the tree must have grown by at least the 2xx count.
      await sleep(1200);
      const grew = (await treeSizeOf(s.base)) - before;
      if (grew < BigInt(ok)) throw new Error(`the tree grew by ${grew} but ${ok} posts were acknowledged`);
      return reps;
    });
    const summaries = [...byConns.entries()].map(([connections, reps]) => ({
      connections,
      reps,
      rates: reps.map((x) => x.okPerSecond),
      medianPerS: median(reps.map((x) => x.okPerSecond)),
      latencyMs: { p50: median(reps.map((x) => x.latencyMs.p50)), p99: median(reps.map((x) => x.latencyMs.p99)) },
      cpu: medianCpu(reps.map((x) => x.cpu)),
    }));
    const best = summaries.reduce((a, b) => (b.medianPerS > a.medianPerS ? b : a));
    this.results['singles'] = { byConnections: summaries, best: best.connections };
    this.rows.push({
      metric: `Single-entry posts, octet-stream, best of ${SINGLE_CONNECTIONS.join('/')} connections (${best.connections})`,
      value: `${fmt(best.medianPerS)} req/s (latency p50 ${best.latencyMs.p50} ms, p99 ${best.latencyMs.p99} ms; ${cpuText(best.cpu)})`,
      reps: best.rates,
      target: `≥ ${fmt(TARGETS.singles)}`,
      met: best.medianPerS >= TARGETS.singles,
    });
    this.rows.push({
      metric: `Single-entry posts by connections (${SINGLE_CONNECTIONS.join(' / ')})`,
      value: summaries.map((x) => `${fmt(x.medianPerS)} req/s (p50 ${x.latencyMs.p50} ms)`).join(' / '),
    });
  }

  // ---- 4. submission → published -------------------------------------------------------------------------------
  async published(): Promise<void> {
    const out = await this.withServer('published', this.dataDir, async (s) => {
      log(`\n# published: ${PUBLISHED_PROBES} clients each posting one entry with ?wait=published after a random 0–1 s pause; background ${fmt(BACKGROUND_RATE)} entries/s (JSON batches of 100); checkpoint interval 1 s (default)`);
      const bg = new PacedLoad(s.base, this.factory, BACKGROUND_RATE, 100, ENTRY_BYTES, s.signal);
      let pr: Awaited<ReturnType<typeof runPublishedProbes>>;
      try {
        await sleep(1000);
        pr = await runPublishedProbes({ base: s.base, factory: this.factory, probes: PUBLISHED_PROBES, entryBytes: ENTRY_BYTES, windowMs: T.pubWin, windows: REPS, jitterMs: 1000, signal: s.signal });
      } finally {
        await bg.stop();
      }
      return { pr, bgRate: bg.achievedPerS, bgErrors: bg.errors };
    });
    const all = out.pr.windows.flat();
    const perRep = out.pr.windows.map((w) => p50p99(w));
    perRep.forEach((x, i) => log(`    rep ${i + 1}: p50 ${Math.round(x.p50)} ms, p99 ${Math.round(x.p99)} ms (${x.n} probes)`));
    const pooled = p50p99(all);
    const medP50 = median(perRep.map((x) => x.p50));
    const medP99 = median(perRep.map((x) => x.p99));
    log(`    all ${pooled.n} probes: p50 ${Math.round(pooled.p50)} ms, p99 ${Math.round(pooled.p99)} ms, max ${Math.round(quantile(all, 1))} ms; background achieved ${fmt(out.bgRate)} entries/s (${out.bgErrors} errors); probe errors ${out.pr.errors}`);
    if (out.pr.errors > 0) log(`    warning: first probe error: ${out.pr.firstError}`);
    this.results['published'] = { perRep, pooled, medianOfRepsP50Ms: medP50, medianOfRepsP99Ms: medP99, maxMs: quantile(all, 1), backgroundEntriesPerS: out.bgRate, backgroundErrors: out.bgErrors, probeErrors: out.pr.errors, latenciesMs: all };
    this.rows.push({
      metric: `Submission → published, 1 s interval, bg ${fmt(BACKGROUND_RATE)} entries/s: p50 / p99`,
      value: `${Math.round(medP50)} / ${Math.round(medP99)} ms (all ${pooled.n} probes: ${Math.round(pooled.p50)} / ${Math.round(pooled.p99)} ms, max ${Math.round(quantile(all, 1))} ms)`,
      reps: perRep.map((x) => x.p99),
      target: `p99 ≤ ${fmt(TARGETS.publishedP99Ms)} ms`,
      met: medP99 <= TARGETS.publishedP99Ms && pooled.p99 <= TARGETS.publishedP99Ms,
    });
  }

  // ---- 5. reads ------------------------------------------------------------------------------------------------
  async reads(): Promise<void> {
    const tiles = await this.withServer('reads-tiles', this.dataDir, async (s) => {
      let size = await treeSizeOf(s.base);
      if (size < 256n * 64n) {
        // Not enough tiles (ingest skipped): add some.
        await runBatchIngest({ base: s.base, concurrency: 2, format: 'json', batchEntries: BATCH, entryBytes: ENTRY_BYTES, warmupMs: 0, windowMs: 1000, windows: 30, factory: this.factory, stopAfterEntries: 256 * 200, signal: s.signal });
        await sleep(1500);
        size = await treeSizeOf(s.base);
      }
      const full = size / 256n;
      // autocannon builds every request of the list for every connection when it starts (~20 µs each, counted in
      // its duration), so the rotation is over 100 tiles spread over the whole tree.
      const n = full < 100n ? full : 100n;
      const paths: string[] = [];
      for (let i = 0n; i < n; i++) paths.push(level0TilePath((i * full) / n));
      log(`\n# reads: GET /tile/0/<N> rotating over ${paths.length} of ${full} full level-0 tiles (8 KiB each); ${READ_CONNECTIONS} keep-alive connections (autocannon)`);
      const reps = await this.cannonReps('tiles', s, () => paths.map((path) => ({ method: 'GET', path })), READ_CONNECTIONS, T.readWarmS, T.readRepS);
      return { reps, tilesUsed: paths.length, fullTiles: full.toString(), treeSize: size.toString() };
    });
    this.readRow('tiles', `GET /tile/0/<N> (${tiles.tilesUsed} full tiles, ${READ_CONNECTIONS} conns)`, tiles.reps);
    this.results['reads'] = { tilesUsed: tiles.tilesUsed, fullTiles: tiles.fullTiles, treeSize: tiles.treeSize };
    const cp = await this.withServer('reads-checkpoint', this.dataDir, async (s) => {
      log(`\n# reads: GET /checkpoint; ${READ_CONNECTIONS} keep-alive connections (autocannon)`);
      return this.cannonReps('checkpoint', s, () => [{ method: 'GET', path: '/checkpoint' }], READ_CONNECTIONS, T.readWarmS, T.readRepS);
    });
    this.readRow('checkpoint', `GET /checkpoint (${READ_CONNECTIONS} conns)`, cp);
  }

  // ---- 5a. proof lookups ---------------------------------------------------------------------------------------
  async proofs(): Promise<void> {
    const out = await this.withServer('proofs', this.dataDir, async (s) => {
      let size = await treeSizeOf(s.base);
      if (size < 100_000n) {
        await runBatchIngest({ base: s.base, concurrency: 2, format: 'json', batchEntries: BATCH, entryBytes: ENTRY_BYTES, warmupMs: 0, windowMs: 1000, windows: 60, factory: this.factory, stopAfterEntries: 100_000, signal: s.signal });
        await sleep(1500);
        size = await treeSizeOf(s.base);
      }
      // 100 indexes spread over the tree (autocannon builds every request for every connection at start).
      const idx: bigint[] = [];
      for (let i = 0n; i < 100n; i++) idx.push((i * size) / 100n + (i % 7n));
      log(`\n# proofs: GET /v1/proof/inclusion?index=<N> over 100 indexes of ${fmt(Number(size))}; then /v1/proof/consistency?from=<M> (to the published size); ${READ_CONNECTIONS} conns`);
      const inclusion = await this.cannonReps('inclusion', s, () => idx.map((i) => ({ method: 'GET', path: `/v1/proof/inclusion?index=${i}` })), READ_CONNECTIONS, T.readWarmS, T.readRepS);
      const consistency = await this.cannonReps('consistency', s, () => idx.filter((i) => i > 0n).map((i) => ({ method: 'GET', path: `/v1/proof/consistency?from=${i}` })), READ_CONNECTIONS, T.readWarmS, T.readRepS);
      return { inclusion, consistency, treeSize: size.toString() };
    });
    for (const [key, reps, label] of [['inclusion', out.inclusion, 'GET /v1/proof/inclusion?index=N'], ['consistency', out.consistency, 'GET /v1/proof/consistency?from=M']] as const) {
      const rates = reps.map((x) => x.okPerSecond);
      const med = median(rates);
      const lat = { p50: median(reps.map((x) => x.latencyMs.p50)), p99: median(reps.map((x) => x.latencyMs.p99)) };
      this.results[`proofs_${key}`] = { reps, medianPerS: med, latencyMs: lat, treeSize: out.treeSize };
      this.rows.push({ metric: `${label} (tree of ${fmt(Number(out.treeSize))}, ${READ_CONNECTIONS} conns)`, value: `${fmt(med)} proofs/s (p50 ${lat.p50} ms, p99 ${lat.p99} ms)`, reps: rates, target: `≥ ${fmt(TARGETS.proofs)}`, met: med >= TARGETS.proofs });
    }
  }

  // ---- 5c. the collector ------------------------------------------------------------------------------------------
  async collector(): Promise<void> {
    const lines = QUICK ? 50_000 : 200_000;
    const reps = QUICK ? 1 : REPS;
    log(`\n# collector: tilelog collect --once over ${fmt(lines)} ingress-nginx lines (fixture lines, unique request ids) into a fresh tilelog serve (gRPC); forward = spool + submit; full = + attestation per batch + every receipt verified; spool alone in-process`);
    const meter = new CpuMeter(undefined);
    const r = await collectorBench(lines, reps, log, this.parentDir);
    const cpu = meter.read();
    this.results['collector'] = { ...r, cpu };
    this.rows.push({ metric: `Collector, ${fmt(lines)} access-log lines from a file, --once, full (spool, gRPC, attestations, receipts)`, value: `${fmt(r.fullLinesPerSecond)} lines/s`, reps: r.windows.full, target: `≥ ${fmt(TARGETS.collector)}`, met: r.fullLinesPerSecond >= TARGETS.collector });
    this.rows.push({ metric: 'Collector, forward only (spool + gRPC submission)', value: `${fmt(r.forwardLinesPerSecond)} lines/s`, reps: r.windows.forward });
    this.rows.push({ metric: 'Collector spool overhead (spool alone: append + read + acknowledge, as a share of the full collector\'s time per line)', value: `${fmt(r.spoolRecordsPerSecond)} records/s = ${(100 * r.spoolShareOfFullTime).toFixed(0)} %`, target: `< ${100 * TARGETS.spoolShare} %`, met: r.spoolShareOfFullTime < TARGETS.spoolShare });
  }

  // ---- 5d. full audit -------------------------------------------------------------------------------------------
  async audit(): Promise<void> {
    const n = QUICK ? 50_000 : 210_000;
    log(`\n# audit: test/bench/audit-full.ts — a fresh log of ${fmt(n)} entries, then a full audit in-process (clients/auditor: every bundle and tile verified against the signed root), from the log over HTTP and replayed from memory`);
    const out = execFileSync(process.execPath, [join(REPO_ROOT, 'dist', 'test', 'bench', 'audit-full.js'), String(n)], { encoding: 'utf8', timeout: 600_000 });
    const runs = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { run: string; ok: boolean; entriesPerSecond: number; auditorCpuSeconds: string });
    for (const r of runs) log(`    ${r.run}: ${fmt(r.entriesPerSecond)} entries/s (auditor CPU ${r.auditorCpuSeconds} s, ok ${r.ok})`);
    const live = runs.find((r) => r.run.startsWith('from the local log (node:http'));
    const replay = runs.filter((r) => r.run.startsWith('replayed')).map((r) => r.entriesPerSecond);
    this.results['audit'] = { entries: n, runs };
    if (live !== undefined) this.rows.push({ metric: `Full audit from a local log (${fmt(n)} entries, every bundle and tile verified)`, value: `${fmt(live.entriesPerSecond)} entries/s`, target: `≥ ${fmt(TARGETS.fullAudit)}`, met: live.ok && live.entriesPerSecond >= TARGETS.fullAudit });
    if (replay.length > 0) this.rows.push({ metric: 'Full audit, responses replayed from memory (the auditor\'s own verification rate)', value: `${fmt(median(replay))} entries/s` });
  }

  private readRow(key: string, label: string, reps: CannonRep[]): void {
    const rates = reps.map((x) => x.okPerSecond);
    const med = median(rates);
    const lat = { p50: median(reps.map((x) => x.latencyMs.p50)), p99: median(reps.map((x) => x.latencyMs.p99)) };
    const cpu = medianCpu(reps.map((x) => x.cpu));
    this.results[`reads_${key}`] = { reps, medianPerS: med, latencyMs: lat, cpu };
    this.rows.push({ metric: label, value: `${fmt(med)} req/s (p50 ${lat.p50} ms, p99 ${lat.p99} ms; ${cpuText(cpu)})`, reps: rates, target: `≥ ${fmt(TARGETS.reads)}`, met: med >= TARGETS.reads });
  }

  // ---- 5b. Kubernetes audit webhook and OTLP/HTTP logs ---------------------------------------------------------
  /**
   * Closed-loop ingest of `source` bodies of `perBody` records by each client count of `clients`, round-robin: REPS
   * rounds, each a warm-up and one measured window per client count. One summary per client count.
   */
  async roundRobinPosts(s: PhaseServer, source: BodySource, clients: readonly number[], perBody: number, warmupMs: number, windowMs: number, label: string): Promise<PostSummary[]> {
    const runs: { r: PostIngestResult; cpu: CpuReading }[][] = clients.map(() => []);
    for (let rep = 0; rep < REPS && !s.signal.aborted; rep++) {
      for (const [i, c] of clients.entries()) {
        const meter = new CpuMeter(s.server.pid);
        const r = await runPostIngest({ base: s.base, source, concurrency: c, recordsPerBody: perBody, warmupMs, windowMs, windows: 1, signal: s.signal });
        const cpu = meter.read();
        runs[i]?.push({ r, cpu });
        const w = r.windows[0];
        const lat = w?.latenciesMs ?? [];
        log(`    round ${rep + 1}, ${label} ${c} clients: ${fmt((w?.acked ?? 0) / (windowMs / 1000))} records/s (${w?.requests ?? 0} requests, p50 ${Math.round(quantile(lat, 0.5))} ms, p99 ${Math.round(quantile(lat, 0.99))} ms; pushbacks ${r.pushbacks}, errors ${r.errors}; ${cpuText(cpu)})`);
      }
    }
    return clients.map((c, i) => {
      const rs = runs[i] ?? [];
      const rates = rs.map((x) => (x.r.windows[0]?.acked ?? 0) / (windowMs / 1000));
      const lat = rs.flatMap((x) => x.r.windows[0]?.latenciesMs ?? []);
      const sum = (f: (r: PostIngestResult) => number) => rs.reduce((a, x) => a + f(x.r), 0);
      const out: PostSummary = {
        clients: c,
        recordsPerBody: perBody,
        medianRecordsPerS: median(rates),
        windowRecordsPerS: rates,
        ackedAll: sum((r) => r.warmup.acked + r.windows.reduce((a, w) => a + w.acked, 0)),
        requestLatencyMs: { p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), max: quantile(lat, 1) },
        cpu: medianCpu(rs.map((x) => x.cpu)),
        pushbacks: sum((r) => r.pushbacks),
        errors: sum((r) => r.errors),
        notAdded: sum((r) => r.notAdded),
        firstError: rs.find((x) => x.r.firstError !== undefined)?.r.firstError,
      };
      if (out.notAdded > 0) log(`    WARNING: ${label} ${c} clients: the server did not append ${out.notAdded} records that were all new`);
      if (out.errors > 0) log(`    warning: ${label} ${c} clients: ${out.errors} failed requests (first: ${out.firstError})`);
      return out;
    });
  }

  /** Paced open-loop latency (REPS windows after a warm-up), logged; per-window and pooled p50/p99. */
  async pacedLatency(s: PhaseServer, source: BodySource, rate: number, perBody: number, windowMs: number, label: string): Promise<LatencySummary> {
    const meter = new CpuMeter(s.server.pid);
    const r = await runPacedLatency({ base: s.base, source, recordsPerS: rate, recordsPerBody: perBody, warmupMs: T.k8sLatWarm, windowMs, windows: REPS, signal: s.signal });
    const perWindow = r.windows.map((w) => p50p99(w));
    perWindow.forEach((x, i) => log(`    ${label} window ${i + 1}: p50 ${Math.round(x.p50)} ms, p99 ${Math.round(x.p99)} ms (${x.n} requests)`));
    const cpu = meter.read();
    const all = r.windows.flat();
    const pooled = p50p99(all);
    log(`    ${label} all ${pooled.n} requests: p50 ${Math.round(pooled.p50)} ms, p99 ${Math.round(pooled.p99)} ms, max ${Math.round(quantile(all, 1))} ms; achieved ${fmt(r.achievedPerS)} records/s; not sent (too many in flight) ${r.skipped}; errors ${r.errors}${r.firstError !== undefined ? ` (first: ${r.firstError})` : ''}; not appended ${r.notAdded}; ${cpuText(cpu)}`);
    const { windows: _w, ...rest } = r;
    return { ...rest, cpu, perWindow, pooled, maxMs: quantile(all, 1), offeredPerS: rate, recordsPerBody: perBody, latenciesMs: all };
  }

  async k8s(): Promise<void> {
    const audit = new AuditEventLists();
    const out = await this.withServer('k8s', this.dataDir, async (s) => {
      log(`\n# k8s: POST /v1/k8s/audit, audit.k8s.io/v1 EventLists of ${K8S.batch} events as the webhook backend sends them, from ${audit.fixtureEvents} real events (~${Math.round(audit.meanEventBytes)} B each) with unique auditIDs; ${K8S.clients.join('/')} clients round-robin`);
      const before = await integratedTreeSize(s.base);
      const byClients = await this.roundRobinPosts(s, audit, K8S.clients, K8S.batch, T.k8sWarm, T.k8sWin, 'audit');
      for (const r of byClients) log(`    audit ${r.clients} clients: ${list(r.windowRecordsPerS)} events/s → median ${fmt(r.medianRecordsPerS)} (request p50 ${Math.round(r.requestLatencyMs.p50)} ms, p99 ${Math.round(r.requestLatencyMs.p99)} ms; ${cpuText(r.cpu)})`);
      const grew = (await integratedTreeSize(s.base)) - before;
      const acked = byClients.reduce((a, r) => a + r.ackedAll, 0);
      log(`    tree grew by ${fmt(grew)} entries; ${fmt(acked)} events acknowledged as new (warm-ups included)`);
      if (grew < acked) throw new Error(`the tree grew by ${grew} but ${acked} audit events were acknowledged as new`);

      log(`\n# k8s latency: paced ${fmt(K8S.latencyRate)} events/s in EventLists of ${K8S.latencyBatch} (open loop), send → 200 (durably sequenced)`);
      const latency = await this.pacedLatency(s, audit, K8S.latencyRate, K8S.latencyBatch, T.k8sLatWin, 'audit');

      let otlp: { ingest: PostSummary; latency: LatencySummary; treeGrowth: number; acked: number } | { skipped: string; probeStatus?: number };
      if (!otlpProtosPresent()) {
        otlp = { skipped: NOT_SERVED };
        log(`\n# otlp: ${NOT_SERVED} (no vendored OTLP protos): skipped`);
      } else {
        const src = new OtlpLogExports();
        const probe = await probePost(s.base, src.path, src.contentType, src.encode(0));
        if (probe.status === 404) {
          otlp = { skipped: NOT_SERVED, probeStatus: 404 };
          log(`\n# otlp: POST /v1/logs answers 404: ${NOT_SERVED}, skipped`);
        } else if (probe.status !== 200) {
          otlp = { skipped: `probe (empty ExportLogsServiceRequest) answered HTTP ${probe.status}`, probeStatus: probe.status };
          log(`\n# otlp: POST /v1/logs probe answered HTTP ${probe.status}: ${probe.body.toString('utf8').slice(0, 200)}; skipped`);
        } else {
          log(`\n# otlp: POST /v1/logs, application/x-protobuf ExportLogsServiceRequests (1 resource, 1 scope, ${K8S.otlpBatch} LogRecords with unique bodies, ~${Math.round(src.body(K8S.otlpBatch).length / K8S.otlpBatch)} B/record encoded), ${K8S.otlpClients} clients`);
          const t0 = await integratedTreeSize(s.base);
          const [ingest] = await this.roundRobinPosts(s, src, [K8S.otlpClients], K8S.otlpBatch, T.k8sWarm, T.k8sWin, 'otlp');
          const treeGrowth = (await integratedTreeSize(s.base)) - t0;
          const ackedOtlp = ingest?.ackedAll ?? 0;
          log(`    otlp: ${list(ingest?.windowRecordsPerS ?? [])} records/s → median ${fmt(ingest?.medianRecordsPerS ?? NaN)}; tree grew by ${fmt(treeGrowth)} entries, ${fmt(ackedOtlp)} records acknowledged (warm-ups included)`);
          if (treeGrowth < ackedOtlp) throw new Error(`the tree grew by ${treeGrowth} but ${ackedOtlp} OTLP records were acknowledged`);
          log(`# otlp latency: paced ${fmt(K8S.latencyRate)} records/s in requests of ${K8S.latencyBatch} records (open loop), send → 200`);
          const lat = await this.pacedLatency(s, src, K8S.latencyRate, K8S.latencyBatch, T.otlpLatWin, 'otlp');
          otlp = { ingest: ingest as PostSummary, latency: lat, treeGrowth, acked: ackedOtlp };
        }
      }
      const commits = await commitStats(s.base);
      log(`    sequencer: ${commits.commits} commits of ${fmt(commits.meanEntries)} entries on average (whole server run)`);
      return { byClients, auditTreeGrowth: grew, auditAcked: acked, latency, otlp, commits };
    });
    this.results['k8s'] = { settings: { ...K8S, fixtureEvents: audit.fixtureEvents, meanEventBytes: audit.meanEventBytes }, ...out };
    const best = out.byClients.reduce((a, b) => (b.medianRecordsPerS > a.medianRecordsPerS ? b : a));
    this.rows.push({
      metric: `K8s audit webhook ingest (POST /v1/k8s/audit, EventLists of ${K8S.batch} events), best of ${K8S.clients.join('/')} clients (${best.clients})`,
      value: `${fmt(best.medianRecordsPerS)} events/s (request p50 ${Math.round(best.requestLatencyMs.p50)} ms, p99 ${Math.round(best.requestLatencyMs.p99)} ms; ${cpuText(best.cpu)})${best.notAdded > 0 ? `; ${best.notAdded} NOT APPENDED` : ''}`,
      reps: best.windowRecordsPerS,
      target: `≥ ${fmt(TARGETS.k8sAudit)}`,
      met: best.medianRecordsPerS >= TARGETS.k8sAudit && best.notAdded === 0,
    });
    this.rows.push({ metric: `K8s audit ingest by clients (${K8S.clients.join(' / ')})`, value: `${list(out.byClients.map((x) => x.medianRecordsPerS))} events/s` });
    const l = out.latency;
    this.rows.push({
      metric: `K8s audit latency, paced ${fmt(K8S.latencyRate)} events/s (EventLists of ${K8S.latencyBatch}), send → 200: p50 / p99`,
      value: `${Math.round(l.pooled.p50)} / ${Math.round(l.pooled.p99)} ms (${l.pooled.n} requests, max ${Math.round(l.maxMs)} ms; achieved ${fmt(l.achievedPerS)} events/s${l.errors > 0 ? `, ${l.errors} errors` : ''}; ${cpuText(l.cpu)})`,
      reps: l.perWindow.map((x) => x.p99),
      target: `p99 ≤ ${TARGETS.k8sAuditP99Ms} ms`,
      met: l.pooled.p99 <= TARGETS.k8sAuditP99Ms && l.errors === 0 && l.skipped === 0,
    });
    const otlpMetric = `OTLP/HTTP protobuf ingest (POST /v1/logs, ${K8S.otlpBatch} LogRecords per request, ${K8S.otlpClients} clients)`;
    if ('skipped' in out.otlp) {
      this.rows.push({ metric: otlpMetric, value: out.otlp.skipped, target: `≥ ${fmt(TARGETS.otlp)}` });
    } else {
      const o = out.otlp;
      this.rows.push({
        metric: otlpMetric,
        value: `${fmt(o.ingest.medianRecordsPerS)} records/s (request p50 ${Math.round(o.ingest.requestLatencyMs.p50)} ms, p99 ${Math.round(o.ingest.requestLatencyMs.p99)} ms; ${cpuText(o.ingest.cpu)}; tree growth ${fmt(o.treeGrowth)} ≥ acknowledged ${fmt(o.acked)})`,
        reps: o.ingest.windowRecordsPerS,
        target: `≥ ${fmt(TARGETS.otlp)}`,
        met: o.ingest.medianRecordsPerS >= TARGETS.otlp && o.ingest.notAdded === 0,
      });
      const ol = o.latency;
      this.rows.push({
        metric: `OTLP latency, paced ${fmt(K8S.latencyRate)} records/s (${K8S.latencyBatch} per request), send → 200: p50 / p99`,
        value: `${Math.round(ol.pooled.p50)} / ${Math.round(ol.pooled.p99)} ms (${ol.pooled.n} requests, max ${Math.round(ol.maxMs)} ms; achieved ${fmt(ol.achievedPerS)} records/s${ol.errors > 0 ? `, ${ol.errors} errors` : ''}; ${cpuText(ol.cpu)})`,
        reps: ol.perWindow.map((x) => x.p99),
        target: `p99 ≤ ${TARGETS.otlpP99Ms} ms`,
        met: ol.pooled.p99 <= TARGETS.otlpP99Ms && ol.errors === 0 && ol.skipped === 0,
      });
    }
  }

  // ---- 6. long run ---------------------------------------------------------------------------------------------
  async long(): Promise<void> {
    const dir = mkdtempSync(join(this.parentDir, 'tilelog-bench-long-'));
    removeOnExit(dir);
    try {
      const c = this.bestIngest?.concurrency ?? 4;
      const winMs = 10_000;
      const out = await this.withServer('long', dir, async (s) => {
        log(`\n# long: ${fmt(LONG_ENTRIES)} entries (${c} clients, ${this.bestFormat}, ${BATCH} × ${ENTRY_BYTES} B) into a fresh log; every 10 s:`);
        const tStart = nowMs();
        let lastReport = 0;
        const memory: (MemoryBreakdown & { atS: number })[] = [];
        const r = await runBatchIngest({
          base: s.base,
          concurrency: c,
          format: this.bestFormat,
          batchEntries: BATCH,
          entryBytes: ENTRY_BYTES,
          warmupMs: 0,
          windowMs: winMs,
          windows: 360, // an hour at most
          factory: this.factory,
          stopAfterEntries: LONG_ENTRIES,
          signal: s.signal,
          progress: (acked, elapsed) => {
            if (elapsed - lastReport < winMs) return;
            lastReport += winMs;
            void memoryBreakdown(s).then((mem) => {
              if (mem !== undefined) memory.push({ ...mem, atS: elapsed / 1000 });
              log(`    ${Math.round(elapsed / 1000)} s: ${fmt(acked)} entries; ${memText(mem)}`);
            });
          },
        });
        const elapsedMs = nowMs() - tStart;
        const timeline = r.windows
          .map((w, i) => {
            const from = i * winMs;
            const to = Math.min((i + 1) * winMs, elapsedMs);
            const inWin = s.rss.samples.filter((x) => x.t >= from && x.t < to).map((x) => x.rss);
            return { fromS: from / 1000, requests: w.requests, entriesPerS: to > from ? w.acked / ((to - from) / 1000) : 0, rssMaxMB: (inWin.length > 0 ? Math.max(...inWin) : 0) / MB };
          })
          .filter((w) => w.requests > 0);
        const acked = r.windows.reduce((a, w) => a + w.acked, 0);
        const end = await memoryBreakdown(s);
        log(`    at the end: ${memText(end)}`);
        return { acked, elapsedMs, timeline, memory, memoryAtEnd: end, treeSize: (await treeSizeOf(s.base)).toString() };
      });
      const rssMax = this.phaseMeta['long']?.rssMaxMB ?? NaN;
      const anonMax = this.phaseMeta['long']?.rssAnonMaxMB ?? NaN;
      const fileMax = this.phaseMeta['long']?.rssFileMaxMB ?? NaN;
      const rates = out.timeline.map((x) => x.entriesPerS);
      const mean = out.acked / (out.elapsedMs / 1000);
      const first = rates[0] ?? NaN;
      const last = rates.length > 1 ? (rates[rates.length - 2] as number) : first; // the very last window is partial
      log(`    ${fmt(out.acked)} entries in ${(out.elapsedMs / 1000).toFixed(0)} s = ${fmt(mean)} entries/s; first / last full 10 s window ${fmt(first)} / ${fmt(last)} entries/s; max RSS ${Math.round(rssMax)} MB`);
      this.results['long'] = { ...out, meanEntriesPerS: mean, rssMaxMB: rssMax, rssAnonMaxMB: anonMax, rssFileMaxMB: fileMax };
      this.rows.push({ metric: `Long run (${fmt(LONG_ENTRIES)} entries): max server RSS`, value: `${Math.round(rssMax)} MB (max anonymous ${Math.round(anonMax)} MB, max file-backed ${Math.round(fileMax)} MB; at the end: ${memText(out.memoryAtEnd)})`, target: `< ${TARGETS.longRssMB} MB`, met: rssMax < TARGETS.longRssMB });
      this.rows.push({ metric: 'Long run: throughput mean (first → last 10 s window)', value: `${fmt(mean)} entries/s (${fmt(first)} → ${fmt(last)}), ${(out.elapsedMs / 1000).toFixed(0)} s` });
      // Disk: the whole data directory (LevelDB after the server's clean stop, the key) per entry.
      const diskBytes = Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
      const perEntry = diskBytes / out.acked;
      const diskLimit = TARGETS.diskFactor * ENTRY_BYTES + TARGETS.diskPerEntry;
      log(`    disk: ${fmt(diskBytes / MB)} MB = ${perEntry.toFixed(1)} bytes per ${ENTRY_BYTES}-byte entry (limit ${diskLimit.toFixed(1)})`);
      this.rows.push({ metric: `Long run: disk per entry (${ENTRY_BYTES}-byte entries; du -sb of the data directory)`, value: `${perEntry.toFixed(1)} bytes (${fmt(diskBytes / MB)} MB in all)`, target: `< ${TARGETS.diskFactor} × ${ENTRY_BYTES} + ${TARGETS.diskPerEntry} = ${diskLimit.toFixed(0)}`, met: perEntry < diskLimit });
      // Restart: time from spawn to the listening line on the big log (Log.open checks the stored checkpoint
      // against the stored tree), median of REPS starts.
      const restarts: number[] = [];
      for (let i = 0; i < REPS; i++) {
        const t = nowMs();
        const server = await ServerProcess.start({ dataDir: dir });
        restarts.push(nowMs() - t);
        await server.stop();
      }
      const restartMs = median(restarts);
      log(`    restart on ${fmt(out.acked)} entries: ${restarts.map((x) => Math.round(x)).join(' / ')} ms → median ${Math.round(restartMs)} ms`);
      this.results['long'] = { ...(this.results['long'] as object), diskBytes, diskBytesPerEntry: perEntry, restartMs: restarts };
      this.rows.push({ metric: `Long run: restart time on ${fmt(out.acked)} entries (spawn → listening)`, value: `${Math.round(restartMs)} ms`, reps: restarts, target: `< ${TARGETS.restartMs} ms`, met: restartMs < TARGETS.restartMs });
    } finally {
      if (env['BENCH_KEEP'] !== '1') rmSync(dir, { recursive: true, force: true });
    }
  }

  // ---- 7. ratios -----------------------------------------------------------------------------------------------
  ratios(): void {
    const best = this.bestIngest;
    const out: Record<string, number> = {};
    if (best !== undefined && Number.isFinite(this.levelMedian)) {
      const rl = best.medianEntriesPerS / this.levelMedian;
      out['ingestOverLevel'] = rl;
      this.rows.push({ metric: 'Ratio: batch ingest ÷ raw LevelDB synced batch writes (same run)', value: rl.toFixed(3), target: `≥ ${TARGETS.levelShare}`, met: rl >= TARGETS.levelShare });
    }
    if (best !== undefined && Number.isFinite(this.shaMedian)) {
      out['ingestOverSha256'] = best.medianEntriesPerS / this.shaMedian;
      this.rows.push({ metric: 'Ratio: batch ingest ÷ SHA-256 hashes/s', value: (out['ingestOverSha256'] as number).toFixed(4) });
    }
    if (Number.isFinite(this.httpMedian)) {
      for (const [key, label] of [['reads_tiles', 'tile GETs'], ['reads_checkpoint', 'checkpoint GETs'], ['proofs_inclusion', 'inclusion proofs'], ['proofs_consistency', 'consistency proofs']] as const) {
        const r = this.results[key] as { medianPerS?: number } | undefined;
        if (r?.medianPerS === undefined) continue;
        out[`${key}OverNodeHttp`] = r.medianPerS / this.httpMedian;
        this.rows.push({ metric: `Ratio: ${label}/s ÷ minimal node:http req/s`, value: (r.medianPerS / this.httpMedian).toFixed(3) });
      }
    }
    const long = this.results['long'] as { meanEntriesPerS?: number } | undefined;
    if (long?.meanEntriesPerS !== undefined && Number.isFinite(this.levelMedian)) out['longIngestOverLevel'] = long.meanEntriesPerS / this.levelMedian;
    this.results['ratios'] = out;
  }
}

async function main(): Promise<number> {
  installCleanup();
  const t0 = nowMs();
  const phases = phasesToRun();
  mkdirSync(OUT_DIR, { recursive: true });
  const parent = env['BENCH_TMPDIR'] ?? tmpdir();
  const dataDir = mkdtempSync(join(parent, 'tilelog-bench-'));
  removeOnExit(dataDir);
  const b = new Bench(dataDir, parent);
  const m = { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memGB: Math.round(totalmem() / 1024 ** 3), node: process.version, kernel: release(), commit: gitDescribe(), date: new Date().toISOString() };
  log(`tilelog benchmark — ${m.cpu}, ${m.cores} cores, ${m.memGB} GB, node ${m.node}, linux ${m.kernel}, commit ${m.commit}`);
  log(`command: npm run bench   (= npm run build && node dist/test/bench/bench.js)${QUICK ? '  [BENCH_QUICK=1]' : ''}${PROFILE ? '  [BENCH_PROFILE=1]' : ''}${env['BENCH_LONG'] === '1' ? '  [BENCH_LONG=1]' : ''}`);
  log(`phases: ${[...phases].join(', ')}; data dir: ${dataDir}`);
  b.results['machine'] = m;
  b.results['settings'] = { autocannonBodiesDropped: dropAutocannonResponseBodies(), quick: QUICK, profile: PROFILE, phases: [...phases], durationsMs: T, reps: REPS, batchEntries: BATCH, entryBytes: ENTRY_BYTES, singleConnections: SINGLE_CONNECTIONS, readConnections: READ_CONNECTIONS, grpcStreams: env['BENCH_GRPC_STREAMS'] ?? '1,2,4', grpcInFlight: env['BENCH_GRPC_INFLIGHT'] ?? '8', grpcAuthStreams: env['BENCH_GRPC_AUTH_STREAMS'] ?? '2', publishedProbes: PUBLISHED_PROBES, backgroundEntriesPerS: BACKGROUND_RATE };
  try {
    if (phases.has('baseline')) await b.phase('baseline', () => b.baseline());
    if (phases.has('ingest')) await b.phase('ingest', () => b.batchIngest());
    if (phases.has('grpc')) await b.phase('grpc', () => b.grpcIngest());
    if (phases.has('singles')) await b.phase('singles', () => b.singles());
    if (phases.has('published')) await b.phase('published', () => b.published());
    if (phases.has('reads')) await b.phase('reads', () => b.reads());
    if (phases.has('proofs')) await b.phase('proofs', () => b.proofs());
    if (phases.has('k8s')) await b.phase('k8s', () => b.k8s());
    if (phases.has('collector')) await b.phase('collector', () => b.collector());
    if (phases.has('audit')) await b.phase('audit', () => b.audit());
    if (phases.has('long')) await b.phase('long', () => b.long());
    b.ratios();
    const rss = Object.entries(b.phaseMeta).filter(([, v]) => Number.isFinite(v.rssMaxMB)).map(([k, v]) => `${k} ${Math.round(v.rssMaxMB)} (${Math.round(v.rssAnonMaxMB)} anon)`);
    if (rss.length > 0) b.rows.push({ metric: 'Server RSS max per phase, MB (anonymous part; the rest is file-backed: node binary, mmapped LevelDB tables)', value: rss.join(', ') });
    const others = Object.entries(b.phaseMeta).map(([k, v]) => `${k} ${v.cpu.otherCores.toFixed(2)}`);
    if (others.length > 0) b.rows.push({ metric: 'CPU of other processes per phase (cores; ≈ 0 = quiet machine)', value: others.join(', ') });
  } finally {
    b.results['phases'] = b.phaseMeta;
    b.results['failures'] = b.failures;
    b.results['rows'] = b.rows;
    b.results['totalSeconds'] = (nowMs() - t0) / 1000;
    writeFileSync(join(OUT_DIR, 'results.json'), `${JSON.stringify(b.results, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`);
    if (env['BENCH_KEEP'] !== '1') rmSync(dataDir, { recursive: true, force: true });
  }

  const md = renderMarkdown(b.rows, {
    title: `tilelog ${m.commit}, ${m.cpu} × ${m.cores} cores, node ${m.node}, ${m.date.slice(0, 10)}`,
    command: `npm run bench${QUICK ? ' (BENCH_QUICK=1)' : ''}${PROFILE ? ' (BENCH_PROFILE=1)' : ''}`,
    notes: [
      'Server: `node bin/tilelog.js serve --data DIR --http 127.0.0.1:0` with default flags (checkpoint interval 1 s, batch size 1000, batch delay 10 ms, max pending 100000), restarted between phases on one data directory. The load generator (node:http keep-alive clients, autocannon) runs on the same machine; "CPU" is cores used by the server process, the load generator and everything else.',
      'gRPC phase: the server also gets `--grpc 127.0.0.1:0` (and, for "auth on", `--auth-issuer --auth-audience --auth-jwks-file --auth-subject`); the client is @grpc/grpc-js with proto/tilelog/v1/log.proto (@grpc/proto-loader), one HTTP/2 connection per AppendStream; only acknowledgements without `error` count.',
      `Throughputs: median of ${REPS} windows after a warm-up (ingest and gRPC ${T.ingWin / 1000} s, single posts ${T.acRepS} s, reads ${T.readRepS} s, published ${T.pubWin / 1000} s, k8s audit and OTLP ${T.k8sWin / 1000} s), configurations measured round-robin; only acknowledged (2xx) requests count. Every window is in .bench/results.json.`,
      'k8s phase: audit EventLists are built from the 54 real events of the immudb-log-audit fixture, rotated, each with a fresh auditID (stage kept), so every event is new; only entries with `duplicate: false` count. Latencies are open-loop (a request every 20 ms whatever the replies), from send to the 200 reply, which comes once the batch is durably sequenced.',
    ],
  });
  log(`\n${md}`);
  writeFileSync(join(OUT_DIR, 'results.md'), `${md}\n${b.profileTexts.length > 0 ? `\n\`\`\`\n${b.profileTexts.join('\n\n')}\n\`\`\`\n` : ''}`);
  log(`\nresults: .bench/results.json, .bench/results.md — total ${((nowMs() - t0) / 1000).toFixed(0)} s`);
  if (b.failures.length > 0) log(`FAILED phases: ${b.failures.map((f) => f.split(':')[0]).join(', ')}`);
  return b.failures.length > 0 ? 1 : 0;
}

if (env['NODE_TEST_CONTEXT'] !== undefined) {
  // `npm test` runs every file under dist/test with node --test: do not start a benchmark there.
  process.stdout.write('bench.js: skipped under node --test (run `npm run bench`)\n');
} else {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`\nbench failed: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
