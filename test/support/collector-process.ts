/**
 * End-to-end helper for `tilelog collect`: spawns the real collector, reads its `listening` line (bound metrics and
 * webhook addresses), keeps its output for failure messages, and kills (SIGKILL) or stops (SIGTERM) it. Plus what
 * the collector tests share: free ports, a collector key, reading every collector record back from a log (entries
 * verified against a signed checkpoint through the tiles), and a tampering HTTP proxy.
 *
 * Every wait is bounded; every process is registered and killed by {@link cleanupCollectors}.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fetchCheckpoint, HttpTiles } from './http-tiles.js';
import { TILELOG_BIN, withTimeout } from './server-process.js';

export { freePort } from './server-process.js';

/** A fresh temp directory. */
export function tempDir(prefix = 'tilelog-collect-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Writes a new Ed25519 (or P-256) private key PEM into `dir`; returns its path and the public key PEM. */
export function collectorKey(dir: string, type: 'ed25519' | 'p256' = 'ed25519'): { keyFile: string; publicKeyPem: string } {
  const { privateKey, publicKey } = type === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keyFile = join(dir, `collector-${type}.pem`);
  writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  return { keyFile, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

const live = new Set<CollectorProcess>();

export class CollectorProcess {
  readonly lines: string[] = [];
  readonly closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  listening: Record<string, unknown> | undefined;
  private onListening: (() => void) | undefined;
  private exited = false;

  private constructor(readonly child: ChildProcess) {
    this.closed = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
    void this.closed.then(() => {
      this.exited = true;
      live.delete(this);
    });
    const keep = (l: string) => {
      this.lines.push(l);
      if (this.lines.length > 2000) this.lines.shift();
      if (this.listening === undefined && l.startsWith('{')) {
        try {
          const v = JSON.parse(l) as Record<string, unknown>;
          if (v['msg'] === 'listening') {
            this.listening = v;
            this.onListening?.();
          }
        } catch {
          /* not JSON */
        }
      }
    };
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', keep);
    createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (l) => keep(`stderr: ${l}`));
  }

  /** Spawns `tilelog collect ARGS`; with `waitListening`, resolves once the `listening` line is printed. */
  static async start(args: readonly string[], o: { waitListening?: boolean; stdin?: string | Buffer; env?: NodeJS.ProcessEnv } = {}): Promise<CollectorProcess> {
    const child = spawn(process.execPath, [TILELOG_BIN, 'collect', ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...o.env } });
    const p = new CollectorProcess(child);
    live.add(p);
    if (o.stdin !== undefined) child.stdin?.end(o.stdin);
    if (o.waitListening ?? true) {
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          if (p.listening !== undefined) return resolve();
          p.onListening = resolve;
          child.once('close', (code) => reject(new Error(`collector exited (${String(code)}) before listening:\n${p.output()}`)));
        }),
        20_000,
        'the collector to listen',
      );
    }
    return p;
  }

  output(): string {
    return this.lines.slice(-60).join('\n');
  }

  /** Waits for the process to end by itself. */
  async exit(timeoutMs = 60_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return withTimeout(this.closed, timeoutMs, `the collector to exit; output:\n${this.output()}`);
  }

  async kill(): Promise<void> {
    if (!this.exited) this.child.kill('SIGKILL');
    await withTimeout(this.closed, 10_000, 'the collector to die');
  }

  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.exited) this.child.kill('SIGTERM');
    return withTimeout(this.closed, 20_000, 'the collector to stop');
  }

  /** GET <metrics>/metrics → the value of one sample (sum over label sets matching `labels`). */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const addr = this.listening?.['metrics'];
    if (typeof addr !== 'string') throw new Error('the collector has no metrics listener');
    const text = await (await fetch(`http://${addr}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    let sum = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith(name)) continue;
      const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
      if (m === null || m[1] !== name) continue;
      const ls = m[2] ?? '';
      if (Object.entries(labels).every(([k, v]) => ls.includes(`${k}="${v}"`))) sum += Number(m[3]);
    }
    return sum;
  }
}

/** Kills every collector still running. */
export async function cleanupCollectors(): Promise<void> {
  await Promise.all([...live].map((p) => p.kill().catch(() => {})));
}

/** A collector record read back from the log. */
export interface LoggedRecord {
  readonly index: number;
  readonly entry: Record<string, unknown>;
  readonly bytes: Uint8Array;
}

/**
 * Every entry of the log as JSON (entries verified against the latest signed checkpoint via the tiles), split
 * into collector records (`type: collector.record/v1`) and the rest.
 */
export async function readLog(baseUrl: string, vkey: string): Promise<{ records: LoggedRecord[]; others: LoggedRecord[]; treeSize: bigint }> {
  const cp = await fetchCheckpoint(baseUrl, vkey);
  const { entries } = await new HttpTiles(baseUrl).audit(cp, { entries: true });
  const records: LoggedRecord[] = [];
  const others: LoggedRecord[] = [];
  entries.forEach((bytes, index) => {
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>;
    } catch {
      others.push({ index, entry: {}, bytes });
      return;
    }
    (entry['type'] === 'collector.record/v1' ? records : others).push({ index, entry, bytes });
  });
  return { records, others, treeSize: cp.treeSize };
}

/** Polls `readLog` until `done(records)` or the timeout. */
export async function waitForRecords(baseUrl: string, vkey: string, done: (records: LoggedRecord[]) => boolean, timeoutMs = 30_000, what = 'the records in the log'): Promise<LoggedRecord[]> {
  const until = Date.now() + timeoutMs;
  let last: LoggedRecord[] = [];
  while (Date.now() < until) {
    try {
      last = (await readLog(baseUrl, vkey)).records;
      if (done(last)) return last;
    } catch {
      /* the log may be restarting */
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`timed out waiting for ${what}: ${last.length} records so far`);
}

/**
 * An HTTP proxy to `target` that passes everything through except responses whose path matches `tamper`, whose
 * body it changes with `change`. Returns its base URL and a close function.
 */
export async function tamperingProxy(target: string, tamper: (path: string) => boolean, change: (body: Buffer) => Buffer): Promise<{ url: string; close: () => Promise<void>; tampered: () => number }> {
  const t = new URL(target);
  let count = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers = { ...req.headers, host: t.host, 'accept-encoding': 'identity' };
      const up = httpRequest({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers }, (ur) => {
        const body: Buffer[] = [];
        ur.on('data', (c: Buffer) => body.push(c));
        ur.on('end', () => {
          let b: Buffer = Buffer.concat(body);
          if (ur.statusCode === 200 && tamper(req.url ?? '')) {
            b = change(b);
            count++;
          }
          const h = { ...ur.headers, 'content-length': String(b.length) };
          delete h['transfer-encoding'];
          res.writeHead(ur.statusCode ?? 502, h);
          res.end(b);
        });
      });
      up.on('error', () => res.writeHead(502).end());
      up.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    tampered: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
