/**
 * Leadership of a log shared by several frontends (issue #11, "Several frontends"): exactly one `tilelog serve`
 * process at a time sequences and publishes, chosen by a lease with a fencing epoch (server/coordination/lease.ts:
 * an object in the bucket, or a PostgreSQL row). Every frontend runs one {@link Leadership}; the others serve reads
 * and forward writes to the leader named in the lease (server/forward.ts).
 *
 * Invariants:
 * - {@link Leadership.isLeader} is true only between the end of `onElected` (storage fenced with the lease's epoch,
 *   tree re-read) and the lease's `validUntil` (monotonic clock, ends before anyone else can take the lease over).
 *   A renewal extends it; a failed or lost renewal lets it run out.
 * - Correctness never rests on timing alone: storage refuses every write stamped with an older epoch (`Fenced`),
 *   so a stale leader that believes it still leads (paused process, slow clock) cannot commit or publish.
 * - Rounds run one at a time, every ttl/4.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { LeaseCandidate, LeaseRecord, LeaseStore } from './coordination/lease.js';

export interface LeadershipOptions {
  readonly store: LeaseStore;
  /** This frontend; `url` is read at every round (it is known only once the HTTP server listens). */
  readonly candidate: () => LeaseCandidate;
  /** Lease duration without renewal (ms). A dead leader is replaced after about ttl + ttl/4 + fencing. */
  readonly ttlMs: number;
  /**
   * Called once per acquired epoch, before this frontend acts as leader: fence storage with the epoch and re-read
   * the tree. If it rejects, this frontend does not lead (the next round tries again).
   */
  readonly onElected: (epoch: bigint) => Promise<void>;
  /** Called when this frontend stops leading (lease lost, expired, or fenced by storage). */
  readonly onDeposed?: (reason: string) => void;
  readonly logger?: Logger;
}

/** Where writes go right now. */
export type LeaderTarget = { readonly self: true; readonly epoch: bigint } | { readonly self: false; readonly url: string; readonly epoch: bigint };

export class Leadership {
  private leading: { epoch: bigint; validUntil: number } | undefined;
  private other: LeaseRecord | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** The round in progress, if any (stop() waits for it). */
  private inflight: Promise<void> | undefined;
  /** The last answer of the store said this frontend holds the lease (leading or still taking over). */
  private held = false;
  private waiters = new Set<() => void>();
  /** Rounds since start (for tests and diagnostics). */
  rounds = 0;
  private logger: Logger | undefined;

  constructor(private readonly o: LeadershipOptions) {
    this.logger = o.logger;
  }

  /**
   * Logs from now on to `logger` (serve attaches it after its `listening` line, which must come first), starting
   * with the current state.
   */
  attachLogger(logger: Logger): void {
    this.logger = logger;
    if (this.leading !== undefined) logger.info({ epoch: this.leading.epoch.toString(), url: this.o.candidate().url }, 'elected leader: this frontend sequences and publishes');
    else logger.info({ leader: this.other?.url ?? null }, 'following: writes are forwarded to the leader');
  }

  /** Runs the first round (so the caller knows at once whether it leads), then one round every ttl/4. */
  async start(): Promise<void> {
    await this.runRound();
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.runRound().finally(() => this.schedule());
    }, Math.max(50, Math.floor(this.o.ttlMs / 4)));
    this.timer.unref();
  }

  private runRound(): Promise<void> {
    const r = this.round().catch((err: unknown) => this.logger?.error({ err }, 'leadership round failed'));
    this.inflight = r;
    return r;
  }

  private async round(): Promise<void> {
    this.rounds++;
    const me = this.o.candidate();
    try {
      const a = await this.o.store.tryAcquire(me, this.o.ttlMs);
      this.held = a.mine;
      if (this.stopped) return;
      if (a.mine && a.lease !== undefined) {
        const epoch = a.lease.epoch;
        const validUntil = a.validUntil ?? 0;
        if (this.leading === undefined || this.leading.epoch !== epoch) {
          if (this.leading !== undefined) this.depose(`lease epoch changed from ${this.leading.epoch} to ${epoch}`);
          try {
            await this.o.onElected(epoch);
          } catch (err) {
            this.logger?.error({ err, epoch: epoch.toString() }, 'acquired the lease but could not take over the log; will retry');
            return;
          }
          if (this.stopped) return; // stop() releases the lease once this round is over
          this.leading = { epoch, validUntil };
          this.logger?.info({ epoch: epoch.toString(), url: me.url }, 'elected leader: this frontend sequences and publishes');
        } else {
          this.leading.validUntil = validUntil;
        }
        this.other = undefined;
      } else {
        if (this.leading !== undefined) this.depose(`the lease is held by ${a.lease?.url ?? 'nobody'}`);
        this.other = a.lease;
      }
    } catch (err) {
      this.logger?.warn({ err }, `lease store unreachable: ${err instanceof Error ? err.message : String(err)}`);
      if (this.leading !== undefined && performance.now() >= this.leading.validUntil) this.depose('lease expired: the lease store is unreachable');
    } finally {
      for (const w of this.waiters) w();
    }
  }

  private depose(reason: string): void {
    if (this.leading === undefined) return;
    this.logger?.warn({ epoch: this.leading.epoch.toString(), reason }, 'no longer the leader');
    this.leading = undefined;
    this.o.onDeposed?.(reason);
    for (const w of this.waiters) w(); // writes waiting for a target re-route at once
  }

  /** Storage refused a write of this frontend because a newer leader fenced it: stop leading at once. */
  fenced(reason: string): void {
    this.depose(reason);
  }

  /** True while this frontend may sequence and publish (see the invariants). */
  isLeader(): boolean {
    return this.leading !== undefined && performance.now() < this.leading.validUntil;
  }

  /** The lease epoch this frontend leads with, if it leads. */
  get epoch(): bigint | undefined {
    return this.isLeader() ? this.leading?.epoch : undefined;
  }

  /** Where writes go now, or undefined when no leader is known (none elected yet, or failover in progress). */
  target(): LeaderTarget | undefined {
    if (this.leading !== undefined && this.isLeader()) return { self: true, epoch: this.leading.epoch };
    const o = this.other;
    if (o !== undefined && o.url !== '' && o.url !== this.o.candidate().url) return { self: false, url: o.url, epoch: o.epoch };
    return undefined;
  }

  /**
   * Resolves with a target once one is known and accepted by `accept` (default: any), or undefined after
   * `timeoutMs` (bounded: a failover takes about ttl + ttl/4).
   */
  async waitForTarget(timeoutMs: number, accept: (t: LeaderTarget) => boolean = () => true, signal?: AbortSignal): Promise<LeaderTarget | undefined> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const t = this.target();
      if (t !== undefined && accept(t)) return t;
      const left = deadline - performance.now();
      if (left <= 0 || this.stopped || signal?.aborted === true) return undefined;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.waiters.delete(done);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, Math.min(left, this.o.ttlMs / 4));
        this.waiters.add(done);
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  /**
   * Stops the rounds and, if leading (or holding the lease while taking over), releases the lease so that another
   * frontend takes over at once. Waits for a round in progress first: otherwise that round could make this
   * frontend lead after stop(), or keep a lease it acquired until the lease expires.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    for (const w of this.waiters) w();
    await this.inflight;
    const wasLeading = this.leading !== undefined || this.held;
    this.leading = undefined;
    this.held = false;
    if (wasLeading) await this.o.store.release(this.o.candidate()).catch((err: unknown) => this.logger?.warn({ err }, 'could not release the lease'));
    await this.o.store.close();
  }
}
