/**
 * `tilelog serve`: wiring only. Opens storage and the log, starts the HTTP server, prints the `listening` line,
 * and on SIGTERM/SIGINT drains (every pooled entry sequenced, a final checkpoint published) before exiting.
 */
import { mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { LeaseCandidate, LeaseStore } from './coordination/lease.js';
import type { LeafIndexStore } from './coordination/leaf-index.js';
import { Leadership } from './leadership.js';
import { Forwarder, forwardToken } from './forward.js';
import { TlogError } from './core/errors.js';
import { errorBody } from './errors.js';
import { join } from 'node:path';
import { formatAddress, listenOn, parseListenAddress } from './config.js';
import { createHttpHandler } from './http/app.js';
import { onClientError, onConnect, withRequestTimeout } from './http/request-timeout.js';
import { loadKey, loadOrCreateKey } from './key-file.js';
import { Log } from './log.js';
import { createLogger } from './logger.js';
import { Metrics } from './metrics.js';
import { LevelStorage } from './storage/level-storage.js';
import { isS3Url, parseS3Location } from './storage/s3-location.js';
import type { LogStorage } from './storage/storage.js';
import { Authenticator, type AuthConfig } from './auth.js';
import { startGrpcServer, type GrpcServer } from './grpc/log-service.js';
import { Ingest } from './ingest.js';
import { SubjectRateLimiter, type RateLimitConfig } from './rate-limit.js';
import { Cosigning } from './witnessing/cosigning.js';
import type { WitnessingConfig } from './witnessing/config.js';
import { newVerifier } from './core/keys.js';
import { bytesEqual } from './core/strict.js';

export interface ServeOptions {
  readonly data: string;
  readonly origin: string | undefined;
  readonly key: string | undefined;
  /** Further key files signing every checkpoint (key rotation). */
  readonly additionalKeys?: readonly string[];
  readonly http: string;
  /** gRPC listen address; no gRPC server when undefined. */
  readonly grpc: string | undefined;
  /** Writer authentication (and optional read protection); off when undefined. */
  readonly auth: AuthConfig | undefined;
  /** Per-subject rate limit; off when undefined. */
  readonly rateLimit: RateLimitConfig | undefined;
  readonly checkpointIntervalMs: number;
  readonly batchSize: number;
  readonly batchDelayMs: number;
  readonly maxPending: number;
  readonly maxBodyBytes: number;
  /** A request whose body has not arrived within this many ms gets 408 (server/http/request-timeout.ts). */
  readonly requestTimeoutMs?: number;
  readonly logLevel: string;
  /** LevelDB table files kept open (memory-mapped). */
  readonly leveldbOpenFiles: number;
  /** Public base URL of the log (for the Sigstore trusted root). */
  readonly publicUrl: string | undefined;
  /** Witnesses to ask for cosignatures before publishing (c2sp.org/tlog-witness); none when undefined. */
  readonly witnessing?: WitnessingConfig | undefined;
  /** `s3://bucket/prefix` to keep the log in an S3 bucket; undefined: LevelDB under `data`. */
  readonly storage?: string | undefined;
  /** S3 endpoint (else S3_ENDPOINT, else the AWS SDK's own resolution). */
  readonly s3Endpoint?: string | undefined;
  /** Path-style S3 addressing (Ceph RGW, MinIO without DNS). */
  readonly s3ForcePathStyle?: boolean | undefined;
  /** Create the bucket if it does not exist. */
  readonly s3CreateBucket?: boolean | undefined;
  /** False: no leaf-hash index objects in the bucket (no duplicate detection, no lookup by hash). */
  readonly s3LeafIndex?: boolean | undefined;
  /** True: entry bundles stored without compression (default: gzip with `Content-Encoding: gzip`). */
  readonly s3UncompressedBundles?: boolean | undefined;
  /**
   * Shared storage only: `postgres://…` keeps the leader lease and the duplicate index in PostgreSQL; undefined:
   * the lease is an object in the bucket and the index is objects too.
   */
  readonly coordination?: string | undefined;
  /** Shared storage only: the base URL the other frontends forward writes to (default: from the HTTP address). */
  readonly advertiseUrl?: string | undefined;
  /** Shared storage only: the leader lease's duration (ms); a dead leader is replaced after about 1.25 × this. */
  readonly leaseTtlMs?: number | undefined;
}

/** A log shared by several frontends: its lease, and where its duplicate index lives. */
interface Shared {
  readonly lease: LeaseStore;
  /** Which lease store (its epochs are comparable only among themselves): 's3' or 'postgres'. */
  readonly kind: string;
  readonly leafIndex: LeafIndexStore | undefined;
  close(): Promise<void>;
}

/**
 * Opens the configured storage: the S3 bucket of `--storage s3://…` (shared by any number of frontends, with a
 * leader lease), else LevelDB in the data directory (this process's alone).
 */
async function openStorage(o: ServeOptions): Promise<{ storage: LogStorage; shared: Shared | undefined }> {
  if (isS3Url(o.storage)) {
    const { bucket, prefix } = parseS3Location(o.storage);
    // Loaded only when used: the AWS SDK (and pg) are large, and LevelDB logs do not need them.
    const { S3Storage, s3ClientConfig } = await import('./storage/s3-storage.js');
    let pg: { lease: LeaseStore; leafIndex: LeafIndexStore; close(): Promise<void> } | undefined;
    if (o.coordination !== undefined) {
      if (!/^postgres(ql)?:\/\//.test(o.coordination)) throw new Error(`--coordination: want postgres://…, got ${JSON.stringify(o.coordination)}`);
      const { openPostgresCoordination } = await import('./coordination/postgres.js');
      pg = await openPostgresCoordination(o.coordination, `${bucket}/${prefix}`);
    }
    const leafIndex = o.s3LeafIndex !== false ? pg?.leafIndex : undefined;
    const storage = await S3Storage.open({
      bucket, prefix, clientConfig: s3ClientConfig({ endpoint: o.s3Endpoint, forcePathStyle: o.s3ForcePathStyle }), createBucket: o.s3CreateBucket === true,
      leafIndex: o.s3LeafIndex !== false, ...(leafIndex !== undefined ? { leafIndexStore: leafIndex } : {}),
      uncompressedBundles: o.s3UncompressedBundles === true,
    });
    const { S3LeaseStore } = await import('./coordination/s3-lease.js');
    const lease = pg?.lease ?? new S3LeaseStore(storage.objects.store, storage.objects.prefix);
    return { storage, shared: { lease, kind: pg === undefined ? 's3' : 'postgres', leafIndex, close: async () => pg?.close() } };
  }
  if (o.storage !== undefined) throw new Error(`--storage: want s3://bucket/prefix, got ${JSON.stringify(o.storage)}`);
  if (o.coordination !== undefined) throw new Error('--coordination needs --storage s3://… (a LevelDB log has one process)');
  return { storage: await LevelStorage.open(join(o.data, 'leveldb'), { maxOpenFiles: o.leveldbOpenFiles }), shared: undefined };
}

/** The URL other frontends reach this one at: `--advertise-url`, else from the HTTP listen address. */
function advertiseUrl(o: ServeOptions, address: string): string {
  if (o.advertiseUrl !== undefined) return o.advertiseUrl.replace(/\/+$/, '');
  const m = /^(.*):(\d+)$/.exec(address);
  let host = m?.[1] ?? '127.0.0.1';
  if (host === '0.0.0.0' || host === '[::]' || host === '::') host = hostname();
  return `http://${host}:${m?.[2] ?? '80'}`;
}

/** The origin used when neither --origin nor an existing key names one. */
export const DEFAULT_ORIGIN = 'localhost/tilelog';

/** Runs the server until a signal; resolves after a clean shutdown. */
export async function serve(o: ServeOptions): Promise<void> {
  const logger = createLogger(o.logLevel);
  const listen = parseListenAddress(o.http);
  mkdirSync(o.data, { recursive: true });
  const { signer, created } = loadOrCreateKey(o.key ?? join(o.data, 'log.key'), o.origin, DEFAULT_ORIGIN);
  const origin = signer.name;
  const additionalSigners = (o.additionalKeys ?? []).map((f) => loadKey(f, origin));
  const metrics = new Metrics();
  let cosigning: Cosigning | undefined;
  if (o.witnessing !== undefined) {
    const { policy } = o.witnessing;
    if (policy.logs.length > 0 && !policy.logs.some((l) => bytesEqual(newVerifier(l.vkey).publicKey, signer.publicKey))) {
      throw new Error('the witness policy lists logs, but not this log\'s key');
    }
    cosigning = new Cosigning({ ...o.witnessing, statePath: join(o.data, 'witness-sizes.json'), registry: metrics.registry, logger });
  }
  const { storage, shared } = await openStorage(o);
  // Several frontends: listen first (the lease names this frontend's URL), answer 503 until the log is open.
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const requestTimeoutMs = o.requestTimeoutMs ?? 30_000;
  // Node's own timeouts as a backstop (checked every second): headers must arrive within the request timeout too.
  const server: Server = createServer(
    { requestTimeout: requestTimeoutMs + 5000, headersTimeout: Math.min(60_000, requestTimeoutMs), connectionsCheckingInterval: 1000 },
    withRequestTimeout((req, res) => {
      if (handler !== undefined) return handler(req, res);
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' }).end(JSON.stringify(errorBody(new TlogError('UNAVAILABLE', 'the log is starting; retry'))));
    }, requestTimeoutMs, (req) => {
      metrics.recordError('REQUEST_TIMEOUT');
      logger.warn({ method: req.method, url: req.url?.slice(0, 200), timeoutMs: requestTimeoutMs }, 'request body not received in time: 408');
    }),
  );
  server.keepAliveTimeout = 65_000;
  server.on('clientError', onClientError);
  server.on('connect', onConnect);
  const httpAddress = await listenOn(server, listen);

  let log: Log | undefined;
  let leadership: Leadership | undefined;
  if (shared !== undefined) {
    const me: LeaseCandidate = { holder: randomBytes(12).toString('hex'), url: advertiseUrl(o, httpAddress) };
    const ttlMs = o.leaseTtlMs ?? 2000;
    leadership = new Leadership({
      store: shared.lease,
      candidate: () => me,
      ttlMs,
      onElected: async (epoch) => {
        // FENCE: stamp the shared tree with this epoch first (every older leader is refused from now on), then
        // re-read the tree the previous leader left.
        if (storage.fence === undefined) throw new Error('this storage cannot be shared by several frontends');
        await storage.fence(epoch, shared.kind);
        if (log !== undefined) await log.sequencer.resync();
        metrics.leader.set(1);
        metrics.leaderEpoch.set(Number(epoch));
      },
      onDeposed: () => metrics.leader.set(0),
    });
    await leadership.start();
  }
  // The bearer token of writes forwarded between the frontends (server/forward.ts), derived from the log key.
  const token = leadership !== undefined ? forwardToken(signer, origin) : undefined;
  log = await Log.open({
    storage,
    signer,
    additionalSigners,
    origin,
    sequencer: { batchSize: o.batchSize, batchDelayMs: o.batchDelayMs, maxPending: o.maxPending },
    checkpointIntervalMs: o.checkpointIntervalMs,
    // Several frontends may share an S3 prefix: follow the tree the others extend.
    ...(isS3Url(o.storage) ? { refreshIntervalMs: Math.min(500, o.checkpointIntervalMs) } : {}),
    ...(leadership !== undefined && token !== undefined ? { leadership, forwarder: new Forwarder(token, requestTimeoutMs, (n) => metrics.forwarded.inc(n)) } : {}),
    ...(cosigning !== undefined ? { witnessing: (note, tree, proof) => (cosigning as Cosigning).cosign(note, tree, proof) } : {}),
    onError: (err) => logger.error({ err }, 'publishing a checkpoint failed'),
    hooks: {
      committed: (_tree, appended, _dup, batch) => {
        if (appended > 0) metrics.batchSize.observe(batch);
      },
      fenced: (err) => {
        metrics.fenced.inc();
        logger.warn({ epoch: err.epoch.toString(), storedEpoch: err.storedEpoch.toString() }, 'fenced: a newer leader owns the log; forwarding writes to it');
      },
      sequenced: (submittedAt, maxIndex) => {
        const now = Date.now();
        metrics.toSequenced.observe((now - submittedAt) / 1000);
        (log as Log).publisher.waitFor(maxIndex + 1n).then(
          () => metrics.toPublished.observe((Date.now() - submittedAt) / 1000),
          () => {},
        );
      },
      commitFailed: (err) => {
        metrics.commitFailures.inc();
        logger.error({ err }, `storage commit failed: ${err instanceof Error ? err.message : String(err)}`);
      },
    },
  });
  const auth = new Authenticator(o.auth);
  const ingest = new Ingest(log, o.rateLimit === undefined ? undefined : new SubjectRateLimiter(o.rateLimit), metrics);
  handler = createHttpHandler(log, { metrics, logger, auth, ingest }, {
    ...(o.publicUrl !== undefined ? { publicUrl: o.publicUrl } : {}), maxBodyBytes: o.maxBodyBytes, maxCheckpointAgeMs: Math.max(5000, 5 * o.checkpointIntervalMs),
    ...(token !== undefined ? { forwardToken: token } : {}) });
  let grpcServer: GrpcServer | undefined;
  if (o.grpc !== undefined) {
    const g = parseListenAddress(o.grpc);
    grpcServer = await startGrpcServer({ log, ingest, auth, metrics, logger }, { maxMessageBytes: o.maxBodyBytes, maxInFlightBatches: 16 }, g.host, g.port);
  }
  logger.info({ http: httpAddress, ...(grpcServer !== undefined && o.grpc !== undefined ? { grpc: formatAddress(parseListenAddress(o.grpc).host, grpcServer.port) } : {}), auth: auth.enabled, origin, vkey: log.vkey, treeSize: log.tree.treeSize.toString(), keyCreated: created }, 'listening');

  leadership?.attachLogger(logger);
  cosigning?.startLogging();

  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down');
      void shutdown(server, grpcServer, log as Log, leadership, shared).then(
        () => {
          logger.info({ treeSize: (log as Log).published.treeSize.toString() }, 'stopped');
          resolve();
        },
        (err) => {
          logger.error({ err }, 'unclean shutdown');
          process.exitCode = 1;
          resolve();
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

/** Drain order: stop new connections → sequence the pool and publish → let in-flight requests finish → close. */
async function shutdown(server: Server, grpcServer: GrpcServer | undefined, log: Log, leadership: Leadership | undefined, shared: Shared | undefined): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  grpcServer?.draining();
  const grpcClosed = grpcServer?.shutdown(10_000);
  await log.drain();
  server.closeIdleConnections();
  const timeout = setTimeout(() => server.closeAllConnections(), 10_000);
  const idle = setInterval(() => server.closeIdleConnections(), 100);
  await closed;
  await grpcClosed;
  clearTimeout(timeout);
  clearInterval(idle);
  // After the drain (this frontend's pool sequenced and published while it still led): hand the lease over at once.
  await leadership?.stop();
  await log.close();
  await shared?.close();
}
