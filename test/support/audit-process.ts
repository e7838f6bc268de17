/**
 * End-to-end helpers for `tilelog audit`: run it to completion (`--once`, `verify-evidence`) or as a long-running
 * process with `--http 127.0.0.1:<port>` (resolves on its `listening` line), read its metrics, post entries to a
 * log, and a loopback HTTP proxy to a log that can change one byte of chosen responses and count requests.
 * Every process started here is killed by {@link stopAllAuditors}; every wait is bounded.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, TILELOG_BIN, sleep, withTimeout } from './server-process.js';
import { postEntries } from './http-tiles.js';

/** The result of a finished `tilelog` run. */
export interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `tilelog ARGS` to completion (bounded). */
export function tilelog(args: readonly string[], timeoutMs = 30_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [TILELOG_BIN, ...args], { cwd: REPO_ROOT, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

export { freePort } from './server-process.js';

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/** A running `tilelog audit` process. */
export class AuditorProcess {
  readonly lines: string[] = [];
  private constructor(readonly child: ChildProcess, readonly baseUrl: string, readonly closed: Promise<number | null>) {}

  /** Spawns `tilelog audit ARGS --http 127.0.0.1:PORT` and waits for its `listening` line. */
  static async start(args: readonly string[], port = 0): Promise<AuditorProcess> {
    const full = [TILELOG_BIN, 'audit', ...args, '--http', `127.0.0.1:${port}`];
    const child = spawn(process.execPath, full, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    const closed = new Promise<number | null>((r) => child.once('close', (code) => (live.delete(child), r(code))));
    const lines: string[] = [];
    const err: string[] = [];
    createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (l) => err.push(l));
    const first = new Promise<string>((resolve) => {
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (l) => {
        lines.push(l);
        if (lines.length === 1) resolve(l);
      });
    });
    let line: string;
    try {
      line = await withTimeout(Promise.race([first, closed.then((c) => Promise.reject(new Error(`auditor exited ${c}`)))]), 15_000, 'auditor listening line');
    } catch (e) {
      child.kill('SIGKILL');
      throw new Error(`${(e as Error).message}\nargs: ${full.join(' ')}\n${lines.join('\n')}\n${err.join('\n')}`);
    }
    const v = JSON.parse(line) as { msg?: string; http?: string };
    if (v.msg !== 'listening' || typeof v.http !== 'string') throw new Error(`first line is not the listening line: ${line}`);
    const p = new AuditorProcess(child, `http://${v.http}/`, closed);
    p.lines.push(...lines);
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (l) => p.lines.push(l));
    return p;
  }

  /** The parsed JSON log records so far. */
  records(): Record<string, unknown>[] {
    return this.lines.flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  }

  /** The value of a metric line (`name{labels}` prefix match), or undefined. */
  async metric(prefix: string): Promise<number | undefined> {
    const text = await (await fetch(`${this.baseUrl}metrics`, { signal: AbortSignal.timeout(5_000) })).text();
    const line = text.split('\n').find((l) => l.startsWith(prefix));
    return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
  }

  /** SIGTERM and wait (bounded) for a clean exit; returns the exit code. */
  async stop(): Promise<number | null> {
    this.child.kill('SIGTERM');
    return withTimeout(this.closed, 15_000, 'auditor to stop');
  }
}

/** SIGKILLs every auditor still running. */
export async function stopAllAuditors(): Promise<void> {
  const cs = [...live];
  for (const c of cs) c.kill('SIGKILL');
  await Promise.all(cs.map((c) => withTimeout(new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once('close', r))), 5_000, 'kill').catch(() => undefined)));
}

/** Polls `cond` every 100 ms until it returns true (bounded). */
export async function waitFor(what: string, cond: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (await Promise.resolve().then(cond).catch(() => false)) return Date.now() - t0;
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Posts `n` distinct JSON entries (tagged) to a log and waits until a checkpoint covers them. */
export async function addEntries(baseUrl: string, n: number, tag: string): Promise<void> {
  for (let i = 0; i < n; i += 1000) {
    const body = JSON.stringify(Array.from({ length: Math.min(1000, n - i) }, (_, j) => ({ tag, i: i + j })));
    const r = await postEntries(baseUrl, body, { 'Content-Type': 'application/json' }, '?wait=published');
    if (r.status !== 200) throw new Error(`POST /v1/entries: ${r.status} ${r.text}`);
  }
}

/** Evidence files in `dir`, parsed. */
export function evidenceFiles(dir: string): { path: string; json: Record<string, unknown> }[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  return names.map((n) => ({ path: join(dir, n), json: JSON.parse(readFileSync(join(dir, n), 'utf8')) as Record<string, unknown> }));
}

/**
 * A loopback proxy to a log: forwards GETs/POSTs to `target` (changeable), counts requests by path, and flips the
 * last byte of any response whose path `tamper` accepts.
 */
export class LogProxy {
  target = '';
  tamper: (path: string) => boolean = () => false;
  /** Rewrites a successful response body (after `tamper`). */
  rewrite: (path: string, body: Uint8Array) => Uint8Array = (_p, b) => b;
  readonly counts = new Map<string, number>();
  private constructor(private readonly server: Server, readonly url: string) {}

  static async start(target: string): Promise<LogProxy> {
    let self: LogProxy | undefined;
    const server = createServer((req, res) => {
      void (async () => {
        const p = self as LogProxy;
        const path = req.url ?? '/';
        p.counts.set(path, (p.counts.get(path) ?? 0) + 1);
        try {
          const chunks: Buffer[] = [];
          for await (const c of req) chunks.push(c as Buffer);
          const up = await fetch(p.target + path, {
            method: req.method ?? 'GET',
            headers: { 'Content-Type': req.headers['content-type'] ?? 'application/octet-stream' },
            ...(req.method === 'POST' ? { body: Buffer.concat(chunks) } : {}),
            signal: AbortSignal.timeout(10_000),
          });
          let body: Uint8Array = new Uint8Array(await up.arrayBuffer());
          if (p.tamper(path) && body.length > 0 && up.status === 200) {
            body = Uint8Array.from(body);
            body[body.length - 1] = (body[body.length - 1] as number) ^ 0x01;
          }
          if (up.status === 200) body = p.rewrite(path, body);
          res.writeHead(up.status, { 'Content-Type': up.headers.get('content-type') ?? 'application/octet-stream' });
          res.end(body);
        } catch {
          res.writeHead(502).end();
        }
      })();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    self = new LogProxy(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    self.target = target.replace(/\/$/, '');
    return self;
  }

  /** Requests whose path starts with `prefix`. */
  count(prefix: string): number {
    let n = 0;
    for (const [k, v] of this.counts) if (k.startsWith(prefix)) n += v;
    return n;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

/** The `--log ORIGIN=URL=VKEY` argument for a log server (optionally reached through another URL, e.g. a proxy). */
export const logArg = (s: { origin: string; baseUrl: string; vkey: string }, url = s.baseUrl + '/'): string => `${s.origin}=${url}=${s.vkey}`;
/** The auditor's tree-size metric of one origin. */
export const sizeMetric = (origin: string): string => `tilelog_audit_tree_size{origin="${origin}"}`;
