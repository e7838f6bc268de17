/**
 * The auditor: follows several logs (one {@link LogView} each), optionally fully audits them, and gossips tree heads
 * with peers. {@link Auditor.run} loops until aborted (one loop per log, one gossip loop, each every `intervalMs`);
 * {@link Auditor.once} does one round over every log and every peer and returns the exit code.
 *
 * Exit codes of a round: 0 everything checked, 3 an alarm was raised, 2 a log or peer could not be reached or
 * answered wrongly (and no alarm).
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { FetchError, TlogError, type TileFetcherOptions } from '../tlog/index.js';
import { parseCheckpoint } from '../../server/core/checkpoint.js';
import { parseNote } from '../../server/core/note.js';
import { AlarmSink } from './alarms.js';
import { keepAliveFetch } from './keep-alive-fetch.js';
import type { LogConfig } from './config.js';
import { originPathHash, peerBase, pullFrom, pushTo } from './gossip.js';
import { LogView, type OnVerified } from './log-view.js';
import { AuditMetrics } from './metrics.js';
import { AuditState } from './state.js';

/** Exit code: every check passed. */
export const EXIT_OK = 0;
/** Exit code: usage, network or HTTP error. */
export const EXIT_ERROR = 2;
/** Exit code: an alarm was raised. */
export const EXIT_ALARM = 3;

/** Options of {@link Auditor.open}. */
export interface AuditorOptions {
  readonly logs: readonly LogConfig[];
  readonly peers: readonly string[];
  /** State directory: the LevelDB database lives in `<stateDir>/leveldb`. */
  readonly stateDir: string;
  readonly evidenceDir: string;
  readonly webhook?: string;
  /** Full audit of every log (and of every new checkpoint's new entries). */
  readonly full: boolean;
  readonly intervalMs: number;
  /** Per-request timeout for logs and peers (ms). */
  readonly timeoutMs: number;
  readonly logger: Logger;
  readonly metrics?: AuditMetrics;
  readonly fetcherOptions?: TileFetcherOptions;
  readonly onFullProgress?: (origin: string, entries: bigint, treeSize: bigint) => void;
  /** Called after each newly verified checkpoint (witness cosigning). */
  readonly onVerified?: OnVerified;
}

/**
 * True for a log on this machine: its bundles are then fetched uncompressed (gzip costs both sides more CPU than
 * it saves on loopback).
 */
function isLoopback(url: string): boolean {
  const h = new URL(url).hostname;
  return h === 'localhost' || h === '[::1]' || /^127\./.test(h);
}

/** A reply of the gossip endpoint. */
export interface GossipReply {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

/** The auditor (module comment). */
export class Auditor {
  readonly views = new Map<string, LogView>();
  private readonly byHash = new Map<string, LogView>();
  readonly peers: string[];
  /** Failures that are not alarms (network, HTTP, bad responses), counted since start. */
  errors = 0;

  private constructor(
    private readonly o: AuditorOptions,
    readonly state: AuditState,
    readonly alarms: AlarmSink,
    readonly metrics: AuditMetrics,
  ) {
    this.peers = o.peers.map(peerBase);
  }

  /** Opens the state database and every log's view. */
  static async open(o: AuditorOptions): Promise<Auditor> {
    const metrics = o.metrics ?? new AuditMetrics();
    const state = await AuditState.open(join(o.stateDir, 'leveldb'));
    const alarms = new AlarmSink({ evidenceDir: o.evidenceDir, logger: o.logger, metrics, ...(o.webhook !== undefined ? { webhook: o.webhook } : {}) });
    const a = new Auditor(o, state, alarms, metrics);
    try {
      for (const l of o.logs) {
        const view = await LogView.open(l, {
          state,
          alarms,
          metrics,
          logger: o.logger,
          fetcherOptions: { timeoutMs: o.timeoutMs, concurrency: 16, fetch: keepAliveFetch(), ...(isLoopback(l.url) ? { headers: { 'Accept-Encoding': 'identity' } } : {}), ...(o.fetcherOptions ?? {}) },
          ...(o.onVerified !== undefined ? { onVerified: o.onVerified } : {}),
        });
        a.views.set(l.origin, view);
        a.byHash.set(originPathHash(l.origin), view);
      }
    } catch (err) {
      await state.close();
      throw err;
    }
    return a;
  }

  /** The view of the origin whose SHA-256 is `hash` (lowercase hex). */
  viewByHash(hash: string): LogView | undefined {
    return this.byHash.get(hash);
  }

  private error(origin: string, stage: string, err: unknown): void {
    this.errors++;
    this.metrics.errors.inc({ origin, stage });
    this.o.logger.warn({ origin, stage, err: (err as Error).message }, `${stage} failed`);
  }

  /** Polls one log and, with --full, audits its new entries. Errors are logged and counted, never thrown. */
  async logRound(view: LogView, signal?: AbortSignal): Promise<void> {
    try {
      await view.poll();
    } catch (err) {
      this.error(view.origin, 'poll', err);
      return;
    }
    if (!this.o.full) return;
    try {
      await view.runFull((n, N) => this.o.onFullProgress?.(view.origin, n, N), signal);
    } catch (err) {
      this.error(view.origin, 'full', err);
    }
  }

  /** Pulls every peer's checkpoint of every origin (checking it) and pushes ours. */
  async gossipRound(): Promise<void> {
    await Promise.all(
      this.peers.map(async (peer) => {
        for (const view of this.views.values()) {
          const pulled = await pullFrom(peer, view, this.o.timeoutMs);
          this.metrics.gossipPulls.inc({ peer, result: pulled.result });
          if (pulled.result === 'error' || pulled.result === 'invalid') this.error(view.origin, 'gossip-pull', new Error(`${peer}: ${pulled.detail}`));
          const mine = view.latest;
          if (mine === undefined) continue;
          const pushed = await pushTo(peer, mine.note, this.o.timeoutMs);
          this.metrics.gossipPushes.inc({ peer, result: pushed.result });
          if (pushed.result === '409') this.o.logger.warn({ origin: view.origin, peer }, 'the peer reports a conflict with our checkpoint');
          else if (pushed.result !== '200') this.error(view.origin, 'gossip-push', new Error(`${peer}: ${pushed.result} ${pushed.body.slice(0, 200)}`));
        }
      }),
    );
  }

  /** One round over every log, then every peer. Returns the exit code ({@link EXIT_ALARM} wins). */
  async once(): Promise<number> {
    await Promise.all([...this.views.values()].map((v) => this.logRound(v)));
    await this.gossipRound();
    if (this.alarms.raised > 0) return EXIT_ALARM;
    return this.errors > 0 ? EXIT_ERROR : EXIT_OK;
  }

  /** Loops (each log, and gossip, every intervalMs) until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const loop = async (body: () => Promise<void>) => {
      while (!signal.aborted) {
        await body();
        await sleep(this.o.intervalMs, undefined, { signal }).catch(() => undefined);
      }
    };
    await Promise.all([...[...this.views.values()].map((v) => loop(() => this.logRound(v, signal))), ...(this.peers.length > 0 ? [loop(() => this.gossipRound())] : [])]);
  }

  /**
   * POST /gossip: 400 if the body is not a checkpoint note, 404 for an unknown origin, 403 if the log's signature
   * does not verify, 409 with the evidence JSON when it conflicts with our view, 503 if the log could not be
   * reached to decide, else 200.
   */
  async receiveGossip(note: string): Promise<GossipReply> {
    const text = (status: number, body: string): GossipReply => ({ status, contentType: 'text/plain; charset=utf-8', body: `${body}\n` });
    let origin: string;
    try {
      origin = parseCheckpoint(parseNote(note).text).origin;
    } catch (err) {
      return text(400, `malformed checkpoint: ${(err as Error).message}`);
    }
    const view = this.views.get(origin);
    if (view === undefined) return text(404, `unknown origin ${JSON.stringify(origin)}`);
    try {
      const r = await view.observe(note, 'gossip');
      if (r.status === 'ok') return text(200, 'ok');
      return { status: 409, contentType: 'application/json', body: `${JSON.stringify(r.evidence)}\n` };
    } catch (err) {
      if (err instanceof FetchError) return text(503, `cannot reach the log to check: ${err.message}`);
      if (err instanceof TlogError && err.code === 'MALFORMED') return text(400, err.message);
      if (err instanceof TlogError && err.code === 'VERIFICATION_FAILED') return text(403, err.message);
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.state.close();
  }
}
