/**
 * Load generators of the benchmark's `k8s` phase: Kubernetes audit webhook batches (`POST /v1/k8s/audit`) and
 * OTLP/HTTP protobuf log exports (`POST /v1/logs`).
 *
 * Audit bodies are audit.k8s.io/v1 EventLists as the API server's webhook backend sends them (`kind`, `apiVersion`,
 * empty `metadata`, items without their own kind/apiVersion), built from real events (a JSON-lines fixture) rotated
 * through, each with a fresh counter-based UUID-like `auditID` and its `stage` kept, so that every event is new
 * (the server deduplicates by (auditID, stage)). Every event is pre-serialised once around its auditID: a body costs
 * the load generator only string concatenation.
 *
 * OTLP bodies are ExportLogsServiceRequests (1 resource, 1 scope, n LogRecords) encoded once with protobufjs from
 * the vendored protos; each body is a copy of that encoding with the fixed-width counter inside every record's body
 * string overwritten, so every record is unique at the cost of a memcpy.
 *
 * Throughput is measured as in load.ts: replies are bucketed by arrival into a warm-up window and back-to-back
 * measured windows, and only acknowledged (200) new records count.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { post, type PostResult, type WindowStats } from './load.js';
import { REPO_ROOT } from './server.js';
import { nowMs, sleep } from './stats.js';

/** The request bodies of one kind of load. */
export interface BodySource {
  readonly path: string;
  readonly contentType: string;
  /** A new body of `records` records. */
  body(records: number): Buffer;
  /** New records acknowledged by a 200 reply to a body of `records` records (throws if the reply is wrong). */
  count(reply: Buffer, records: number): { added: number; duplicates: number };
}

// ---- Kubernetes audit EventLists -------------------------------------------------------------------------------

export const K8S_AUDIT_FIXTURE = join('/work/shared/fixtures/k8s-audit', 'immudb-log-audit-k8s-subset.jsonl');
const ID_MARK = '\u0000auditID\u0000';

export class AuditEventLists implements BodySource {
  readonly path = '/v1/k8s/audit';
  readonly contentType = 'application/json';
  /** Each fixture event as JSON without kind/apiVersion, split around its auditID value. */
  private readonly templates: { pre: string; post: string }[];
  private next = 0;
  private counter = 0;
  private readonly nonce = randomBytes(4).toString('hex');
  readonly meanEventBytes: number;

  constructor(file = K8S_AUDIT_FIXTURE) {
    const events = readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    if (events.length === 0) throw new Error(`${file}: no audit events`);
    this.templates = events.map((e, i) => {
      if (typeof e['auditID'] !== 'string' || typeof e['stage'] !== 'string') throw new Error(`${file}: line ${i + 1} has no auditID or stage`);
      const { kind: _k, apiVersion: _a, ...rest } = e;
      const parts = JSON.stringify({ ...rest, auditID: ID_MARK }).split(JSON.stringify(ID_MARK));
      if (parts.length !== 2) throw new Error(`${file}: line ${i + 1}: cannot template the auditID`);
      return { pre: parts[0] as string, post: parts[1] as string };
    });
    this.meanEventBytes = this.templates.reduce((a, t) => a + t.pre.length + t.post.length + 38, 0) / this.templates.length;
  }

  /** Fixture events. */
  get fixtureEvents(): number {
    return this.templates.length;
  }

  /** Events produced so far. */
  get produced(): number {
    return this.counter;
  }

  /** A new UUID-looking id: per-run nonce, then a 12-hex-digit counter (`xxxxxxxx-0000-4000-8000-cccccccccccc`). */
  private auditId(): string {
    return `"${this.nonce}-0000-4000-8000-${(this.counter++).toString(16).padStart(12, '0')}"`;
  }

  /** `n` events, rotating through the fixture, as the items of an EventList. */
  items(n: number): string[] {
    const out = new Array<string>(n);
    for (let i = 0; i < n; i++) {
      const t = this.templates[this.next] as { pre: string; post: string };
      this.next = (this.next + 1) % this.templates.length;
      out[i] = t.pre + this.auditId() + t.post;
    }
    return out;
  }

  body(n: number): Buffer {
    return Buffer.from(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[${this.items(n).join(',')}]}`, 'utf8');
  }

  count(reply: Buffer, records: number): { added: number; duplicates: number } {
    const j = JSON.parse(reply.toString('utf8')) as { entries?: { duplicate?: boolean }[] };
    const es = j.entries ?? [];
    if (es.length !== records) throw new Error(`reply lists ${es.length} entries, ${records} events were sent`);
    let duplicates = 0;
    for (const e of es) if (e.duplicate !== false) duplicates++;
    return { added: es.length - duplicates, duplicates };
  }
}

// ---- OTLP/HTTP protobuf ----------------------------------------------------------------------------------------

export const OTLP_LOGS_SERVICE_PROTO = 'opentelemetry/proto/collector/logs/v1/logs_service.proto';
const COUNTER_DIGITS = 12;
const COUNTER_MARK = '#'.repeat(COUNTER_DIGITS);

/** Whether the vendored OTLP protos are there. */
export function otlpProtosPresent(): boolean {
  return existsSync(join(REPO_ROOT, 'proto', OTLP_LOGS_SERVICE_PROTO));
}

function otlpTypes(): { Request: protobuf.Type; Response: protobuf.Type } {
  const root = new protobuf.Root();
  const dir = join(REPO_ROOT, 'proto');
  root.resolvePath = (_origin, target) => join(dir, target);
  root.loadSync(OTLP_LOGS_SERVICE_PROTO);
  return {
    Request: root.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest'),
    Response: root.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse'),
  };
}

export class OtlpLogExports implements BodySource {
  readonly path = '/v1/logs';
  readonly contentType = 'application/x-protobuf';
  private readonly types = otlpTypes();
  private readonly nonce = randomBytes(4).toString('hex');
  private counter = 0;
  /** Encoded template and the offsets of each record's counter, by record count. */
  private readonly templates = new Map<number, { buf: Buffer; offsets: number[] }>();

  /** Records produced so far. */
  get produced(): number {
    return this.counter;
  }

  /** The encoding of an ExportLogsServiceRequest of `n` records (counters left as placeholders; `n` = 0: empty request). */
  encode(n: number, mark = COUNTER_MARK): Buffer {
    const t = BigInt(Date.now()) * 1_000_000n;
    const str = (k: string, v: string) => ({ key: k, value: { stringValue: v } });
    const records = Array.from({ length: n }, (_x, i) => ({
      timeUnixNano: (t + BigInt(i)).toString(),
      observedTimeUnixNano: (t + BigInt(i)).toString(),
      severityNumber: 9,
      severityText: 'INFO',
      body: { stringValue: `tilelog bench ${this.nonce} ${mark} GET /api/v1/namespaces/default/pods?limit=500 200 OK 1532 bytes in 4.2 ms user=system:serviceaccount:kube-system:replicaset-controller` },
      attributes: [str('http.request.method', 'GET'), str('url.path', '/api/v1/namespaces/default/pods'), { key: 'http.response.status_code', value: { intValue: '200' } }],
    }));
    const req = n === 0 ? {} : {
      resourceLogs: [
        {
          resource: { attributes: [str('service.name', 'tilelog-bench'), str('k8s.namespace.name', 'default'), str('k8s.pod.name', 'bench-0')] },
          scopeLogs: [{ scope: { name: 'tilelog.bench', version: '1' }, logRecords: records }],
        },
      ],
    };
    const { Request } = this.types;
    return Buffer.from(Request.encode(Request.fromObject(req)).finish());
  }

  private template(n: number): { buf: Buffer; offsets: number[] } {
    let t = this.templates.get(n);
    if (t === undefined) {
      const buf = this.encode(n);
      const offsets: number[] = [];
      for (let at = buf.indexOf(COUNTER_MARK, 0, 'latin1'); at >= 0; at = buf.indexOf(COUNTER_MARK, at + COUNTER_DIGITS, 'latin1')) offsets.push(at);
      if (offsets.length !== n) throw new Error(`OTLP template: found ${offsets.length} counters in ${n} records`);
      t = { buf, offsets };
      this.templates.set(n, t);
    }
    return t;
  }

  body(n: number): Buffer {
    const t = this.template(n);
    const buf = Buffer.from(t.buf);
    for (const off of t.offsets) buf.write((this.counter++).toString(16).padStart(COUNTER_DIGITS, '0'), off, 'latin1');
    return buf;
  }

  /** All records count unless the reply has a partialSuccess with rejected records. */
  count(reply: Buffer, records: number): { added: number; duplicates: number } {
    const { Response } = this.types;
    const r = Response.toObject(Response.decode(reply), { longs: Number }) as { partialSuccess?: { rejectedLogRecords?: number } };
    const rejected = r.partialSuccess?.rejectedLogRecords ?? 0;
    return { added: records - rejected, duplicates: rejected };
  }
}

// ---- closed-loop throughput --------------------------------------------------------------------------------------

export interface PostIngestResult {
  readonly concurrency: number;
  readonly recordsPerBody: number;
  readonly warmup: WindowStats;
  readonly windows: WindowStats[];
  readonly windowMs: number;
  /** Records the server did not append (duplicates, or rejected records of an OTLP partial success). */
  readonly notAdded: number;
  readonly pushbacks: number;
  readonly errors: number;
  readonly firstError: string | undefined;
}

/** `concurrency` clients, each posting bodies of `recordsPerBody` records back to back on its own keep-alive connection. */
export async function runPostIngest(o: {
  base: URL;
  source: BodySource;
  concurrency: number;
  recordsPerBody: number;
  warmupMs: number;
  windowMs: number;
  windows: number;
  signal?: AbortSignal;
}): Promise<PostIngestResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency });
  const empty = (): WindowStats => ({ acked: 0, requests: 0, latenciesMs: [] });
  const warmup = empty();
  const windows = Array.from({ length: o.windows }, empty);
  let notAdded = 0;
  let pushbacks = 0;
  let errors = 0;
  let firstError: string | undefined;
  const t0 = nowMs();
  const end = t0 + o.warmupMs + o.windows * o.windowMs;
  let finished = false;
  const done = () => finished || nowMs() >= end || o.signal?.aborted === true;
  const fail = async (msg: string) => {
    errors++;
    firstError ??= msg;
    if (errors > 50) throw new Error(`too many failed requests; first: ${firstError}`);
    await sleep(100);
  };
  const worker = async () => {
    while (!done()) {
      const body = o.source.body(o.recordsPerBody);
      let r: PostResult;
      try {
        r = await post(agent, o.base, o.source.path, o.source.contentType, body);
      } catch (err) {
        await fail((err as Error).message);
        continue;
      }
      const t = nowMs();
      if (t >= end) break;
      if (r.status === 200) {
        const c = o.source.count(r.body, o.recordsPerBody);
        notAdded += c.duplicates;
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
        await fail(`HTTP ${r.status}: ${r.body.toString('utf8').slice(0, 200)}`);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: o.concurrency }, worker));
  } finally {
    finished = true;
    agent.destroy();
  }
  return { concurrency: o.concurrency, recordsPerBody: o.recordsPerBody, warmup, windows, windowMs: o.windowMs, notAdded, pushbacks, errors, firstError };
}

// ---- open-loop paced latency -------------------------------------------------------------------------------------

export interface PacedLatencyResult {
  /** Send → 200 of every request sent after the warm-up, by window of its sending. */
  readonly windows: number[][];
  readonly sent: number;
  readonly acked: number;
  /** Records acknowledged per second over the measured part. */
  readonly achievedPerS: number;
  /** Requests not sent on time because `maxInFlight` were outstanding. */
  readonly skipped: number;
  readonly notAdded: number;
  readonly errors: number;
  readonly firstError: string | undefined;
}

/**
 * Open-loop load: a body of `recordsPerBody` records is sent every `recordsPerBody / recordsPerS` seconds whatever
 * the replies (up to `maxInFlight` outstanding, on a pool of keep-alive connections), so that a slow reply does not
 * lower the offered load; each request's time from send to its 200 reply is recorded.
 */
export async function runPacedLatency(o: {
  base: URL;
  source: BodySource;
  recordsPerS: number;
  recordsPerBody: number;
  warmupMs: number;
  windowMs: number;
  windows: number;
  maxInFlight?: number;
  signal?: AbortSignal;
}): Promise<PacedLatencyResult> {
  const maxInFlight = o.maxInFlight ?? 64;
  const agent = new Agent({ keepAlive: true, maxSockets: maxInFlight });
  const periodMs = (1000 * o.recordsPerBody) / o.recordsPerS;
  const windows: number[][] = Array.from({ length: o.windows }, () => []);
  let sent = 0;
  let acked = 0;
  let skipped = 0;
  let notAdded = 0;
  let errors = 0;
  let firstError: string | undefined;
  let inFlight = 0;
  const pending = new Set<Promise<void>>();
  const t0 = nowMs();
  const measureFrom = t0 + o.warmupMs;
  const end = measureFrom + o.windows * o.windowMs;
  const one = async (tSend: number) => {
    inFlight++;
    try {
      const r = await post(agent, o.base, o.source.path, o.source.contentType, o.source.body(o.recordsPerBody));
      if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${r.body.toString('utf8').slice(0, 200)}`);
      const c = o.source.count(r.body, o.recordsPerBody);
      notAdded += c.duplicates;
      if (tSend >= measureFrom) {
        acked += c.added;
        windows[Math.min(o.windows - 1, Math.floor((tSend - measureFrom) / o.windowMs))]?.push(r.ms);
      }
    } catch (err) {
      errors++;
      firstError ??= (err as Error).message;
    } finally {
      inFlight--;
    }
  };
  try {
    for (let k = 0; o.signal?.aborted !== true; k++) {
      const due = t0 + k * periodMs;
      if (due >= end) break;
      const wait = due - nowMs();
      if (wait > 0) await sleep(wait);
      if (errors > 50) throw new Error(`too many failed requests; first: ${firstError}`);
      if (inFlight >= maxInFlight) {
        skipped++;
        continue;
      }
      sent++;
      const p = one(nowMs());
      pending.add(p);
      void p.finally(() => pending.delete(p));
    }
    await Promise.race([Promise.all(pending), sleep(30_000)]);
  } finally {
    agent.destroy();
  }
  const measuredS = (Math.min(nowMs(), end) - measureFrom) / 1000;
  return { windows, sent, acked, achievedPerS: acked / Math.max(measuredS, 1e-3), skipped, notAdded, errors, firstError };
}

// ---- helpers -----------------------------------------------------------------------------------------------------

/** The status of `POST path` with an empty body of `contentType` (404: the route is not served). */
export async function probePost(base: URL, path: string, contentType: string, body: Buffer = Buffer.alloc(0)): Promise<PostResult> {
  const agent = new Agent({ keepAlive: false });
  try {
    return await post(agent, base, path, contentType, body, 10_000);
  } finally {
    agent.destroy();
  }
}

/** `integratedTreeSize` of GET /v1/log. */
export async function integratedTreeSize(base: URL): Promise<number> {
  const r = await fetch(new URL('/v1/log', base));
  const j = (await r.json()) as { integratedTreeSize?: number };
  if (r.status !== 200 || typeof j.integratedTreeSize !== 'number') throw new Error(`GET /v1/log: HTTP ${r.status}, no integratedTreeSize`);
  return j.integratedTreeSize;
}
