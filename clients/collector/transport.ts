/**
 * How the collector submits entries: gRPC `LogService.AppendStream` (default; proto/tilelog/v1/log.proto) or
 * HTTP `POST /v1/entries` (fallback). Both resolve with one acknowledgement per entry, in order, once the log has
 * durably sequenced the batch, and reject with {@link SubmitError} saying whether and when to retry.
 *
 * Authentication: a bearer token read from a file (a projected service-account token) that the kubelet rotates;
 * the file is re-read when its mtime changes and after every UNAUTHENTICATED answer.
 */
import * as grpc from '@grpc/grpc-js';
import { readFile, stat } from 'node:fs/promises';
import { leafHash } from '../../server/core/hash.js';
import { encodeBase64 } from '../../server/core/strict.js';
import { loadLogPackage } from '../../server/grpc/proto.js';
import type { AckedEntry } from './spool.js';

/** A failed submission. `retryAfterMs`: the server's hint (Retry-After, retry_after_seconds), if any. */
export class SubmitError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly retryAfterMs?: number,
    readonly status?: string,
  ) {
    super(message);
  }
}

export interface Transport {
  /** Appends `entries`; resolves with their acknowledgements in order. Several calls may be in flight. */
  append(entries: readonly Uint8Array[]): Promise<AckedEntry[]>;
  close(): void;
}

/** Reads a bearer token from a file, again whenever the file changes. */
export class TokenFile {
  private token: string | undefined;
  private mtimeMs = -1;
  private checkedAt = 0;

  constructor(private readonly path: string | undefined) {}

  /** The current token (`undefined` without a token file). Stats the file at most once a second. */
  async get(force = false): Promise<string | undefined> {
    if (this.path === undefined) return undefined;
    const now = Date.now();
    if (!force && this.token !== undefined && now - this.checkedAt < 1000) return this.token;
    this.checkedAt = now;
    const st = await stat(this.path);
    if (force || st.mtimeMs !== this.mtimeMs || this.token === undefined) {
      this.token = (await readFile(this.path, 'utf8')).trim();
      this.mtimeMs = st.mtimeMs;
    }
    return this.token;
  }
}

/** Checks the log's acknowledgement against the entry we sent: same leaf hash (the log hashed exactly our bytes). */
function checkAck(entries: readonly Uint8Array[], acks: readonly AckedEntry[]): AckedEntry[] {
  if (acks.length !== entries.length) throw new SubmitError(`the log acknowledged ${acks.length} entries of ${entries.length}`, true);
  acks.forEach((a, i) => {
    const want = encodeBase64(leafHash(entries[i] as Uint8Array));
    if (a.leafHash !== want) throw new SubmitError(`entry ${i}: the log acknowledged leaf hash ${a.leafHash}, expected ${want}`, false);
  });
  return [...acks];
}

const RETRYABLE_GRPC = new Set([grpc.status.UNAVAILABLE, grpc.status.RESOURCE_EXHAUSTED, grpc.status.DEADLINE_EXCEEDED, grpc.status.ABORTED, grpc.status.UNAUTHENTICATED, grpc.status.INTERNAL, grpc.status.UNKNOWN, grpc.status.CANCELLED]);

interface AppendResponseMsg {
  id: string;
  entries: { index: string; leafHash: Buffer; duplicate: boolean }[];
  error: { status: number; code: string; message: string; retryAfterSeconds: number } | null;
}

/** The seconds of a `retry-after` trailer, if present. */
function retryAfterOf(md: grpc.Metadata | undefined): number | undefined {
  const v = md?.get('retry-after')[0];
  const n = typeof v === 'string' && /^[0-9]{1,6}$/.test(v) ? Number(v) : undefined;
  return n === undefined ? undefined : n * 1000;
}

/**
 * gRPC AppendStream. One long-lived stream; each `append` sends one AppendRequest with a fresh id and waits for
 * the response carrying it. When the stream fails, every outstanding batch fails (retryable) and the next call
 * opens a new stream (with the token as it is then).
 */
export class GrpcTransport implements Transport {
  private readonly client: grpc.Client;
  private stream: grpc.ClientDuplexStream<unknown, AppendResponseMsg> | undefined;
  private readonly waiting = new Map<string, { resolve: (r: AppendResponseMsg) => void; reject: (e: SubmitError) => void }>();
  private nextId = 0;

  constructor(
    address: string,
    private readonly token: TokenFile,
    credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  ) {
    const pkg = grpc.loadPackageDefinition(loadLogPackage()) as unknown as { tilelog: { v1: { LogService: grpc.ServiceClientConstructor } } };
    this.client = new pkg.tilelog.v1.LogService(address, credentials, { 'grpc.keepalive_time_ms': 30_000 });
  }

  private async open(): Promise<grpc.ClientDuplexStream<unknown, AppendResponseMsg>> {
    if (this.stream !== undefined) return this.stream;
    const md = new grpc.Metadata();
    const t = await this.token.get();
    if (t !== undefined) md.set('authorization', `Bearer ${t}`);
    if (this.stream !== undefined) return this.stream;
    const s = (this.client as unknown as { AppendStream(md: grpc.Metadata): grpc.ClientDuplexStream<unknown, AppendResponseMsg> }).AppendStream(md);
    this.stream = s;
    // Acknowledgements are consumed as they arrive (grpc-js buffers unread responses without limit).
    s.on('data', (r: AppendResponseMsg) => {
      const w = this.waiting.get(r.id);
      if (w === undefined) return;
      this.waiting.delete(r.id);
      w.resolve(r);
    });
    const fail = (err: SubmitError) => {
      if (this.stream === s) this.stream = undefined;
      for (const [id, w] of this.waiting) {
        this.waiting.delete(id);
        w.reject(err);
      }
    };
    s.on('error', (e: grpc.ServiceError) => {
      if (e.code === grpc.status.UNAUTHENTICATED) void this.token.get(true).catch(() => {});
      fail(new SubmitError(`AppendStream: ${e.message}`, RETRYABLE_GRPC.has(e.code), retryAfterOf(e.metadata), grpc.status[e.code]));
    });
    s.on('end', () => fail(new SubmitError('AppendStream: the server ended the stream', true)));
    return s;
  }

  async append(entries: readonly Uint8Array[]): Promise<AckedEntry[]> {
    const s = await this.open();
    const id = String(this.nextId++);
    const reply = await new Promise<AppendResponseMsg>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      s.write({ id, entries: entries.map((e) => Buffer.from(e.buffer, e.byteOffset, e.byteLength)) });
    });
    if (reply.error !== null && reply.error !== undefined) {
      const e = reply.error;
      if (e.status === grpc.status.UNAUTHENTICATED) await this.token.get(true).catch(() => {});
      throw new SubmitError(`${e.code}: ${e.message}`, RETRYABLE_GRPC.has(e.status), e.retryAfterSeconds > 0 ? e.retryAfterSeconds * 1000 : undefined, e.code);
    }
    return checkAck(
      entries,
      reply.entries.map((x) => ({ index: x.index, leafHash: x.leafHash.toString('base64'), duplicate: x.duplicate })),
    );
  }

  close(): void {
    this.stream?.end();
    this.stream = undefined;
    this.client.close();
  }
}

/** Parses an HTTP Retry-After (delay-seconds or HTTP-date) into ms. */
export function parseRetryAfter(v: string | null, now = Date.now()): number | undefined {
  if (v === null) return undefined;
  if (/^[0-9]{1,6}$/.test(v.trim())) return Number(v.trim()) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

/**
 * HTTP `POST <url>/v1/entries` with `application/json` (an array of the entries, each a JSON text: the log
 * canonicalises each value, and our entries are already RFC 8785 canonical, so the bytes it sequences are ours —
 * checked on every acknowledgement through the leaf hash).
 */
export class HttpTransport implements Transport {
  constructor(
    private readonly baseUrl: string,
    private readonly token: TokenFile,
    private readonly timeoutMs = 60_000,
  ) {}

  async append(entries: readonly Uint8Array[]): Promise<AckedEntry[]> {
    const parts: Buffer[] = [Buffer.from('[')];
    entries.forEach((e, i) => {
      if (i > 0) parts.push(Buffer.from(','));
      parts.push(Buffer.from(e.buffer, e.byteOffset, e.byteLength));
    });
    parts.push(Buffer.from(']'));
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    const t = await this.token.get();
    if (t !== undefined) headers['authorization'] = `Bearer ${t}`;
    let res: Response;
    try {
      res = await fetch(new URL('/v1/entries', this.baseUrl), { method: 'POST', headers, body: Buffer.concat(parts), signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      throw new SubmitError(`POST /v1/entries: ${(err as Error).message}`, true);
    }
    const text = await res.text().catch(() => '');
    if (res.status !== 200) {
      if (res.status === 401) await this.token.get(true).catch(() => {});
      const retryable = res.status === 401 || res.status === 408 || res.status === 429 || res.status >= 500;
      throw new SubmitError(`POST /v1/entries: ${res.status} ${text.slice(0, 200)}`, retryable, parseRetryAfter(res.headers.get('retry-after')), String(res.status));
    }
    let body: { entries?: { index: number | string; leafHash: string; duplicate: boolean }[] };
    try {
      // Indexes may exceed 2^53: read them as text.
      body = JSON.parse(text.replace(/"index":([0-9]+)/g, '"index":"$1"')) as typeof body;
    } catch {
      throw new SubmitError('POST /v1/entries: the reply is not JSON', true);
    }
    return checkAck(entries, (body.entries ?? []).map((x) => ({ index: String(x.index), leafHash: x.leafHash, duplicate: x.duplicate })));
  }

  close(): void {}
}

/** Exponential backoff with full jitter, at least the server's hint: min(cap, base·2^attempt)·U(0.5,1). */
export function backoffMs(attempt: number, hintMs: number | undefined, baseMs = 200, capMs = 30_000, random = Math.random): number {
  const exp = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 20));
  const jittered = exp * (0.5 + random() / 2);
  return Math.max(jittered, hintMs ?? 0);
}
