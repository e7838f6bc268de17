/**
 * The gRPC front end (@grpc/grpc-js + the .proto loaded by protobufjs): `tilelog.v1.LogService`, the standard
 * health service `grpc.health.v1.Health`, and server reflection. A thin adapter: decode, call the same functions
 * as HTTP (Ingest, Log), encode; errors through the one table (status.ts).
 */
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import { malformed } from '../core/errors.js';
import { HASH_SIZE, type Hash } from '../core/hash.js';
import { parseDecimal } from '../core/strict.js';
import { toTlogError } from '../errors.js';
import type { Authenticator, Principal } from '../auth.js';
import type { Ingest } from '../ingest.js';
import type { Log } from '../log.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { AddResult } from '../sequencer.js';
import { loadLogPackage, logServiceDefinition, Malformed } from './proto.js';
import { toServiceError } from './status.js';
import { addOtlpLogsService } from '../otlp/grpc.js';

export interface GrpcServices {
  readonly log: Log;
  readonly ingest: Ingest;
  readonly auth: Authenticator;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

export interface GrpcOptions {
  /** Largest accepted message (bytes). */
  readonly maxMessageBytes: number;
  /** Unacknowledged batches per AppendStream before the server stops reading from it. */
  readonly maxInFlightBatches: number;
}

type Obj = Record<string, unknown>;

function u64(v: unknown, what: string): bigint {
  if (typeof v !== 'string') throw malformed(`${what}: missing`);
  return parseDecimal(v, what);
}

function entriesOf(req: Obj): Uint8Array[] {
  const entries = req['entries'];
  if (!Array.isArray(entries) || entries.length === 0) throw malformed('entries: at least one entry is required');
  return entries as Uint8Array[];
}

/** A uint64 for protobufjs: a number while exact (cheaper to encode), else its decimal string. */
function u64Out(n: bigint): number | string {
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();
}

function appended(results: readonly AddResult[], proofs?: readonly Hash[][]): Obj[] {
  // Hashes are passed as they are (Uint8Array views are encoded without a copy).
  return results.map((r, i) => ({ index: u64Out(r.leafIndex), leafHash: r.leafHash, duplicate: r.duplicate, proof: proofs?.[i] ?? [] }));
}

/** A running gRPC server. */
export interface GrpcServer {
  readonly server: grpc.Server;
  readonly port: number;
  /** Marks the services NOT_SERVING and ends watch streams (call when draining). */
  draining(): void;
  /** Graceful shutdown, forced after `timeoutMs`. */
  shutdown(timeoutMs: number): Promise<void>;
}

/** Starts the gRPC server on host:port (port 0 = any free port). */
export async function startGrpcServer(s: GrpcServices, opts: GrpcOptions, host: string, port: number): Promise<GrpcServer> {
  const pkg = loadLogPackage();
  const server = new grpc.Server({ 'grpc.max_receive_message_length': opts.maxMessageBytes, 'grpc.max_send_message_length': opts.maxMessageBytes });
  const health = new HealthImplementation({ '': 'SERVING', 'tilelog.v1.LogService': 'SERVING', 'opentelemetry.proto.collector.logs.v1.LogsService': 'SERVING' });
  const watchers = new Set<grpc.ServerWritableStream<Obj, Obj>>();
  const { log, ingest, auth, metrics, logger } = s;

  const authorization = (md: grpc.Metadata): string | undefined => {
    const v = md.get('authorization')[0];
    return typeof v === 'string' ? v : undefined;
  };

  const fail = (method: string, err: unknown): Partial<grpc.ServiceError> => {
    const e = toTlogError(err);
    if (e.code === 'INTERNAL') logger.error({ err: e.cause ?? err, rpc: method }, 'internal error');
    metrics.recordError(e.code);
    const se = toServiceError(e);
    metrics.grpcCalls.inc({ method, code: String(se.code) });
    return se;
  };

  /** A unary handler: request → response object, errors through the table. */
  const unary = (method: string, fn: (req: Obj, md: grpc.Metadata) => Promise<Obj>): grpc.handleUnaryCall<Obj, Obj> => {
    return (call, callback) => {
      const req = call.request as Obj | Malformed;
      const run = async () => {
        if (req instanceof Malformed) throw malformed(`malformed ${method} request: ${req.reason}`);
        return fn(req, call.metadata);
      };
      run().then(
        (res) => {
          metrics.grpcCalls.inc({ method, code: '0' });
          callback(null, res);
        },
        (err) => callback(fail(method, err) as grpc.ServiceError),
      );
    };
  };

  const handlers: grpc.UntypedServiceImplementation = {
    Append: unary('Append', async (req, md) => {
      const principal = await auth.writer(authorization(md));
      const entries = entriesOf(req);
      const id = typeof req['id'] === 'string' ? req['id'] : '';
      const started = Date.now();
      try {
        if (req['waitPublished'] === true) {
          const p = await ingest.appendAndWait(principal, entries);
          return { id, entries: appended(p.results, p.proofs), checkpoint: Buffer.from(p.checkpoint), treeSize: p.treeSize.toString() };
        }
        const results = await ingest.append(principal, entries);
        return { id, entries: appended(results), treeSize: log.tree.treeSize.toString() };
      } finally {
        logger.info({ rpc: 'Append', subject: principal.subject, entries: entries.length, ms: Date.now() - started }, 'append');
      }
    }),

    AppendStream: (call: grpc.ServerDuplexStream<Obj, Obj>) => appendStream(call),

    GetCheckpoint: unary('GetCheckpoint', async () => ({ checkpoint: Buffer.from(log.published.checkpoint) })),

    GetInclusionProof: unary('GetInclusionProof', async (req) => {
      const treeSize = req['_treeSize'] === 'treeSize' ? u64(req['treeSize'], 'tree_size') : undefined;
      let q: { leafIndex?: bigint; leafHash?: Hash };
      if (req['leaf'] === 'index') q = { leafIndex: u64(req['index'], 'index') };
      else if (req['leaf'] === 'leafHash') {
        const h = req['leafHash'] as Uint8Array;
        if (h.length !== HASH_SIZE) throw malformed(`leaf_hash: want ${HASH_SIZE} bytes, got ${h.length}`);
        q = { leafHash: h };
      } else throw malformed('want index or leaf_hash');
      const p = await log.inclusionProof({ ...q, ...(treeSize !== undefined ? { treeSize } : {}) });
      return { index: p.leafIndex.toString(), treeSize: p.treeSize.toString(), leafHash: Buffer.from(p.leafHash), proof: p.proof.map((h) => Buffer.from(h)), checkpoint: Buffer.from(p.checkpoint ?? '') };
    }),

    GetConsistencyProof: unary('GetConsistencyProof', async (req) => {
      const from = u64(req['from'], 'from');
      const to = req['_to'] === 'to' ? u64(req['to'], 'to') : undefined;
      const p = await log.consistencyProof(from, to);
      return { from: p.from.toString(), to: p.to.toString(), proof: p.proof.map((h) => Buffer.from(h)) };
    }),

    GetEntry: unary('GetEntry', async (req, md) => {
      await auth.reader(authorization(md));
      const index = u64(req['index'], 'index');
      return { index: index.toString(), data: Buffer.from(await log.entry(index)) };
    }),

    WatchCheckpoints: (call: grpc.ServerWritableStream<Obj, Obj>) => {
      watchers.add(call);
      const send = (checkpoint: string) => call.write({ checkpoint: Buffer.from(checkpoint) });
      const unsubscribe = log.publisher.subscribe((p) => send(p.checkpoint));
      const done = () => {
        unsubscribe();
        watchers.delete(call);
      };
      call.on('cancelled', done);
      call.on('close', done);
      call.on('error', done);
      send(log.published.checkpoint);
    },
  };

  /**
   * AppendStream: batches are appended as they arrive (so they share commits), acknowledged strictly in order.
   * Flow control: at most `maxInFlightBatches` unacknowledged batches; beyond that the server pauses reading,
   * HTTP/2 windows fill, and the client's writes wait.
   */
  function appendStream(call: grpc.ServerDuplexStream<Obj, Obj>): void {
    let principal: Promise<Principal> | undefined;
    let tail: Promise<void> = Promise.resolve();
    let inFlight = 0;
    let ended = false;
    let closed = false;
    const finish = () => {
      if (ended && inFlight === 0 && !closed) {
        closed = true;
        metrics.grpcCalls.inc({ method: 'AppendStream', code: '0' });
        call.end();
      }
    };
    const abort = (err: unknown) => {
      if (closed) return;
      closed = true;
      // grpc-js sends a server stream's status when the stream emits 'error' (destroy() would skip it).
      call.emit('error', fail('AppendStream', err));
    };
    let drainPending = false;
    principal = auth.writer(authorization(call.metadata));
    principal.catch(abort);
    call.on('data', (req: Obj | Malformed) => {
      if (closed) return;
      if (req instanceof Malformed) return abort(malformed(`malformed AppendStream request: ${req.reason}`));
      inFlight++;
      if (inFlight >= opts.maxInFlightBatches) call.pause();
      const id = typeof req['id'] === 'string' ? req['id'] : '';
      const work = (async (): Promise<Obj> => {
        const who = await (principal as Promise<Principal>);
        try {
          const entries = entriesOf(req);
          if (req['waitPublished'] === true) {
            const p = await ingest.appendAndWait(who, entries);
            return { id, entries: appended(p.results, p.proofs), checkpoint: Buffer.from(p.checkpoint), treeSize: p.treeSize.toString() };
          }
          return { id, entries: appended(await ingest.append(who, entries)), treeSize: log.tree.treeSize.toString() };
        } catch (err) {
          const e = toTlogError(err);
          if (e.code === 'INTERNAL') logger.error({ err: e.cause ?? err, rpc: 'AppendStream' }, 'internal error');
          metrics.recordError(e.code);
          const se = toServiceError(e);
          return { id, entries: [], error: { status: se.code, code: e.code, message: e.message, retryAfterSeconds: e.retryAfter === undefined ? 0 : Math.max(1, Math.ceil(e.retryAfter)) } };
        }
      })();
      // Acknowledge in order: each response waits for the one before it.
      tail = tail.then(async () => {
        let res: Obj;
        try {
          res = await work;
        } catch (err) {
          return abort(err);
        }
        if (closed) return;
        const flushed = call.write(res);
        inFlight--;
        if (inFlight < opts.maxInFlightBatches) {
          if (flushed) call.resume();
          else if (!drainPending) {
            drainPending = true;
            call.once('drain', () => {
              drainPending = false;
              call.resume();
            });
          }
        }
        finish();
      });
    });
    call.on('end', () => {
      ended = true;
      void tail.then(finish);
    });
    call.on('cancelled', () => {
      closed = true;
    });
    call.on('error', () => {
      closed = true;
    });
  }

  server.addService(logServiceDefinition(pkg), handlers);
  addOtlpLogsService(server, { ingest, auth, logger, metrics });
  health.addToServer(server);
  new ReflectionService(pkg).addToServer(server);

  const bound = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });

  return {
    server,
    port: bound,
    draining() {
      health.setStatus('', 'NOT_SERVING');
      health.setStatus('tilelog.v1.LogService', 'NOT_SERVING');
      health.setStatus('opentelemetry.proto.collector.logs.v1.LogsService', 'NOT_SERVING');
      for (const w of watchers) w.end();
      watchers.clear();
    },
    shutdown(timeoutMs: number) {
      return new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, timeoutMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    },
  };
}

