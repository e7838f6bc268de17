/**
 * `node dist/test/bench/collector.js` (after `npm run build`; `npm run bench:collector`): one `tilelog collect`
 * process forwarding ingress-nginx access-log lines from a file into a real `tilelog serve` (gRPC AppendStream,
 * default flags, checkpoint interval 1 s), measured end to end with `--once`:
 *   full        spool + submit + attest every batch (Ed25519 key, Rekor v2) + verify every receipt → lines/s
 *   forward     spool + submit only (no key, --no-receipts) → lines/s
 * and, in this process on the same entries, the spool alone (append in chunks of 1,000 with their positions, then
 * read in batches of 2,000 and acknowledge: the collector's two synced writes per record) → records/s, reported as
 * a share of the collector's per-line time: the spool overhead (target < 30 %).
 * Lines: the real ingress-nginx fixture lines, with a unique request id each. Target (issue #6): ≥ 20,000 lines/s.
 * Each configuration runs REPS times (fresh log and spool), medians reported; also written to
 * .bench/collector.json. Bounded in time; 127.0.0.1 only; the server is always stopped.
 *
 * Environment: COLLECT_LINES (default 200,000), COLLECT_REPS (default 3).
 */
import { execFile, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lineEntry } from '../../clients/collector/entry.js';
import { Spool } from '../../clients/collector/spool.js';
import { REPO_ROOT, ServerProcess } from './server.js';
import { median } from './stats.js';

const LINES = Number(process.env['COLLECT_LINES'] ?? 200_000);
const REPS = Number(process.env['COLLECT_REPS'] ?? 3);
const TILELOG = join(REPO_ROOT, 'bin', 'tilelog.js');
const FIXTURE = join(REPO_ROOT, '..', 'shared', 'fixtures', 'ingress-nginx', 'beats-ingress_controller-test.log');

function makeLines(n: number): string[] {
  const base = readFileSync(FIXTURE, 'utf8').split('\n').filter((l) => / [0-9a-f]{32}$/.test(l));
  return Array.from({ length: n }, (_, i) => (base[i % base.length] as string).replace(/ [0-9a-f]{32}$/, ` ${i.toString(16).padStart(32, '0')}`));
}

function run(args: string[], timeoutMs: number): Promise<{ code: number | null; ms: number; out: string }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [TILELOG, 'collect', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
    p.stderr.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, ms: performance.now() - t0, out });
    });
  });
}

async function collectOnce(work: string, file: string, full: boolean, lines = LINES): Promise<number> {
  const data = join(work, `log-${Math.random().toString(36).slice(2)}`);
  const server = await ServerProcess.start({ dataDir: data, args: ['--grpc', '127.0.0.1:0'] });
  try {
    const info = (await (await fetch(`${server.base}/v1/log`)).json()) as { vkey: string };
    const spool = join(work, `spool-${Math.random().toString(36).slice(2)}`);
    const args = ['--log-url', server.base, '--grpc', server.grpcAddress as string, '--spool', spool, '--file', file, '--once', '--name', 'bench'];
    if (full) {
      const { privateKey } = generateKeyPairSync('ed25519');
      const key = join(work, 'key.pem');
      writeFileSync(key, privateKey.export({ type: 'pkcs8', format: 'pem' }));
      args.push('--vkey', info.vkey, '--key', key);
    } else args.push('--no-receipts');
    const r = await run(args, 600_000);
    if (r.code !== 0) throw new Error(`collect exited ${String(r.code)}: ${r.out}`);
    // Acknowledged = durably sequenced (integrated); the published checkpoint may still be up to 1 s behind.
    const size = await fetch(`${server.base}/v1/log`).then((x) => x.json() as Promise<{ integratedTreeSize: number }>);
    if (size.integratedTreeSize < lines) throw new Error(`only ${size.integratedTreeSize} entries in the log`);
    return lines / (r.ms / 1000);
  } finally {
    await server.stop();
    rmSync(data, { recursive: true, force: true });
  }
}

async function spoolOnly(work: string, lines: readonly string[]): Promise<number> {
  const entries = lines.map((text, i) => lineEntry('bench', { input: 'files', text, origin: { file: '/x', fileId: '1:2', offset: i * 300 } }, 'auto'));
  const dir = join(work, `spool-only-${Math.random().toString(36).slice(2)}`);
  const s = await Spool.open({ dir, maxBytes: 2 ** 40 });
  const t0 = performance.now();
  for (let i = 0; i < entries.length; i += 1000) {
    await s.append(entries.slice(i, i + 1000).map((entry) => ({ input: 'files', entry })), [{ input: 'files', fileId: '1:2', file: '/x', offset: i }]);
  }
  let cursor: bigint | undefined;
  for (;;) {
    const chunks = await s.read(cursor, 2000);
    if (chunks.length === 0) break;
    cursor = (chunks[chunks.length - 1] as { seq: bigint }).seq;
    const n = chunks.reduce((a, c) => a + c.entries.length, 0);
    await s.acknowledge(chunks, Array.from({ length: n }, (_, k) => ({ index: String(k), leafHash: 'x', duplicate: false })));
  }
  const ms = performance.now() - t0;
  await s.close();
  rmSync(dir, { recursive: true, force: true });
  return entries.length / (ms / 1000);
}

/** The collector benchmark's result (medians over `reps`). */
export interface CollectorBenchResult {
  readonly lines: number;
  readonly reps: number;
  readonly forwardLinesPerSecond: number;
  readonly fullLinesPerSecond: number;
  readonly spoolRecordsPerSecond: number;
  /** Time the spool alone takes per record ÷ time the whole collector takes per line. */
  readonly spoolShareOfForwardTime: number;
  readonly spoolShareOfFullTime: number;
  readonly windows: { forward: number[]; full: number[]; spool: number[] };
}

/** Runs the collector benchmark (see the module comment); `log` gets one line per repetition. */
export async function collectorBench(lines_: number, reps: number, log: (s: string) => void, parentDir = tmpdir()): Promise<CollectorBenchResult> {
  const work = mkdtempSync(join(parentDir, 'tilelog-bench-collect-'));
  try {
    const lines = makeLines(lines_);
    const file = join(work, 'access.log');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const full: number[] = [];
    const forward: number[] = [];
    const spool: number[] = [];
    for (let r = 0; r < reps; r++) {
      // Round-robin, so that disturbances spread over the configurations.
      forward.push(await collectOnce(work, file, false, lines_));
      full.push(await collectOnce(work, file, true, lines_));
      spool.push(await spoolOnly(work, lines));
      log(`    collector rep ${r + 1}: forward ${Math.round(forward[r] as number)} lines/s, full ${Math.round(full[r] as number)} lines/s, spool alone ${Math.round(spool[r] as number)} records/s`);
    }
    return {
      lines: lines_,
      reps,
      forwardLinesPerSecond: median(forward),
      fullLinesPerSecond: median(full),
      spoolRecordsPerSecond: median(spool),
      spoolShareOfForwardTime: median(forward) / median(spool),
      spoolShareOfFullTime: median(full) / median(spool),
      windows: { forward, full, spool },
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const r = await collectorBench(LINES, REPS, (line) => process.stdout.write(`${line}\n`));
  const result = { ...r, loadAverage: (await new Promise<string>((resolve) => execFile('cat', ['/proc/loadavg'], (_e, out) => resolve(out.trim())))) };
  mkdirSync(join(REPO_ROOT, '.bench'), { recursive: true });
  writeFileSync(join(REPO_ROOT, '.bench', 'collector.json'), `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`\n| Collector (${LINES} ingress-nginx lines, --once) | median of ${REPS} |\n|---|---|\n`);
  process.stdout.write(`| forward (spool + gRPC submission) | ${Math.round(r.forwardLinesPerSecond)} lines/s |\n`);
  process.stdout.write(`| full (+ attestation per batch + every receipt verified) | ${Math.round(r.fullLinesPerSecond)} lines/s |\n`);
  process.stdout.write(`| spool alone (append + read + acknowledge) | ${Math.round(r.spoolRecordsPerSecond)} records/s = ${(100 * r.spoolShareOfFullTime).toFixed(0)} % of the full collector's time per line |\n`);
}

if (process.env['NODE_TEST_CONTEXT'] === undefined && process.argv[1]?.endsWith('collector.js') === true) {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
