/**
 * Moves spooled records into the log: reads them from the spool in order, batches them by count, bytes and time,
 * submits each batch through the {@link Transport} (several batches in flight), and on acknowledgement removes
 * them from the spool (spool durability point 2). A failed batch is retried — the same records, so the same
 * entries — with exponential backoff and jitter, never less than the server's retry hint, until it is
 * acknowledged or the collector stops. Nothing is dropped: a record leaves the spool only acknowledged.
 */
import type { Logger } from 'pino';
import { backoffMs, SubmitError, type Transport } from './transport.js';
import type { AckedBatch, Spool, SpooledChunk } from './spool.js';

export interface SubmitterOptions {
  /** Most records per batch. */
  readonly maxRecords: number;
  /** Most entry bytes per batch. */
  readonly maxBytes: number;
  /** How long a partial batch waits for more records (ms). */
  readonly delayMs: number;
  /** Batches in flight at once. */
  readonly inFlight: number;
}

export interface SubmitterEvents {
  submitted(records: number): void;
  acknowledged(batch: AckedBatch): void;
  failed(err: SubmitError, attempt: number, delayMs: number): void;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

function count(chunks: readonly SpooledChunk[]): number {
  let n = 0;
  for (const c of chunks) n += c.entries.length;
  return n;
}

export class Submitter {
  private cursor: bigint | undefined;
  private inFlight = 0;
  private wake: (() => void) | undefined;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly spool: Spool,
    private readonly transport: Transport,
    private readonly opts: SubmitterOptions,
    private readonly events: SubmitterEvents,
    private readonly logger: Logger,
  ) {
    spool.onAppend = () => this.poke();
  }

  /** Records sent but not yet acknowledged, plus spooled ones not yet sent, are both "in the spool". */
  get busy(): boolean {
    return this.inFlight > 0 || this.spool.size.records > 0;
  }

  start(): void {
    this.loop ??= this.run();
  }

  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private waitForPoke(ms?: number): Promise<void> {
    return new Promise((resolve) => {
      const t = ms === undefined ? undefined : setTimeout(() => this.poke(), ms);
      this.wake = () => {
        if (t !== undefined) clearTimeout(t);
        resolve();
      };
      if (this.abort.signal.aborted) this.poke();
    });
  }

  private async run(): Promise<void> {
    while (!this.abort.signal.aborted) {
      if (this.inFlight >= this.opts.inFlight) {
        await this.waitForPoke();
        continue;
      }
      let batch = await this.spool.read(this.cursor, this.opts.maxRecords, this.opts.maxBytes);
      if (batch.length === 0) {
        await this.waitForPoke(1000);
        continue;
      }
      if (count(batch) < this.opts.maxRecords / 2 && this.opts.delayMs > 0) {
        // Batch by time: give a partial batch a moment to fill.
        await sleep(this.opts.delayMs, this.abort.signal);
        if (this.abort.signal.aborted) break;
        batch = await this.spool.read(this.cursor, this.opts.maxRecords, this.opts.maxBytes);
      }
      const last = batch[batch.length - 1] as SpooledChunk;
      this.cursor = last.seq;
      this.inFlight++;
      const p = this.send(batch).finally(() => {
        this.inFlight--;
        this.running.delete(p);
        this.poke();
      });
      this.running.add(p);
    }
  }

  private async send(records: SpooledChunk[]): Promise<void> {
    const entries = records.flatMap((c) => c.entries);
    for (let attempt = 0; !this.abort.signal.aborted; attempt++) {
      try {
        this.events.submitted(entries.length);
        const acks = await this.transport.append(entries);
        const batch = await this.spool.acknowledge(records, acks);
        this.events.acknowledged(batch);
        return;
      } catch (err) {
        const e = err instanceof SubmitError ? err : new SubmitError((err as Error).message, true);
        const delay = backoffMs(attempt, e.retryAfterMs);
        this.events.failed(e, attempt, delay);
        if (!e.retryable) this.logger.error({ err: e.message, status: e.status, records: entries.length }, 'the log rejected a batch; retrying (records stay in the spool)');
        await sleep(delay, this.abort.signal);
      }
    }
  }

  /** Stops sending; waits for batches in flight to be acknowledged or abandoned (they stay in the spool). */
  async stop(): Promise<void> {
    this.abort.abort();
    this.poke();
    await this.loop;
    await Promise.allSettled([...this.running]);
  }
}
