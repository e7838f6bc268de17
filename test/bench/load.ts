/**
 * Load generators of the benchmark: keep-alive batch posters (node:http), a paced background load, the
 * `?wait=published` latency probes, and a thin promise wrapper of autocannon.
 *
 * Throughput is measured by bucketing *completions* into back-to-back time windows of one continuous run
 * (warm-up window, then `reps` measured windows): a request counts in the window in which its acknowledgement
 * arrived, and only acknowledged (HTTP 200) entries count. Nothing that completes after the last window counts.
 */
import { Agent, request } from 'node:http';
import { createRequire } from 'node:module';
import autocannon, { type RequestSpec, type Result } from 'autocannon';
import { CONTENT_TYPE, type BatchFormat, type EntryFactory } from './entries.js';
import { nowMs, quantile, sleep } from './stats.js';

export interface PostResult {
  readonly status: number;
  readonly body: Buffer;
  readonly ms: number;
}

/** One POST over a keep-alive agent; rejects on network errors and after `timeoutMs`. */
export function post(agent: Agent, base: URL, path: string, contentType: string, body: Buffer, timeoutMs = 30_000): Promise<PostResult> {
  const t0 = nowMs();
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: base.hostname,
        port: base.port,
        path,
        method: 'POST',
        headers: { 'content-type': contentType, 'content-length': String(body.length) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), ms: nowMs() - t0 }));
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`request timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

interface EntriesReply {
  entries?: { index: number; duplicate: boolean; proof?: string[] }[];
  checkpoint?: string;
  treeSize?: number;
}

/** Counts the new and duplicate entries of a 200 reply; throws if the reply does not list `expected` entries. */
function countReply(body: Buffer, expected: number): { added: number; duplicates: number } {
  const j = JSON.parse(body.toString('utf8')) as EntriesReply;
  const es = j.entries ?? [];
  if (es.length !== expected) throw new Error(`reply lists ${es.length} entries, ${expected} were sent`);
  let duplicates = 0;
  for (const e of es) if (e.duplicate) duplicates++;
  return { added: es.length - duplicates, duplicates };
}

export interface WindowStats {
  /** Acknowledged new entries whose reply arrived in this window. */
  acked: number;
  requests: number;
  latenciesMs: number[];
}

export interface BatchIngestResult {
  readonly concurrency: number;
  readonly format: BatchFormat;
  readonly batchEntries: number;
  readonly warmup: WindowStats;
  readonly windows: WindowStats[];
  readonly windowMs: number;
  readonly duplicates: number;
  readonly pushbacks: number;
  readonly errors: number;
  readonly firstError: string | undefined;
}

export interface BatchIngestOptions {
  readonly base: URL;
  readonly concurrency: number;
  readonly format: BatchFormat;
  readonly batchEntries: number;
  readonly entryBytes: number;
  readonly warmupMs: number;
  readonly windowMs: number;
  readonly windows: number;
  readonly factory: EntryFactory;
  /** Called about every 250 ms with the number of entries acknowledged so far (all windows). */
  readonly progress?: (ackedSoFar: number, elapsedMs: number) => void;
  /** Stop early (long mode): once this many entries were acknowledged. */
  readonly stopAfterEntries?: number;
  /** Stop at once when aborted (the server died). */
  readonly signal?: AbortSignal;
}

/** `concurrency` clients, each posting batches back to back on its own keep-alive connection. */
export async function runBatchIngest(o: BatchIngestOptions): Promise<BatchIngestResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency });
  const empty = (): WindowStats => ({ acked: 0, requests: 0, latenciesMs: [] });
  const warmup = empty();
  const windows = Array.from({ length: o.windows }, empty);
  let duplicates = 0;
  let pushbacks = 0;
  let errors = 0;
  let firstError: string | undefined;
  let total = 0;
  const t0 = nowMs();
  const end = t0 + o.warmupMs + o.windows * o.windowMs;
  const contentType = CONTENT_TYPE[o.format];
  let finished = false; // set when the run ends, also on failure: no worker goes on in the background
  const done = () => finished || nowMs() >= end || (o.stopAfterEntries !== undefined && total >= o.stopAfterEntries) || o.signal?.aborted === true;
  const ticker = o.progress === undefined ? undefined : setInterval(() => o.progress?.(total, nowMs() - t0), 250);

  const worker = async () => {
    while (!done()) {
      const body = o.factory.batchBody(o.format, o.batchEntries, o.entryBytes);
      let r: PostResult;
      try {
        r = await post(agent, o.base, '/v1/entries', contentType, body);
      } catch (err) {
        errors++;
        firstError ??= (err as Error).message;
        if (errors > 50) throw new Error(`too many failed requests; first: ${firstError}`);
        await sleep(100);
        continue;
      }
      const t = nowMs();
      if (t >= end) break;
      if (r.status === 200) {
        const c = countReply(r.body, o.batchEntries);
        duplicates += c.duplicates;
        total += c.added;
        const rel = t - t0 - o.warmupMs;
        const w = rel < 0 ? warmup : windows[Math.min(o.windows - 1, Math.floor(rel / o.windowMs))];
        if (w !== undefined) {
          w.acked += c.added;
          w.requests++;
          w.latenciesMs.push(r.ms);
        }
      } else if (r.status === 503 || r.status === 429) {
        pushbacks++;
        await sleep(20);
      } else {
        errors++;
        firstError ??= `HTTP ${r.status}: ${r.body.toString('utf8').slice(0, 200)}`;
        if (errors > 50) throw new Error(`too many failed requests; first: ${firstError}`);
        await sleep(100);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: o.concurrency }, worker));
  } finally {
    finished = true;
    if (ticker !== undefined) clearInterval(ticker);
    agent.destroy();
  }
  return { concurrency: o.concurrency, format: o.format, batchEntries: o.batchEntries, warmup, windows, windowMs: o.windowMs, duplicates, pushbacks, errors, firstError };
}

/** Entries per second of each measured window. */
export function windowRates(r: BatchIngestResult): number[] {
  return r.windows.map((w) => w.acked / (r.windowMs / 1000));
}

/** A paced background load: one client posting `batchEntries`-entry batches at about `entriesPerSecond`. */
export class PacedLoad {
  acked = 0;
  errors = 0;
  private stopped = false;
  private readonly done: Promise<void>;
  private readonly t0 = nowMs();
  private t1 = 0;

  constructor(
    base: URL,
    factory: EntryFactory,
    readonly entriesPerSecond: number,
    batchEntries: number,
    entryBytes: number,
    signal?: AbortSignal,
  ) {
    signal?.addEventListener('abort', () => (this.stopped = true));
    const agent = new Agent({ keepAlive: true, maxSockets: 2 });
    const periodMs = (1000 * batchEntries) / entriesPerSecond;
    this.done = (async () => {
      let next = nowMs();
      while (!this.stopped) {
        try {
          const r = await post(agent, base, '/v1/entries', CONTENT_TYPE.json, factory.batchBody('json', batchEntries, entryBytes));
          if (r.status === 200) this.acked += countReply(r.body, batchEntries).added;
          else this.errors++;
        } catch {
          this.errors++;
        }
        next += periodMs;
        const wait = next - nowMs();
        if (wait > 0) await sleep(wait);
        else next = nowMs(); // behind: do not burst to catch up
      }
      agent.destroy();
    })();
  }

  /** Stops (idempotent) and returns the achieved rate (entries/s). */
  async stop(): Promise<number> {
    if (!this.stopped || this.t1 === 0) {
      this.stopped = true;
      this.t1 = nowMs();
    }
    await this.done;
    return this.achievedPerS;
  }

  /** Entries per second acknowledged from the start until stop(). */
  get achievedPerS(): number {
    return this.acked / (((this.t1 === 0 ? nowMs() : this.t1) - this.t0) / 1000);
  }
}

export interface PublishedProbeResult {
  /** Latency (ms) of every successful probe, by window. */
  readonly windows: number[][];
  readonly errors: number;
  readonly firstError: string | undefined;
}

/**
 * `probes` clients, each repeatedly posting one unique octet-stream entry with `?wait=published` after a random
 * pause of 0–`jitterMs` (so submissions are spread uniformly over the checkpoint interval rather than all lining up
 * just after a publication), timing submission → reply carrying a checkpoint and an inclusion proof.
 */
export async function runPublishedProbes(o: {
  base: URL;
  factory: EntryFactory;
  probes: number;
  entryBytes: number;
  windowMs: number;
  windows: number;
  jitterMs: number;
  signal?: AbortSignal;
}): Promise<PublishedProbeResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: o.probes });
  const windows: number[][] = Array.from({ length: o.windows }, () => []);
  let errors = 0;
  let firstError: string | undefined;
  const t0 = nowMs();
  const end = t0 + o.windows * o.windowMs;
  let finished = false;
  const worker = async () => {
    while (!finished && nowMs() < end && o.signal?.aborted !== true) {
      await sleep(Math.random() * o.jitterMs);
      const tSubmit = nowMs();
      if (tSubmit >= end) break;
      try {
        const r = await post(agent, o.base, '/v1/entries?wait=published', CONTENT_TYPE.octet, o.factory.octet(o.entryBytes));
        if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${r.body.toString('utf8').slice(0, 200)}`);
        const j = JSON.parse(r.body.toString('utf8')) as EntriesReply;
        const e = j.entries?.[0];
        if (typeof j.checkpoint !== 'string' || e === undefined || !Array.isArray(e.proof) || typeof j.treeSize !== 'number' || e.index >= j.treeSize) {
          throw new Error(`reply without a covering checkpoint and proof: ${r.body.toString('utf8').slice(0, 200)}`);
        }
        // Attribute the sample to the window of its submission.
        windows[Math.min(o.windows - 1, Math.floor((tSubmit - t0) / o.windowMs))]?.push(r.ms);
      } catch (err) {
        errors++;
        firstError ??= (err as Error).message;
        if (errors > 50) throw new Error(`too many failed probes; first: ${firstError}`);
        await sleep(100);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: o.probes }, worker));
  } finally {
    finished = true;
    agent.destroy();
  }
  return { windows, errors, firstError };
}

export interface CannonResult {
  readonly okPerSecond: number;
  readonly ok: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly durationS: number;
  readonly latencyMs: { p50: number; p99: number; mean: number };
  readonly statusCodes: Record<string, number>;
}

let bodiesDropped: boolean | undefined;

/**
 * autocannon keeps every response body as a string (`body += chunk` in its PipelinedRequestsQueue), which for an
 * 8 KiB binary tile costs the load generator ~85 µs per response (UTF-8 decoding of random bytes): on a 2-core
 * machine that is as much CPU as the server's own work per request. No option turns it off, and the benchmark
 * uses neither `onResponse` nor `verifyBody`/`expectBody` (the only readers of the body), so bodies are dropped.
 * Returns whether the patch applied (false if autocannon's internals changed; then bodies are kept).
 */
export function dropAutocannonResponseBodies(): boolean {
  if (bodiesDropped !== undefined) return bodiesDropped;
  try {
    const Queue = createRequire(import.meta.url)('autocannon/lib/pipelinedRequestsQueue.js') as { prototype?: { addBody?: unknown } } | undefined;
    bodiesDropped = typeof Queue?.prototype?.addBody === 'function';
    if (bodiesDropped && Queue?.prototype !== undefined) Queue.prototype.addBody = function addBody() {};
  } catch {
    bodiesDropped = false;
  }
  return bodiesDropped;
}

/** Runs autocannon once; throughput counts 2xx replies only. */
export async function cannon(o: { url: string; connections: number; durationS: number; requests: RequestSpec[]; timeoutS?: number; signal?: AbortSignal }): Promise<CannonResult> {
  if (o.requests.some((r) => r.onResponse !== undefined)) throw new Error('cannon(): onResponse needs the response bodies, which are dropped');
  dropAutocannonResponseBodies();
  const inst = autocannon({
    url: o.url,
    connections: o.connections,
    duration: o.durationS,
    requests: o.requests,
    timeout: o.timeoutS ?? 10,
    pipelining: 1,
  });
  const stop = () => inst.stop();
  o.signal?.addEventListener('abort', stop);
  let r: Result;
  try {
    if (o.signal?.aborted === true) inst.stop();
    r = await inst;
  } finally {
    o.signal?.removeEventListener('abort', stop);
  }
  const statusCodes: Record<string, number> = {};
  for (const [k, v] of Object.entries(r.statusCodeStats ?? {})) statusCodes[k] = v.count;
  return {
    okPerSecond: r['2xx'] / r.duration,
    ok: r['2xx'],
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    durationS: r.duration,
    latencyMs: { p50: r.latency.p50, p99: r.latency.p99, mean: r.latency.mean },
    statusCodes,
  };
}

/** p50 and p99 of latencies (ms). */
export function p50p99(xs: readonly number[]): { p50: number; p99: number; n: number } {
  return { p50: quantile(xs, 0.5), p99: quantile(xs, 0.99), n: xs.length };
}
