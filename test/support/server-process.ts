/**
 * End-to-end helper: runs the real server process (`node bin/tilelog.js serve …`) on 127.0.0.1 with an ephemeral
 * port and a temp data directory, reads the `listening` line, keeps the tail of stdout/stderr for failure messages,
 * and stops it (SIGTERM → exit 0), kills it (SIGKILL) or restarts it on the same data directory.
 *
 * Every wait is bounded. Every process and temp directory is registered, and {@link cleanupAll} (call it from
 * `after`/`t.after`, or let {@link startServer} register it) kills and removes whatever is left, also when a test
 * failed half-way. A process-exit hook SIGKILLs stragglers as a last resort.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs from dist/test/support/). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The `tilelog` command. */
export const TILELOG_BIN = join(REPO_ROOT, 'bin', 'tilelog.js');

/** Options of one server process; unset ones are left to the server's defaults. */
export interface ServerOptions {
  /** Data directory; a fresh one under os.tmpdir() (removed by cleanupAll) when unset. */
  readonly dataDir?: string;
  readonly origin?: string;
  readonly key?: string;
  /** e.g. `200ms`. */
  readonly checkpointInterval?: string;
  /** e.g. `5ms`. */
  readonly batchDelay?: string;
  readonly batchSize?: number;
  readonly maxPending?: number;
  /** e.g. `1MiB`. */
  readonly maxBody?: string;
  readonly extraArgs?: readonly string[];
  /** How long to wait for the `listening` line (ms). Default 15 s. */
  readonly startTimeoutMs?: number;
}

/** What the `listening` line says. */
export interface ListeningInfo {
  readonly http: string;
  readonly origin: string;
  readonly vkey: string;
  readonly treeSize: bigint;
}

/** How a process ended. */
export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Something with node:test's `after` (a suite's `after` wrapped, or a TestContext). */
export interface AfterHook {
  after(fn: () => unknown): void;
}

const MAX_KEPT_LINES = 400;
/** Every spawned child that has not closed yet, with its close promise. */
const live = new Map<ChildProcess, Promise<ExitStatus>>();
const ownedDirs = new Set<string>();

process.once('exit', () => {
  // Last resort (synchronous): never leave a server running after the test process.
  for (const child of live.keys()) child.kill('SIGKILL');
});

/** A fresh, empty data directory under os.tmpdir(), removed by {@link cleanupAll}. */
export function newDataDir(prefix = 'tilelog-e2e-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  ownedDirs.add(dir);
  return dir;
}

/** Rejects after `ms` with `what` unless `p` settles first (the timer never keeps the process alive). */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Sleeps `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function keepTail(lines: string[], line: string): void {
  lines.push(line);
  if (lines.length > MAX_KEPT_LINES) lines.splice(0, lines.length - MAX_KEPT_LINES);
}

/** One running (or ended) server process. */
export class ServerProcess {
  /** `http://127.0.0.1:PORT` (no trailing slash). */
  readonly baseUrl: string;
  readonly origin: string;
  readonly vkey: string;
  /** The integrated tree size the server reported when it started listening. */
  readonly startTreeSize: bigint;
  private exitStatus: ExitStatus | undefined;

  private constructor(
    readonly child: ChildProcess,
    readonly dataDir: string,
    readonly options: ServerOptions,
    info: ListeningInfo,
    private readonly outLines: string[],
    private readonly errLines: string[],
    readonly closed: Promise<ExitStatus>,
  ) {
    this.baseUrl = `http://${info.http}`;
    this.origin = info.origin;
    this.vkey = info.vkey;
    this.startTreeSize = info.treeSize;
    void closed.then((s) => {
      this.exitStatus = s;
    });
  }

  /** Spawns `tilelog serve` and resolves once it printed its `listening` line. */
  static async start(opts: ServerOptions = {}): Promise<ServerProcess> {
    const dataDir = opts.dataDir ?? newDataDir();
    const args = [TILELOG_BIN, 'serve', '--data', dataDir, '--http', '127.0.0.1:0'];
    if (opts.origin !== undefined) args.push('--origin', opts.origin);
    if (opts.key !== undefined) args.push('--key', opts.key);
    if (opts.checkpointInterval !== undefined) args.push('--checkpoint-interval', opts.checkpointInterval);
    if (opts.batchDelay !== undefined) args.push('--batch-delay', opts.batchDelay);
    if (opts.batchSize !== undefined) args.push('--batch-size', String(opts.batchSize));
    if (opts.maxPending !== undefined) args.push('--max-pending', String(opts.maxPending));
    if (opts.maxBody !== undefined) args.push('--max-body', opts.maxBody);
    if (opts.extraArgs !== undefined) args.push(...opts.extraArgs);

    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } });
    const outLines: string[] = [];
    const errLines: string[] = [];
    const closed = new Promise<ExitStatus>((resolve) => {
      child.once('close', (code, signal) => {
        live.delete(child);
        resolve({ code, signal });
      });
    });
    live.set(child, closed); // registered before anything can fail

    let first: ((line: string) => void) | undefined;
    const firstLine = new Promise<string>((resolve) => (first = resolve));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      keepTail(outLines, line);
      if (first !== undefined) {
        const f = first;
        first = undefined;
        f(line);
      }
    });
    createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => keepTail(errLines, line));

    const describe = () => `args: ${args.slice(1).join(' ')}\n--- stdout ---\n${outLines.join('\n')}\n--- stderr ---\n${errLines.join('\n')}`;
    let info: ListeningInfo;
    try {
      const line = await withTimeout(
        Promise.race([
          firstLine,
          closed.then((s) => {
            throw new Error(`the server exited before listening (code ${s.code}, signal ${s.signal})`);
          }),
        ]),
        opts.startTimeoutMs ?? 15_000,
        'waiting for the listening line',
      );
      info = parseListening(line);
    } catch (err) {
      child.kill('SIGKILL');
      await withTimeout(closed, 5_000, 'waiting for a failed server to exit').catch(() => {});
      throw new Error(`${(err as Error).message}\n${describe()}`);
    }
    return new ServerProcess(child, dataDir, opts, info, outLines, errLines, closed);
  }

  /** The process id. */
  get pid(): number {
    return this.child.pid as number;
  }

  /** How it ended, or undefined while it runs. */
  get exited(): ExitStatus | undefined {
    return this.exitStatus;
  }

  /** The kept tail of stdout (JSON log lines). */
  get stdoutLines(): readonly string[] {
    return this.outLines;
  }

  /** The kept tail of stderr. */
  get stderrLines(): readonly string[] {
    return this.errLines;
  }

  /** The stdout lines that are JSON objects (pino logs), parsed. */
  logRecords(): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const l of this.outLines) {
      try {
        const v: unknown = JSON.parse(l);
        if (v !== null && typeof v === 'object' && !Array.isArray(v)) out.push(v as Record<string, unknown>);
      } catch {
        // not JSON: ignore
      }
    }
    return out;
  }

  /** Log records at pino level ≥ 50 (error, fatal). */
  errorRecords(): Record<string, unknown>[] {
    return this.logRecords().filter((r) => typeof r['level'] === 'number' && (r['level'] as number) >= 50);
  }

  /** A description for assertion messages: pid, address, data dir, and the tail of stdout/stderr. */
  describe(): string {
    const status = this.exitStatus === undefined ? 'running' : `exited code=${this.exitStatus.code} signal=${this.exitStatus.signal}`;
    return `server pid ${this.pid} at ${this.baseUrl} (${status}), data ${this.dataDir}\n--- stdout (tail) ---\n${this.outLines.slice(-60).join('\n')}\n--- stderr (tail) ---\n${this.errLines.slice(-60).join('\n')}`;
  }

  /** Waits (bounded) for the process to end. */
  waitForExit(timeoutMs: number): Promise<ExitStatus> {
    return withTimeout(this.closed, timeoutMs, `waiting for server pid ${this.pid} to exit`);
  }

  /**
   * SIGTERM, then waits (bounded) for exit and asserts a clean exit (code 0, no signal). If it does not exit in
   * time it is SIGKILLed and this throws.
   */
  async stop(timeoutMs = 20_000): Promise<ExitStatus> {
    if (this.exitStatus === undefined) this.child.kill('SIGTERM');
    let s: ExitStatus;
    try {
      s = await this.waitForExit(timeoutMs);
    } catch (err) {
      this.child.kill('SIGKILL');
      await this.waitForExit(5_000).catch(() => {});
      throw new Error(`${(err as Error).message} after SIGTERM\n${this.describe()}`);
    }
    if (s.code !== 0 || s.signal !== null) throw new Error(`the server did not exit cleanly after SIGTERM (code ${s.code}, signal ${s.signal})\n${this.describe()}`);
    return s;
  }

  /** SIGKILL (kill -9), then waits (bounded) for the process to be gone. */
  async kill(timeoutMs = 10_000): Promise<ExitStatus> {
    if (this.exitStatus === undefined) this.child.kill('SIGKILL');
    return this.waitForExit(timeoutMs);
  }

  /**
   * Stops this process (SIGTERM and a clean exit, unless it already ended) and starts a new one on the same data
   * directory with the same options (overridable). Returns the new process; this one stays ended.
   */
  async restart(overrides: Omit<ServerOptions, 'dataDir'> = {}): Promise<ServerProcess> {
    if (this.exitStatus === undefined) await this.stop();
    return ServerProcess.start({ ...this.options, ...overrides, dataDir: this.dataDir });
  }
}

function parseListening(line: string): ListeningInfo {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new Error(`the first stdout line is not JSON: ${line.slice(0, 300)}`);
  }
  if (v['msg'] !== 'listening') throw new Error(`the first stdout line is not the listening line: ${line.slice(0, 300)}`);
  const http = v['http'];
  const origin = v['origin'];
  const vkey = v['vkey'];
  const treeSize = v['treeSize'];
  if (typeof http !== 'string' || !/^127\.0\.0\.1:[1-9][0-9]*$/.test(http)) throw new Error(`listening line: bad "http": ${line}`);
  if (typeof origin !== 'string' || origin === '') throw new Error(`listening line: bad "origin": ${line}`);
  if (typeof vkey !== 'string' || vkey === '') throw new Error(`listening line: bad "vkey": ${line}`);
  if (typeof treeSize !== 'string' || !/^(0|[1-9][0-9]*)$/.test(treeSize)) throw new Error(`listening line: bad "treeSize": ${line}`);
  return { http, origin, vkey, treeSize: BigInt(treeSize) };
}

/** Starts a server and, when `hook` is given, registers {@link cleanupAll} with it. */
export async function startServer(opts: ServerOptions = {}, hook?: AfterHook): Promise<ServerProcess> {
  if (hook !== undefined) hook.after(cleanupAll);
  return ServerProcess.start(opts);
}

/** SIGKILLs every server still running (bounded wait) and removes every temp data directory made here. */
export async function cleanupAll(): Promise<void> {
  const procs = [...live];
  for (const [child] of procs) child.kill('SIGKILL');
  await Promise.all(procs.map(([child, closed]) => withTimeout(closed, 5_000, `pid ${child.pid} to die`).catch(() => {})));
  for (const dir of ownedDirs) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // best effort
    }
  }
  ownedDirs.clear();
}

/** A port that was free a moment ago on 127.0.0.1 (listen on 0, close): for servers whose address must be known first. */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', () => resolve()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}
