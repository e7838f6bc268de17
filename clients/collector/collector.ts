/**
 * The collector process (`tilelog collect`): inputs → entries → durable spool → log (acknowledged) → attestation
 * (signed at the source, logged) → receipt (inclusion verified against a verified checkpoint).
 *
 * What survives a crash at any instant (see spool.ts for the durability points): every record read is either
 * still in its input beyond the saved position (re-read), or in the spool (re-sent: same entry, deduplicated by
 * the log), or acknowledged with its leaf index in an acknowledged batch (attested and checked after restart).
 */
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { TileReader } from '../../server/core/tile-proof.js';
import { formatAddress, listenOn } from '../../server/config.js';
import { writeFileDurably } from '../../server/durable-file.js';
import { attestBatch, readSigningKey, TilelogRekorWitness } from './attest.js';
import type { CollectorConfig, InputConfig } from './config.js';
import { lineEntry, type RecordFormat } from './entry.js';
import type { Input, InputPosition, InputRecord } from './inputs/input.js';
import { CollectorMetrics } from './metrics.js';
import { TileFetcher } from '../tlog/fetcher.js';
import { checkBatchIncluded, checkConsistent, covers, ReceiptAlarm, verifyLogCheckpoint, type VerifiedCheckpoint } from './receipts.js';
import { Spool, type AckedBatch } from './spool.js';
import { Submitter } from './submitter.js';
import { GrpcTransport, HttpTransport, TokenFile, type Transport } from './transport.js';
import { startAuditWebhook } from './webhook.js';

/** Makes the Input of a file/stdin input configuration (inputs/index.ts). */
export type InputFactory = (c: InputConfig, logger: Logger) => Input | undefined;

/** Exit codes of `--once`. */
export const EXIT_OK = 0;
export const EXIT_RECEIPT_ALARM = 3;

export interface CollectorStatus {
  readonly alarms: number;
}

export class Collector {
  readonly metrics = new CollectorMetrics();
  private spool!: Spool;
  private submitter!: Submitter;
  private transport!: Transport;
  private readonly inputs: Input[] = [];
  private readonly servers: Server[] = [];
  private readonly token: TokenFile;
  private key: KeyObject | undefined;
  private readTiles: TileReader;
  private verified: VerifiedCheckpoint | undefined;
  private alarms = 0;
  private readTotal = 0;
  private stopping = false;
  private workerWake: (() => void) | undefined;
  private worker: Promise<void> | undefined;
  private readonly attesting = new Set<string>();
  /** Addresses bound (metrics, webhooks), for the `listening` line. */
  readonly addresses: Record<string, string> = {};

  constructor(
    readonly config: CollectorConfig,
    private readonly logger: Logger,
    private readonly makeInput: InputFactory,
  ) {
    this.token = new TokenFile(config.log.tokenFile);
    this.readTiles = new TileFetcher(config.log.url).readTiles;
  }

  /**
   * Opens the spool and binds the listeners (metrics, audit webhooks: they accept requests from here on). Then
   * {@link run} starts the inputs and workers.
   */
  async start(): Promise<void> {
    const c = this.config;
    if (c.signing !== undefined) this.key = readSigningKey(c.signing.keyPem ?? (c.signing.keyFile as string));
    else this.logger.warn('no signing key (signing.keyFile): batches are not attested');
    mkdirSync(c.spool.dir, { recursive: true });
    mkdirSync(join(c.spool.dir, 'bundles'), { recursive: true });
    this.spool = await Spool.open({ dir: join(c.spool.dir, 'spool.db'), maxBytes: c.spool.maxBytes });
    this.metrics.spoolMaxBytes.set(c.spool.maxBytes);
    const note = await this.spool.verifiedCheckpoint();
    if (note !== undefined && c.log.vkey !== undefined) this.verified = verifyLogCheckpoint(note, c.log.vkey, c.log.origin);
    this.spool.onFull = (full) => {
      this.metrics.spoolFull.set(full ? 1 : 0);
      if (full) {
        this.metrics.backpressure.inc();
        this.logger.warn({ spooledBytes: this.spool.size.bytes, maxBytes: c.spool.maxBytes }, 'spool full: inputs paused until the log acknowledges (back-pressure)');
      } else this.logger.info('spool has room again: inputs resume');
    };
    this.transport = c.log.transport === 'grpc' ? new GrpcTransport(c.log.grpc as string, this.token) : new HttpTransport(c.log.url, this.token);
    this.submitter = new Submitter(
      this.spool,
      this.transport,
      c.batch,
      {
        submitted: (n) => this.metrics.submitted.inc(n),
        acknowledged: (b) => {
          let dup = 0;
          for (const e of b.entries) if (e.duplicate) dup++;
          if (b.entries.length > dup) this.metrics.acknowledged.inc({ result: 'new' }, b.entries.length - dup);
          if (dup > 0) this.metrics.acknowledged.inc({ result: 'duplicate' }, dup);
          this.wakeWorker();
        },
        failed: (e, attempt, delay) => {
          this.metrics.submitErrors.inc({ status: e.status ?? 'network' });
          this.logger.warn({ err: e.message, attempt, retryInMs: Math.round(delay) }, 'submission failed; retrying');
        },
      },
      this.logger,
    );
    this.metrics.sample = () => {
      this.metrics.spooledRecords.set(this.spool.size.records);
      this.metrics.spooledBytes.set(this.spool.size.bytes);
      this.metrics.behind.reset();
      for (const i of this.inputs) for (const b of i.behind()) this.metrics.behind.set({ input: i.name, file: b.file }, b.bytes);
    };

    if (c.metrics !== undefined) {
      const server = createServer((req, res) => {
        const path = (req.url ?? '/').split('?')[0];
        if (req.method !== 'GET') {
          res.writeHead(405, { allow: 'GET', 'content-type': 'application/json' }).end(JSON.stringify({ code: 'METHOD_NOT_ALLOWED', message: 'GET only' }));
        } else if (path === '/metrics') {
          void this.metrics.registry.metrics().then((m) => res.writeHead(200, { 'content-type': this.metrics.registry.contentType }).end(m));
        } else if (path === '/healthz') {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, spooledRecords: this.spool.size.records, spoolFull: this.spool.full, alarms: this.alarms }));
        } else res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'NOT_FOUND', message: 'not found' }));
      });
      const address = await listenOn(server, c.metrics);
      this.servers.push(server);
      this.addresses['metrics'] = address;
    }

    for (const ic of c.inputs) {
      if (ic.type === 'audit-webhook') {
        const server = await startAuditWebhook({ name: ic.name, host: ic.listen.host, port: ic.listen.port, path: ic.path, maxBodyBytes: ic.maxBodyBytes, ...(ic.tls !== undefined ? { tls: ic.tls } : {}) }, c.name, this.spool, (status, events) => {
          this.metrics.webhookRequests.inc({ status: String(status) });
          if (status === 200) {
            this.metrics.read.inc({ input: ic.name }, events);
            this.readTotal += events;
          }
        });
        this.servers.push(server);
        const a = server.address() as AddressInfo;
        this.addresses[ic.name] = formatAddress(a.address, a.port);
      }
    }
  }

  /** Starts reading the inputs, submitting, attesting and checking receipts. */
  run(): void {
    const c = this.config;
    const resume = this.spool.positions();
    for (const ic of c.inputs) {
      if (ic.type === 'audit-webhook') continue;
      const input = this.makeInput(ic, this.logger);
      if (input === undefined) throw new Error(`inputs: no reader for type ${ic.type}`);
      this.inputs.push(input);
      const fmt: RecordFormat = ic.format;
      input.start((records, positions) => this.spoolRecords(ic.name, fmt, records, positions), resume.filter((p) => p.input === ic.name));
    }
    this.submitter.start();
    this.worker = this.runWorker();
  }

  private async spoolRecords(input: string, fmt: RecordFormat, records: InputRecord[], positions: InputPosition[]): Promise<void> {
    const entries = records.map((r) => ({ input, entry: lineEntry(this.config.name, r, fmt) }));
    await this.spool.append(entries, positions);
    if (records.length > 0) this.metrics.read.inc({ input }, records.length);
    this.readTotal += records.length;
  }

  private wakeWorker(): void {
    const w = this.workerWake;
    this.workerWake = undefined;
    w?.();
  }

  private readonly alarmsSeen = new Set<string>();

  private alarm(err: ReceiptAlarm): void {
    // The same evidence is reported once (a bad checkpoint is seen again at every round until it changes).
    const key = `${err.kind}\n${JSON.stringify(err.evidence)}`;
    if (this.alarmsSeen.has(key)) return;
    this.alarmsSeen.add(key);
    this.alarms++;
    this.metrics.receiptFailures.inc({ kind: err.kind });
    this.logger.error({ alarm: err.kind, evidence: err.evidence }, `RECEIPT ALARM: ${err.message}`);
    const file = join(this.config.spool.dir, `alarm-${Date.now()}-${err.kind}.json`);
    try {
      writeDurably(file, JSON.stringify({ kind: err.kind, message: err.message, evidence: err.evidence }, null, 2));
    } catch (e) {
      this.logger.error({ err: (e as Error).message }, 'could not write the alarm evidence file');
    }
  }

  /** Attests acknowledged batches and checks their receipts, until stopped. */
  private async runWorker(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.workOnce();
      } catch (err) {
        if (err instanceof ReceiptAlarm) this.alarm(err);
        else this.logger.warn({ err: (err as Error).message }, 'receipt/attestation round failed; will retry');
      }
      if (this.stopping) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => this.wakeWorker(), this.config.receiptIntervalMs);
        this.workerWake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** Batches whose receipt failed: kept (evidence) but not re-checked. */
  private readonly failedBatches = new Set<string>();

  /** One round: attest what is not attested; fetch and verify the checkpoint; check receipts it covers. */
  async workOnce(): Promise<void> {
    const batches = (await this.spool.batches()).filter((b) => !this.failedBatches.has(b.id));
    this.metrics.pendingBatches.set(batches.length);
    if (batches.length === 0) return;
    if (this.key !== undefined) await this.attestAll(batches.filter((b) => b.bundle === undefined));
    if (!this.config.log.receipts) {
      for (const b of await this.spool.batches()) if (b.bundle !== undefined || this.key === undefined) await this.spool.finishBatch(b.id);
      return;
    }
    const res = await fetch(new URL('/checkpoint', this.config.log.url), { signal: AbortSignal.timeout(15_000) });
    if (res.status !== 200) throw new Error(`GET /checkpoint: ${res.status}`);
    const cp = verifyLogCheckpoint(await res.text(), this.config.log.vkey as string, this.config.log.origin);
    await checkConsistent(this.verified, cp, this.readTiles);
    if (this.verified === undefined || cp.treeSize !== this.verified.treeSize) {
      await this.spool.setVerifiedCheckpoint(cp.note);
      this.verified = cp;
      this.metrics.verifiedTreeSize.set(Number(cp.treeSize));
    }
    for (const b of await this.spool.batches()) {
      if (this.failedBatches.has(b.id)) continue;
      if (this.key !== undefined && b.bundle === undefined) continue;
      if (!covers(cp, b)) continue;
      try {
        await checkBatchIncluded(cp, b, this.readTiles);
      } catch (err) {
        if (err instanceof ReceiptAlarm) {
          this.failedBatches.add(b.id);
          this.alarm(err);
          continue;
        }
        throw err;
      }
      this.metrics.receipts.inc(b.entries.length);
      await this.spool.finishBatch(b.id);
    }
    this.metrics.pendingBatches.set((await this.spool.batches()).length);
  }

  private async attestAll(batches: readonly AckedBatch[]): Promise<void> {
    const witness = new TilelogRekorWitness(this.config.log.url, this.token);
    const id = { collector: this.config.name, ...(this.config.node !== undefined ? { node: this.config.node } : {}), origin: this.config.log.origin };
    let next = 0;
    const work = async () => {
      while (next < batches.length && !this.stopping) {
        const b = batches[next++] as AckedBatch;
        if (this.attesting.has(b.id)) continue;
        this.attesting.add(b.id);
        try {
          const { bundle, logIndex } = await attestBatch(id, b, this.key as KeyObject, witness);
          const file = join(this.config.spool.dir, 'bundles', `${b.id}.sigstore.json`);
          writeDurably(file, JSON.stringify(bundle, null, 2));
          // Durable: the bundle file, then the batch's record of it (a crash in between re-attests: a new bundle).
          await this.spool.updateBatch({ ...b, bundle: file, attestationIndex: logIndex });
          this.metrics.attestations.inc({ result: 'ok' });
        } catch (err) {
          this.metrics.attestations.inc({ result: 'error' });
          this.logger.warn({ batch: b.id, err: (err as Error).message }, 'attestation failed; will retry');
        } finally {
          this.attesting.delete(b.id);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.config.attestConcurrency, batches.length) }, work));
  }

  /**
   * For --once: resolves when every input is drained, the spool is empty and every batch is finished or alarmed
   * (after an alarm, batches still waiting for a receipt are not waited for: the run ends with the alarm).
   */
  async drain(progress?: (p: { read: number; spooled: number; pendingBatches: number }) => void): Promise<void> {
    await Promise.all(this.inputs.map((i) => i.drained()));
    for (;;) {
      const pending = (await this.spool.batches()).filter((b) => !this.failedBatches.has(b.id)).length;
      progress?.({ read: this.readCount(), spooled: this.spool.size.records, pendingBatches: pending });
      if (!this.submitter.busy && (pending === 0 || this.alarms > 0)) return;
      this.wakeWorker();
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private readCount(): number {
    return this.readTotal;
  }

  get status(): CollectorStatus {
    return { alarms: this.alarms };
  }

  /** Stops inputs, listeners and workers; closes the spool. Records not acknowledged stay in the spool. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.spool.abortWaits();
    await Promise.all(this.inputs.map((i) => i.stop()));
    for (const s of this.servers) {
      s.closeAllConnections?.();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
    await Promise.race([this.submitter.stop(), new Promise((r) => setTimeout(r, 5000))]);
    this.wakeWorker();
    await Promise.race([this.worker, new Promise((r) => setTimeout(r, 5000))]);
    this.transport.close();
    await this.spool.close();
  }
}

/** Writes a file durably: temp file, fsync, rename, fsync of the directory. */
export function writeDurably(file: string, text: string): void {
  writeFileDurably(file, text);
}
