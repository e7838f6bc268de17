/**
 * The gRPC load generator of the benchmark: `streams` concurrent `tilelog.v1.LogService/AppendStream` calls, each on
 * its own HTTP/2 connection (a client with a local subchannel pool, like separate collectors), each keeping up to
 * `inFlight` batches unacknowledged: a new batch is written whenever an acknowledgement arrives.
 *
 * Client: @grpc/grpc-js with `proto/tilelog/v1/log.proto` loaded by @grpc/proto-loader (the file the server loads).
 * Responses are consumed with a 'data' handler attached before the first write (until a call has been read from,
 * grpc-js buffers its responses without limit).
 *
 * Throughput is measured as for HTTP (load.ts): acknowledgements are bucketed by arrival time into a warm-up window
 * and back-to-back measured windows; only acknowledged entries (responses without `error`, not duplicates) count,
 * and nothing acknowledged after the last window counts. When the time is up, no new batch is sent; the batches in
 * flight are awaited (bounded), then the stream is half-closed and its status awaited, so that a run leaves nothing
 * behind in the server when the next one starts.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { join } from 'node:path';
import { newKey, signToken, writeJwksFile } from '../support/jwt.js';
import type { EntryFactory } from './entries.js';
import type { WindowStats } from './load.js';
import { REPO_ROOT } from './server.js';
import { nowMs } from './stats.js';

type Obj = Record<string, unknown>;

interface AppendResponse {
  readonly id: string;
  readonly entries: { index: string; duplicate: boolean }[];
  readonly error: { status: number; code: string; message: string; retryAfterSeconds: number } | null;
}

type StreamCtor = new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => grpc.Client & {
  AppendStream(md: grpc.Metadata, opts: grpc.CallOptions): grpc.ClientDuplexStream<Obj, AppendResponse>;
};

let ctor: StreamCtor | undefined;

/** The generated client constructor of `tilelog.v1.LogService`. */
function logServiceClient(): StreamCtor {
  if (ctor !== undefined) return ctor;
  const def = protoLoader.loadSync('tilelog/v1/log.proto', { includeDirs: [join(REPO_ROOT, 'proto')], longs: String, enums: String, defaults: true, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { tilelog: { v1: { LogService: StreamCtor } } };
  ctor = pkg.tilelog.v1.LogService;
  return ctor;
}

export interface GrpcIngestOptions {
  /** `127.0.0.1:PORT`. */
  readonly address: string;
  readonly streams: number;
  /** Unacknowledged batches per stream (the server reads at most 16). */
  readonly inFlight: number;
  readonly batchEntries: number;
  readonly entryBytes: number;
  readonly warmupMs: number;
  readonly windowMs: number;
  readonly windows: number;
  readonly factory: EntryFactory;
  /** Sent as `authorization: Bearer <token>` on every stream. */
  readonly token?: string;
  /** Stop at once when aborted (the server died). */
  readonly signal?: AbortSignal;
}

export interface GrpcIngestResult {
  readonly streams: number;
  readonly inFlight: number;
  readonly batchEntries: number;
  readonly warmup: WindowStats;
  readonly windows: WindowStats[];
  readonly windowMs: number;
  readonly duplicates: number;
  /** Batches answered with `error.code` PUSHBACK (or another retryable error). */
  readonly pushbacks: number;
  /** Batches answered with another `error`, and failed streams. */
  readonly errors: number;
  readonly firstError: string | undefined;
}

/** How long after the end of the last window the batches in flight may take to be acknowledged. */
const DRAIN_MS = 20_000;

/** `streams` AppendStream calls, each keeping `inFlight` batches unacknowledged, for warm-up + `windows` windows. */
export async function runGrpcIngest(o: GrpcIngestOptions): Promise<GrpcIngestResult> {
  const Client = logServiceClient();
  const empty = (): WindowStats => ({ acked: 0, requests: 0, latenciesMs: [] });
  const warmup = empty();
  const windows = Array.from({ length: o.windows }, empty);
  let duplicates = 0;
  let pushbacks = 0;
  let errors = 0;
  let firstError: string | undefined;
  const t0 = nowMs();
  const end = t0 + o.warmupMs + o.windows * o.windowMs;
  const md = new grpc.Metadata();
  if (o.token !== undefined) md.set('authorization', `Bearer ${o.token}`);
  const fail = (msg: string) => {
    errors++;
    firstError ??= msg;
  };

  const stream = (k: number) =>
    new Promise<void>((resolve, reject) => {
      // A channel of its own (separate HTTP/2 connection), as HTTP clients each have their own keep-alive socket.
      const client = new Client(o.address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1, 'grpc.max_receive_message_length': -1 });
      const call = client.AppendStream(md, { deadline: new Date(Date.now() + (end - t0) + DRAIN_MS + 10_000) });
      const sentAt = new Map<string, number>();
      let seq = 0;
      let halfClosed = false;
      let settled = false;
      let drainTimer: NodeJS.Timeout | undefined;
      const settle = (err?: Error) => {
        if (settled) return;
        settled = true;
        if (drainTimer !== undefined) clearTimeout(drainTimer);
        o.signal?.removeEventListener('abort', onAbort);
        client.close();
        if (err !== undefined) reject(err);
        else resolve();
      };
      const onAbort = () => {
        call.cancel();
        settle(o.signal?.reason as Error);
      };
      o.signal?.addEventListener('abort', onAbort);
      const done = () => nowMs() >= end || o.signal?.aborted === true;
      const halfClose = () => {
        if (halfClosed) return;
        halfClosed = true;
        call.end();
      };
      const send = () => {
        const id = `${k}-${seq++}`;
        sentAt.set(id, nowMs());
        call.write({ id, entries: o.factory.octetBatch(o.batchEntries, o.entryBytes), waitPublished: false });
      };
      const stopOrSend = () => {
        if (!done()) return send();
        if (sentAt.size === 0) return halfClose();
        // Time is up: wait (bounded) for the batches in flight, then half-close.
        drainTimer ??= setTimeout(() => {
          fail(`stream ${k}: ${sentAt.size} batches not acknowledged ${DRAIN_MS} ms after the end`);
          call.cancel();
        }, end + DRAIN_MS - nowMs());
      };
      call.on('data', (res: AppendResponse) => {
        const t = nowMs();
        const t1 = sentAt.get(res.id);
        sentAt.delete(res.id);
        if (t1 === undefined) fail(`stream ${k}: acknowledgement of unknown batch ${JSON.stringify(res.id)}`);
        else if (res.error !== null) {
          if (res.error.code === 'PUSHBACK' || res.error.retryAfterSeconds > 0) {
            pushbacks++;
            setTimeout(stopOrSend, 20); // as the HTTP clients do after a 503
            return;
          } else fail(`stream ${k}: batch error ${res.error.code} (status ${res.error.status}): ${res.error.message}`);
        } else if (t < end) {
          if (res.entries.length !== o.batchEntries) fail(`stream ${k}: acknowledgement lists ${res.entries.length} entries, ${o.batchEntries} were sent`);
          let dup = 0;
          for (const e of res.entries) if (e.duplicate) dup++;
          duplicates += dup;
          const rel = t - t0 - o.warmupMs;
          const w = rel < 0 ? warmup : windows[Math.min(o.windows - 1, Math.floor(rel / o.windowMs))];
          if (w !== undefined) {
            w.acked += res.entries.length - dup;
            w.requests++;
            w.latenciesMs.push(t - t1);
          }
        }
        if (errors > 50) {
          call.cancel();
          return settle(new Error(`too many failed batches; first: ${firstError}`));
        }
        stopOrSend();
      });
      call.on('error', (err: grpc.ServiceError) => {
        if (settled) return;
        if (err.code === grpc.status.CANCELLED && halfClosed === false && drainTimer !== undefined) return settle(); // drain timeout, counted
        settle(new Error(`stream ${k}: ${grpc.status[err.code] ?? err.code}: ${err.details}`));
      });
      call.on('status', (s: grpc.StatusObject) => {
        if (s.code === grpc.status.OK) settle();
        else if (s.code === grpc.status.CANCELLED && drainTimer !== undefined) settle();
      });
      for (let i = 0; i < o.inFlight && !done(); i++) send();
      if (sentAt.size === 0) halfClose();
    });

  // Every stream runs to its end even if another fails (no stream is left running in the background).
  const outcomes = await Promise.allSettled(Array.from({ length: o.streams }, (_x, k) => stream(k)));
  const failed = outcomes.find((x): x is PromiseRejectedResult => x.status === 'rejected');
  if (failed !== undefined) throw failed.reason as Error;
  return { streams: o.streams, inFlight: o.inFlight, batchEntries: o.batchEntries, warmup, windows, windowMs: o.windowMs, duplicates, pushbacks, errors, firstError };
}

// ---- authentication ----------------------------------------------------------------------------------------------

const ISSUER = 'https://issuer.test';
const AUDIENCE = 'tilelog';
const SUBJECT = 'system:serviceaccount:tilelog:bench';

/**
 * Writer authentication for a server: an ES256 key pair, its public JWK (with a kid) in `<dir>/jwks.json`, the
 * `serve` flags that turn authentication on with that JWKS file, and a token (1 h) of the allowed subject.
 */
export async function benchAuth(dir: string): Promise<{ args: string[]; token: string; subject: string }> {
  const key = await newKey('ES256', 'bench-es256');
  const file = join(dir, 'jwks.json');
  writeJwksFile(file, [key]);
  const token = await signToken(key, { iss: ISSUER, aud: AUDIENCE, sub: SUBJECT, expIn: 3600 });
  return { args: ['--auth-issuer', ISSUER, '--auth-audience', AUDIENCE, '--auth-jwks-file', file, '--auth-subject', SUBJECT], token, subject: SUBJECT };
}

/** Checks that an AppendStream without a token is refused with UNAUTHENTICATED (i.e. authentication is on). */
export async function expectUnauthenticated(address: string, factory: EntryFactory, timeoutMs = 10_000): Promise<void> {
  const Client = logServiceClient();
  const client = new Client(address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  try {
    const code = await new Promise<number>((resolve) => {
      const call = client.AppendStream(new grpc.Metadata(), { deadline: new Date(Date.now() + timeoutMs) });
      call.on('data', () => {});
      call.on('error', () => {}); // the status below carries the code
      call.on('status', (s: grpc.StatusObject) => resolve(s.code));
      call.write({ id: 'no-token', entries: factory.octetBatch(1, 64), waitPublished: false });
      call.end();
    });
    if (code !== grpc.status.UNAUTHENTICATED) throw new Error(`an AppendStream without a token ended with ${grpc.status[code] ?? code}, want UNAUTHENTICATED: authentication is not on`);
  } finally {
    client.close();
  }
}
