/**
 * The publisher: signs a checkpoint for the integrated tree and publishes it.
 * SPEC: c2sp.org/tlog-checkpoint — "A log MUST NOT sign two checkpoints that are inconsistent".
 *
 * Every `intervalMs` (and on demand), if the integrated tree has grown past the published one, the publisher signs
 * a checkpoint for it, stores it durably, and only then serves it and wakes whoever waits for publication.
 * With witnesses configured, the signed checkpoint first goes to the {@link CheckpointCosigner}: it is published
 * with the cosignatures it gathered, or withheld (the previous checkpoint stays served) when the policy is not met.
 *
 * Why no two signed checkpoints can be inconsistent, crashes included: a checkpoint is only ever signed for a tree
 * that the sequencer has durably committed, and committed trees only grow by appending (storage contract), so
 * every signed checkpoint describes a prefix of one and the same append-only sequence of leaves. On start,
 * `Log.open` checks that the stored checkpoint is a prefix of the stored tree before anything is signed.
 */
import { formatCheckpoint } from './core/checkpoint.js';
import type { Hash } from './core/hash.js';
import { signNote, type NoteSigner } from './core/note.js';
import type { LogStorage, TreeState } from './storage/storage.js';

/**
 * Collects witness cosignatures for a freshly signed checkpoint (c2sp.org/tlog-witness, server/witnessing/).
 * Returns the note with the cosignature lines appended when it may be published (policy met, or fail-open), or
 * undefined to withhold publication (policy not met). `tree` is the durably committed tree the note describes.
 */
export type CheckpointCosigner = (note: string, tree: TreeState) => Promise<string | undefined>;

/** A published checkpoint. */
export interface Published {
  /** The signed note text, served at /checkpoint. */
  readonly checkpoint: string;
  readonly treeSize: bigint;
  readonly rootHash: Hash;
  /** When it was published (ms since the epoch). */
  readonly publishedAt: number;
}

interface Waiter {
  readonly treeSize: bigint;
  readonly resolve: (p: Published) => void;
  readonly reject: (e: unknown) => void;
}

export class Publisher {
  private waiters: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;
  private publishing: Promise<Published> | undefined;
  private listeners = new Set<(p: Published) => void>();

  constructor(
    private readonly storage: LogStorage,
    private readonly origin: string,
    /** Every key signs every checkpoint (one during normal operation, two during a key rotation). */
    private readonly signers: readonly NoteSigner[],
    private readonly integrated: () => TreeState,
    private published_: Published | undefined,
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
    private readonly onError: (err: unknown) => void = () => {},
    private readonly cosign: CheckpointCosigner | undefined = undefined,
    /**
     * Shared storage: only the leader signs and publishes; while this is false the publisher only serves what it
     * {@link adopt}s from storage. Default: always (the storage is this process's own).
     */
    private readonly mayPublish: () => boolean = () => true,
  ) {}

  /** The latest published checkpoint (undefined only before the first publication). */
  get published(): Published | undefined {
    return this.published_;
  }

  /** Starts the periodic publication; publishes at once if the tree is ahead of the stored checkpoint. */
  start(): Promise<Published> {
    const first = this.publish();
    const tick = () => {
      this.timer = setTimeout(() => {
        this.publish().catch(this.onError).finally(() => {
          if (this.timer !== undefined) tick();
        });
      }, this.intervalMs);
      // The timer alone does not keep a process alive: servers hold it open, tests and tools may exit.
      this.timer.unref();
    };
    tick();
    return first;
  }

  /** Stops the timer; waiters not yet served are rejected by {@link close}. */
  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Rejects every waiter (shutdown). */
  close(err: unknown): void {
    this.stop();
    for (const w of this.waiters) w.reject(err);
    this.waiters = [];
  }

  /** Calls `fn` with every checkpoint published from now on. Returns the unsubscribe function. */
  subscribe(fn: (p: Published) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Resolves with the first published checkpoint whose tree size is at least `treeSize`. */
  waitFor(treeSize: bigint): Promise<Published> {
    const p = this.published_;
    if (p !== undefined && p.treeSize >= treeSize) return Promise.resolve(p);
    return new Promise((resolve, reject) => this.waiters.push({ treeSize, resolve, reject }));
  }

  /**
   * Publishes a checkpoint for the integrated tree if it differs from the published one (or none exists).
   * Concurrent calls share one publication.
   */
  publish(): Promise<Published> {
    if (this.publishing !== undefined) return this.publishing;
    this.publishing = this.publishOnce().finally(() => {
      this.publishing = undefined;
    });
    return this.publishing;
  }

  /**
   * Serves a checkpoint another frontend (the leader) published, if it is larger than the one served. The caller
   * checked its signature against this log's keys and that it describes a prefix of the integrated tree.
   */
  adopt(p: Published): void {
    if (this.published_ !== undefined && this.published_.treeSize >= p.treeSize) return;
    this.announce(p);
  }

  private announce(published: Published): void {
    this.published_ = published;
    const ready = this.waiters.filter((w) => w.treeSize <= published.treeSize);
    this.waiters = this.waiters.filter((w) => w.treeSize > published.treeSize);
    for (const w of ready) w.resolve(published);
    for (const fn of this.listeners) fn(published);
  }

  private async publishOnce(): Promise<Published> {
    const tree = this.integrated(); // durably committed by the sequencer
    const current = this.published_;
    if (!this.mayPublish()) {
      if (current !== undefined) return current;
      throw new Error('not the leader: no checkpoint to serve yet');
    }
    if (current !== undefined && current.treeSize >= tree.treeSize) return current;
    const text = formatCheckpoint({ origin: this.origin, treeSize: tree.treeSize, rootHash: tree.rootHash, extensions: [] });
    let checkpoint = signNote(text, this.signers);
    if (this.cosign !== undefined) {
      // WITNESSING: the witnesses see the checkpoint before it is stored; that is safe because it describes a
      // durably committed tree (see above), so whatever the log signs next is consistent with it.
      const cosigned = await this.cosign(checkpoint, tree);
      if (cosigned !== undefined) checkpoint = cosigned;
      else if (current !== undefined) return current; // policy not met: keep serving the previous checkpoint
      else if (tree.treeSize !== 0n) throw new Error('witness policy not met: no checkpoint can be published yet');
      // else: the first checkpoint of an empty tree commits to nothing; publish it uncosigned.
    }
    // DURABILITY POINT: the checkpoint is stored (fsynced) before it is served or returned to anyone. A crash
    // before this line: the checkpoint was never seen; after: it is reloaded on start and served again.
    await this.storage.writeCheckpoint(checkpoint);
    const published: Published = { checkpoint, treeSize: tree.treeSize, rootHash: tree.rootHash, publishedAt: this.now() };
    if (this.published_ !== undefined && this.published_.treeSize >= published.treeSize) return this.published_; // adopted meanwhile
    this.announce(published);
    return published;
  }
}
