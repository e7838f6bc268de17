// SPEC: c2sp.org/tlog-tiles, c2sp.org/tlog-checkpoint; RFC 9162 §2.1.4 (consistency).
/**
 * One followed log as the auditor sees it: its last verified checkpoint, how it gets there from the log, and how
 * any other checkpoint for the same origin (from a peer) is checked against it.
 *
 * From the log ({@link LogView.poll}): the signature must verify with the log's vkey (else a `bad-signature`
 * alarm); a tree of the same size must have the same root (else `split-view`); a smaller tree is a `rollback`; a
 * larger one must be consistent with the last verified one by a proof computed here from the log's tiles
 * (ProofBuilder.checkConsistentWith; INCONSISTENT → `split-view`, tiles that do not authenticate → `bad-tile`).
 * Only then is it stored (atomically) as the last verified checkpoint.
 *
 * From elsewhere ({@link LogView.observe}), once its signature verified: same size and a different root →
 * `split-view`; smaller → it must be a prefix of ours (proof from our tree's tiles); larger → we first poll the log
 * again, and if it is still larger the log's tiles must produce it and prove ours a prefix of it; a log that cannot
 * serve tiles matching a checkpoint it signed has shown two different trees — `split-view`.
 *
 * Checks for one origin are serialized (a promise-chain lock), so state updates never interleave.
 */
import type { Logger } from 'pino';
import { FetchError, ProofBuilder, TileAuthenticationError, TileFetcher, TlogError, verifyCheckpoint, type TileFetcherOptions, type VerifiedCheckpoint } from '../tlog/index.js';
import { bytesEqual, encodeBase64 } from '../../server/core/strict.js';
import { tilePath } from '../../server/core/tile.js';
import type { AlarmSink } from './alarms.js';
import type { LogConfig } from './config.js';
import { evidenceProof, type AlarmKind, type Evidence, type EvidenceProof, type ObservedCheckpoint } from './evidence.js';
import { fullAudit } from './full-audit.js';
import type { AuditMetrics } from './metrics.js';
import type { AuditState } from './state.js';

/** Called after a new checkpoint from the log verified and was stored (e.g. to have a witness cosign it). */
export type OnVerified = (prev: VerifiedCheckpoint | undefined, next: VerifiedCheckpoint, builder: ProofBuilder) => Promise<void>;

/** What a {@link LogView} needs. */
export interface LogViewDeps {
  readonly state: AuditState;
  readonly alarms: AlarmSink;
  readonly metrics: AuditMetrics;
  readonly logger: Logger;
  readonly fetcherOptions?: TileFetcherOptions;
  readonly onVerified?: OnVerified;
}

/** The outcome of a poll of the log. */
export type PollResult = 'new' | 'same' | 'alarm';

/** The outcome of checking another party's checkpoint. */
export type ObserveResult = { readonly status: 'ok'; readonly detail: string } | { readonly status: 'conflict'; readonly evidence: Evidence; readonly path: string };

const head = (v: VerifiedCheckpoint): string => `${v.checkpoint.treeSize}/${encodeBase64(v.checkpoint.rootHash)}`;

/** The auditor's view of one log (see the module comment). */
export class LogView {
  readonly origin: string;
  readonly fetcher: TileFetcher;
  /** The last verified checkpoint from the log. */
  latest: VerifiedCheckpoint | undefined;
  /** Leading entries verified by the full audit. */
  fullEntries = 0n;
  private lock: Promise<unknown> = Promise.resolve();
  private readonly source: string;

  private constructor(readonly config: LogConfig, private readonly d: LogViewDeps) {
    this.origin = config.origin;
    this.fetcher = new TileFetcher(config.url, d.fetcherOptions);
    this.source = `log ${this.fetcher.baseUrl}`;
  }

  /** Loads the stored state (the stored checkpoint is verified again with the configured key). */
  static async open(config: LogConfig, d: LogViewDeps): Promise<LogView> {
    const v = new LogView(config, d);
    const s = await d.state.read(config.origin);
    if (s.checkpoint !== undefined) {
      v.latest = verifyCheckpoint(s.checkpoint, { logVkeys: config.vkey, origin: config.origin });
      d.metrics.treeSize.set({ origin: v.origin }, Number(v.latest.checkpoint.treeSize));
    }
    v.fullEntries = s.fullEntries;
    d.metrics.fullEntries.set({ origin: v.origin }, Number(s.fullEntries));
    return v;
  }

  /** Runs `f` with this origin's lock held. */
  private withLock<T>(f: () => Promise<T>): Promise<T> {
    const run = this.lock.then(f, f);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /** Verifies `note` as a checkpoint of this log (TlogError MALFORMED / VERIFICATION_FAILED otherwise). */
  verify(note: string): VerifiedCheckpoint {
    return verifyCheckpoint(note, { logVkeys: this.config.vkey, origin: this.origin });
  }

  /** Fetches the log's checkpoint and checks it (module comment). FetchError / MALFORMED for log or network failures. */
  poll(): Promise<PollResult> {
    return this.withLock(() => this.pollLocked());
  }

  private async pollLocked(): Promise<PollResult> {
    const note = await this.fetcher.checkpoint();
    let v: VerifiedCheckpoint;
    try {
      v = this.verify(note);
    } catch (err) {
      if (err instanceof TlogError && err.code === 'VERIFICATION_FAILED') {
        await this.alarm('bad-signature', `the log served a checkpoint that does not verify with its key: ${err.message}`, [{ source: this.source, note }]);
        return 'alarm';
      }
      throw err;
    }
    const last = this.latest;
    const mine = last === undefined ? [] : [{ source: this.source, note: last.note }];
    const theirs = { source: this.source, note };
    if (last !== undefined && last.checkpoint.treeSize === v.checkpoint.treeSize) {
      if (bytesEqual(last.checkpoint.rootHash, v.checkpoint.rootHash)) {
        this.d.metrics.lastSuccess.set({ origin: this.origin }, Date.now() / 1000);
        return 'same';
      }
      await this.alarm('split-view', `the log signed two trees of size ${v.checkpoint.treeSize}: ${head(last)} then ${head(v)}`, [...mine, theirs]);
      return 'alarm';
    }
    if (last !== undefined && v.checkpoint.treeSize < last.checkpoint.treeSize) {
      await this.alarm('rollback', `the log served size ${v.checkpoint.treeSize} after size ${last.checkpoint.treeSize} (${head(v)} after ${head(last)})`, [...mine, theirs]);
      return 'alarm';
    }
    const builder = new ProofBuilder(v.checkpoint, this.fetcher.readTiles);
    try {
      if (last === undefined) await builder.rootHashAt(v.checkpoint.treeSize); // authenticates the right-edge tiles
      else await builder.checkConsistentWith(last.checkpoint);
    } catch (err) {
      if (err instanceof TileAuthenticationError) {
        await this.alarm('bad-tile', `tiles served by the log do not match its signed tree ${head(v)}: ${err.message}`, [...mine, theirs], undefined, err);
        return 'alarm';
      }
      if (err instanceof TlogError && err.code === 'INCONSISTENT' && last !== undefined) {
        const proof = await this.proofFrom(builder, last.checkpoint.treeSize);
        await this.alarm('split-view', `the log's tree ${head(v)} is not an extension of ${head(last)}: ${err.message}`, [...mine, theirs], proof);
        return 'alarm';
      }
      throw err;
    }
    await this.d.state.write(this.origin, { checkpoint: note });
    this.latest = v;
    this.d.metrics.checkpointsVerified.inc({ origin: this.origin });
    this.d.metrics.treeSize.set({ origin: this.origin }, Number(v.checkpoint.treeSize));
    this.d.metrics.lastSuccess.set({ origin: this.origin }, Date.now() / 1000);
    this.d.logger.info({ origin: this.origin, treeSize: v.checkpoint.treeSize.toString(), from: last?.checkpoint.treeSize.toString() }, 'checkpoint verified');
    try {
      await this.d.onVerified?.(last, v, builder);
    } catch (err) {
      this.d.logger.warn({ origin: this.origin, err: (err as Error).message }, 'post-verification hook failed');
    }
    return 'new';
  }

  /**
   * Checks a checkpoint of this log seen elsewhere (`source`: `peer <url>` or `gossip`) against our view. The note
   * must verify first: TlogError MALFORMED / VERIFICATION_FAILED are thrown for the caller (400 / 403), and are not
   * alarms (anyone can make garbage). FetchError when the log cannot be reached to decide.
   */
  observe(note: string, source: string): Promise<ObserveResult> {
    const f = this.verify(note);
    return this.withLock(async () => {
      if (this.latest === undefined || f.checkpoint.treeSize > this.latest.checkpoint.treeSize) {
        await this.pollLocked(); // the log's current view first; an alarm it raises stands on its own
      }
      const mine = this.latest;
      if (mine === undefined) return { status: 'ok', detail: 'no verified checkpoint of this log yet' };
      const pair: ObservedCheckpoint[] = [{ source: this.source, note: mine.note }, { source, note }];
      const [M, F] = [mine.checkpoint.treeSize, f.checkpoint.treeSize];
      if (M === F) {
        if (bytesEqual(mine.checkpoint.rootHash, f.checkpoint.rootHash)) return { status: 'ok', detail: 'same checkpoint' };
        return this.conflict('split-view', `split view: the log signed ${head(mine)} (${this.source}) and ${head(f)} (${source})`, pair);
      }
      if (F < M) {
        // Ours is larger: the other must be a prefix of ours, by a proof from our tree's tiles.
        const builder = new ProofBuilder(mine.checkpoint, this.fetcher.readTiles);
        try {
          await builder.checkConsistentWith(f.checkpoint);
          return { status: 'ok', detail: `${head(f)} is a prefix of ${head(mine)}` };
        } catch (err) {
          if (err instanceof TlogError && err.code === 'INCONSISTENT') {
            return this.conflict('split-view', `split view: ${head(f)} (${source}) is not a prefix of the log's ${head(mine)}`, pair, await this.proofFrom(builder, F));
          }
          if (err instanceof TileAuthenticationError) return this.conflict('bad-tile', `tiles served by the log do not match its signed tree ${head(mine)}: ${err.message}`, pair, undefined, err);
          throw err;
        }
      }
      // Theirs is larger, even after polling the log: the log's tiles must produce it and extend ours.
      const builder = new ProofBuilder(f.checkpoint, this.fetcher.readTiles);
      try {
        await builder.checkConsistentWith(mine.checkpoint);
        return { status: 'ok', detail: `${head(mine)} is a prefix of ${head(f)} (the log grew since our poll)` };
      } catch (err) {
        if (err instanceof TlogError && err.code === 'INCONSISTENT') {
          return this.conflict('split-view', `split view: the log's ${head(mine)} is not a prefix of ${head(f)} (${source})`, pair, await this.proofFrom(builder, M));
        }
        if (err instanceof TileAuthenticationError || (err instanceof FetchError && err.status === 404)) {
          return this.conflict('split-view', `split view: the log serves ${head(mine)} but cannot produce tiles for ${head(f)} (${source}), which it signed: ${err.message}`, pair);
        }
        throw err;
      }
    });
  }

  /**
   * The full audit up to the last verified checkpoint, resuming from the stored progress (stored after every batch).
   * Returns false if it raised a `bad-tile` alarm.
   */
  async runFull(onProgress?: (entries: bigint, treeSize: bigint) => void, signal?: AbortSignal): Promise<boolean> {
    const tree = this.latest;
    if (tree === undefined || this.fullEntries >= tree.checkpoint.treeSize) return true;
    const builder = new ProofBuilder(tree.checkpoint, this.fetcher.readTiles, { maxCachedTiles: 4096 });
    try {
      await fullAudit({
        builder,
        fetcher: this.fetcher,
        from: this.fullEntries,
        ...(signal !== undefined ? { signal } : {}),
        onProgress: async (n) => {
          await this.d.state.write(this.origin, { fullEntries: n });
          this.fullEntries = n;
          this.d.metrics.fullEntries.set({ origin: this.origin }, Number(n));
          onProgress?.(n, tree.checkpoint.treeSize);
        },
      });
    } catch (err) {
      if (err instanceof TileAuthenticationError) {
        await this.alarm('bad-tile', `full audit of ${head(tree)}: ${err.message}`, [{ source: this.source, note: tree.note }], undefined, err);
        return false;
      }
      throw err;
    }
    if (this.fullEntries === tree.checkpoint.treeSize) this.d.logger.info({ origin: this.origin, treeSize: tree.checkpoint.treeSize.toString() }, 'full audit complete');
    return true;
  }

  /** The evidence proof from `oldSize` to the builder's tree (hashes from its authenticated tiles). */
  private async proofFrom(builder: ProofBuilder, oldSize: bigint): Promise<EvidenceProof | undefined> {
    try {
      const root = await builder.rootHashAt(oldSize);
      return evidenceProof(oldSize, builder.tree.treeSize, root, await builder.consistencyProof(oldSize));
    } catch (err) {
      this.d.logger.warn({ origin: this.origin, err: (err as Error).message }, 'could not compute the proof for the evidence');
      return undefined;
    }
  }

  private async conflict(kind: AlarmKind, detail: string, checkpoints: ObservedCheckpoint[], proof?: EvidenceProof, err?: TileAuthenticationError): Promise<ObserveResult> {
    const { evidence, path } = await this.alarm(kind, detail, checkpoints, proof, err);
    return { status: 'conflict', evidence, path };
  }

  private async alarm(kind: AlarmKind, detail: string, checkpoints: ObservedCheckpoint[], proof?: EvidenceProof, err?: TileAuthenticationError): Promise<{ evidence: Evidence; path: string }> {
    const evidence: Evidence = {
      kind,
      origin: this.origin,
      time: new Date().toISOString(),
      detail,
      checkpoints,
      ...(proof !== undefined ? { proof } : {}),
      ...(err?.tile !== undefined ? { tile: tilePath(err.tile) } : {}),
    };
    return { evidence, path: await this.d.alarms.raise(evidence) };
  }
}
