/**
 * Starting and stopping `tilelog serve` as a child process for the benchmark, and sampling its RSS.
 *
 * Every started server is registered in {@link live}; {@link installCleanup} kills them (SIGKILL) when the bench
 * process exits for any reason (normal end, thrown error, Ctrl-C), so no server outlives a run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { nowMs, sleep } from './stats.js';

/** The repository root (this file runs as dist/test/bench/server.js). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const TILELOG_BIN = join(REPO_ROOT, 'bin', 'tilelog.js');

const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let cleanupInstalled = false;

/** Removes `dir` when the bench process exits, however it exits (unless BENCH_KEEP=1). */
export function removeOnExit(dir: string): void {
  if (process.env['BENCH_KEEP'] !== '1') tempDirs.add(dir);
}

/** Kills every live server on exit and on SIGINT/SIGTERM of the bench itself. */
export function installCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  const killAll = () => {
    for (const p of live) {
      try {
        p.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
    // The data directories: LevelDB keeps no file open once its process is dead, and a killed server's files are
    // only ours to delete.
    for (const d of tempDirs) rmSync(d, { recursive: true, force: true, maxRetries: 3 });
  };
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      process.stderr.write(`\nbench: ${sig}, killing the server(s)\n`);
      killAll();
      process.exit(130);
    });
  }
}

export interface StartOptions {
  readonly dataDir: string;
  /** Extra `serve` flags (e.g. ['--checkpoint-interval', '1s']). */
  readonly args?: readonly string[];
  /** Extra node flags (e.g. ['--cpu-prof', '--cpu-prof-dir', DIR]). */
  readonly nodeArgs?: readonly string[];
  readonly startTimeoutMs?: number;
}

export interface StopResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** True if SIGTERM did not end it in time and SIGKILL was needed. */
  readonly killed: boolean;
  readonly ms: number;
}

export class ServerProcess {
  private exited: Promise<StopResult>;
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** When stop() sent SIGTERM (for the shutdown time). */
  private stopAt = NaN;

  private constructor(
    readonly proc: ChildProcess,
    readonly port: number,
    readonly command: string,
    /** `127.0.0.1:PORT` of the gRPC front end (started with `--grpc 127.0.0.1:0`), undefined without it. */
    readonly grpcAddress: string | undefined,
    /** The last lines of stdout and stderr (for error reports). */
    readonly tail: string[],
  ) {
    this.exited = new Promise((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null) => {
        live.delete(proc);
        this.exitInfo = { code, signal };
        resolve({ code, signal, killed: signal === 'SIGKILL', ms: nowMs() - this.stopAt });
      };
      if (proc.exitCode !== null || proc.signalCode !== null) done(proc.exitCode, proc.signalCode);
      else proc.once('exit', done);
    });
  }

  /** Resolves when the process has exited (for whatever reason). */
  get exit(): Promise<StopResult> {
    return this.exited;
  }

  get pid(): number {
    return this.proc.pid as number;
  }

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  /**
   * Starts `node bin/tilelog.js serve` on 127.0.0.1:0 and waits for its `listening` line (with `--grpc 127.0.0.1:0`
   * in `args`, the gRPC address is read from it too).
   */
  static async start(o: StartOptions): Promise<ServerProcess> {
    installCleanup();
    const argv = [...(o.nodeArgs ?? []), TILELOG_BIN, 'serve', '--data', o.dataDir, '--http', '127.0.0.1:0', ...(o.args ?? [])];
    const command = ['node', ...argv.map((a) => (a.startsWith(REPO_ROOT) ? a.slice(REPO_ROOT.length) : a))].join(' ');
    const proc = spawn(process.execPath, argv, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(proc);
    const tail: string[] = [];
    const keep = (prefix: string) => (line: string) => {
      tail.push(prefix + line);
      if (tail.length > 40) tail.shift();
    };
    const errLines = createInterface({ input: proc.stderr as NodeJS.ReadableStream });
    errLines.on('line', keep('stderr: '));
    const outLines = createInterface({ input: proc.stdout as NodeJS.ReadableStream });
    const timeout = o.startTimeoutMs ?? 30_000;
    try {
      const listening = await new Promise<{ port: number; grpc: string | undefined }>((resolve, reject) => {
        let first = true;
        const timer = setTimeout(() => reject(new Error(`the server did not print its listening line within ${timeout} ms`)), timeout);
        outLines.on('line', (line) => {
          keep('stdout: ')(line);
          if (!first) return;
          first = false;
          clearTimeout(timer);
          try {
            const j = JSON.parse(line) as { msg?: string; http?: string; grpc?: unknown };
            const m = /:([0-9]+)$/.exec(j.http ?? '');
            if (j.msg !== 'listening' || m === null) throw new Error('not a listening line');
            if (j.grpc !== undefined && (typeof j.grpc !== 'string' || !/^127\.0\.0\.1:[1-9][0-9]*$/.test(j.grpc))) throw new Error(`bad "grpc" address ${JSON.stringify(j.grpc)}`);
            resolve({ port: Number(m[1]), grpc: j.grpc as string | undefined });
          } catch (err) {
            reject(new Error(`unexpected first stdout line of the server: ${line.slice(0, 300)} (${(err as Error).message})`));
          }
        });
        proc.once('exit', (code, signal) => {
          clearTimeout(timer);
          reject(new Error(`the server exited before listening (code ${code}, signal ${signal})`));
        });
        proc.once('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
      });
      return new ServerProcess(proc, listening.port, command, listening.grpc, tail);
    } catch (err) {
      proc.kill('SIGKILL');
      live.delete(proc);
      throw new Error(`${(err as Error).message}\n  command: ${command}\n  ${tail.join('\n  ')}`);
    }
  }

  /** SIGTERM (the server drains and exits); SIGKILL after `graceMs`. */
  async stop(graceMs = 20_000): Promise<StopResult> {
    if (!this.running) return this.exited;
    this.stopAt = nowMs();
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (this.running) this.proc.kill('SIGKILL');
    }, graceMs);
    const r = await this.exited;
    clearTimeout(timer);
    return r;
  }

  /** Resident set size in bytes (VmRSS of /proc/<pid>/status), undefined once the process is gone. */
  rssBytes(): number | undefined {
    return readRss(this.pid);
  }
}

export function readRss(pid: number): number | undefined {
  return readMemory(pid)?.rss;
}

/**
 * VmRSS and its parts from /proc/<pid>/status: anonymous memory (heaps, malloc arenas) and file-backed pages
 * (the node binary, and LevelDB's table files, which it mmaps: page cache the kernel can reclaim).
 */
export function readMemory(pid: number): { rss: number; anon: number; file: number } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+([0-9]+)\\s+kB`, 'm').exec(s)?.[1] ?? NaN) * 1024;
    const rss = kb('VmRSS');
    return Number.isFinite(rss) ? { rss, anon: kb('RssAnon'), file: kb('RssFile') } : undefined;
  } catch {
    return undefined;
  }
}

export interface RssSample {
  readonly t: number;
  readonly rss: number;
  readonly anon: number;
  readonly file: number;
}

/** Samples the memory of a process every `intervalMs` until stopped. */
export class RssSampler {
  readonly samples: RssSample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly t0 = nowMs();

  constructor(
    private readonly pid: number,
    intervalMs = 250,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  private sample(): void {
    const m = readMemory(this.pid);
    if (m !== undefined) this.samples.push({ t: nowMs() - this.t0, ...m });
  }

  /** Stops sampling; the maxima of RSS and of its parts (bytes), and the last RSS. */
  stop(): { maxBytes: number; maxAnonBytes: number; maxFileBytes: number; lastBytes: number; count: number } {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
    let m = 0;
    let a = 0;
    let f = 0;
    for (const s of this.samples) {
      m = Math.max(m, s.rss);
      a = Math.max(a, s.anon);
      f = Math.max(f, s.file);
    }
    return { maxBytes: m, maxAnonBytes: a, maxFileBytes: f, lastBytes: this.samples[this.samples.length - 1]?.rss ?? 0, count: this.samples.length };
  }
}

/** Waits until `f()` is true or `ms` passed. */
export async function waitUntil(f: () => boolean, ms: number): Promise<boolean> {
  const end = nowMs() + ms;
  while (nowMs() < end) {
    if (f()) return true;
    await sleep(20);
  }
  return f();
}

/** CPU seconds (user + system, all threads) a process has used so far, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesized command name (which may contain spaces): state is field 3, utime 14, stime 15.
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(rest[11]) + Number(rest[12]);
    return ticks / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** USER_HZ: Linux reports /proc times in 1/100 s on every architecture Node supports. */
const CLOCK_TICKS = 100;

/** Busy CPU seconds of the whole machine (all cores; everything but idle and iowait), from /proc/stat. */
export function machineBusySeconds(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const f = line.trim().split(/\s+/).slice(1, 9).map(Number); // user nice system idle iowait irq softirq steal
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

export interface CpuReading {
  /** Cores used by the server process (all its threads). */
  readonly serverCores: number;
  /** Cores used by this process (the load generator). */
  readonly loadGenCores: number;
  /** Cores used by everything else on the machine (other work disturbing the measurement). */
  readonly otherCores: number;
}

/** Measures the CPU (in cores) used by the server, by this process and by the rest of the machine. */
export class CpuMeter {
  private readonly t0 = nowMs();
  private readonly server0: number;
  private readonly self0 = process.cpuUsage();
  private readonly machine0 = machineBusySeconds();

  constructor(private readonly pid: number | undefined) {
    this.server0 = pid === undefined ? 0 : (cpuSeconds(pid) ?? NaN);
  }

  /** Cores used since construction: e.g. 1.4 = one and a half cores busy on average. */
  read(): CpuReading {
    const wall = (nowMs() - this.t0) / 1000;
    const s = this.pid === undefined ? 0 : (cpuSeconds(this.pid) ?? NaN) - this.server0;
    const u = process.cpuUsage(this.self0);
    const self = (u.user + u.system) / 1e6;
    const all = machineBusySeconds() - this.machine0;
    return { serverCores: s / wall, loadGenCores: self / wall, otherCores: Math.max(0, (all - s - self) / wall) };
  }
}
