/**
 * The log: the functions both front ends (HTTP and gRPC) call. It owns the sequencer and the publisher, serves
 * tiles (right-edge tiles from memory, full tiles through a cache), entries and proofs computed from tiles.
 *
 * Read semantics: tiles and entries are served up to the *integrated* size (tlog-tiles lets a log serve tiles
 * ahead of its checkpoint; clients must not fetch partial tiles no checkpoint implies). Proofs default to the
 * *published* size and may name any size up to the integrated one.
 */
import { LRUCache } from 'lru-cache';
import { openCheckpoint } from './core/checkpoint.js';
import { TlogError, malformed } from './core/errors.js';
import { encodeHashTile } from './core/edge.js';
import { decodeEntryBundle, entryBundlePrefixLength } from './core/entry-bundle.js';
import { HASH_SIZE, type Hash } from './core/hash.js';
import { newVerifier, type Ed25519NoteSigner } from './core/keys.js';
import { bytesEqual } from './core/strict.js';
import { levelCount, tileWidth, TILE_WIDTH, tilePath, type TileRef } from './core/tile.js';
import { consistencyProof, inclusionProof, inclusionProofs, treeHash, type TileReader } from './core/tile-proof.js';
import { Publisher, type CheckpointCosigner, type Published } from './publisher.js';
import { Sequencer, type AddResult, type SequencerHooks, type SequencerOptions } from './sequencer.js';
import type { LogStorage, TreeState } from './storage/storage.js';
import { performance } from 'node:perf_hooks';
import { LeaderUnreachable, type Forwarder } from './forward.js';
import type { Leadership } from './leadership.js';

/** How long a write waits for a leader during a failover before it gets NOT_LEADER (503, retry). */
const LEADER_WAIT_MS = 15_000;
/** How long a frontend that does not lead waits at start for the leader's first checkpoint. */
const FIRST_CHECKPOINT_WAIT_MS = 60_000;

export interface LogOptions {
  readonly storage: LogStorage;
  /** Signs checkpoints; its key name is the log's origin (c2sp tlog-checkpoint: key name SHOULD be the origin). */
  readonly signer: Ed25519NoteSigner;
  /**
   * Further keys (same name, other key IDs) that sign every checkpoint too: a key rotation (docs/operations.md)
   * publishes checkpoints signed by the old and the new key until every client trusts the new one. A stored
   * checkpoint signed by any of the keys is accepted at start.
   */
  readonly additionalSigners?: readonly Ed25519NoteSigner[];
  readonly origin: string;
  readonly sequencer: SequencerOptions;
  readonly checkpointIntervalMs: number;
  readonly hooks?: SequencerHooks;
  readonly now?: () => number;
  readonly onError?: (err: unknown) => void;
  /** Bytes of full tiles and bundles kept in memory (they are immutable). */
  readonly tileCacheBytes?: number;
  /**
   * Shared storage (several frontends on one S3 prefix): re-read the stored tree this often, so that this
   * frontend serves and publishes what the others sequenced. Undefined: never (the storage is this process's).
   */
  readonly refreshIntervalMs?: number;
  /**
   * Asks witnesses to cosign each signed checkpoint before it is published (server/witnessing/). It gets the
   * consistency proof from a witness's size to the checkpoint's size from this log's tiles.
   */
  readonly witnessing?: (note: string, tree: TreeState, consistencyProof: (oldSize: bigint, newSize: bigint) => Promise<Hash[]>) => Promise<string | undefined>;
  /**
   * Several frontends with one leader (server/leadership.ts): only the leader sequences and publishes; this
   * frontend forwards writes to it through `forwarder` when it does not lead. Requires `refreshIntervalMs`.
   */
  readonly leadership?: Leadership;
  readonly forwarder?: Forwarder;
}

/** An inclusion proof against a tree size, with the checkpoint when that size is the published one. */
export interface InclusionProofResult {
  readonly leafIndex: bigint;
  readonly treeSize: bigint;
  readonly leafHash: Hash;
  readonly proof: Hash[];
  readonly checkpoint: string | undefined;
}

/** The result of adding entries and waiting for a published checkpoint that covers them all. */
export interface PublishedAddResult {
  readonly results: AddResult[];
  readonly checkpoint: string;
  readonly treeSize: bigint;
  readonly proofs: Hash[][];
}

export class Log {
  private readonly cache: LRUCache<string, Uint8Array>;
  /**
   * Hashes of perfect subtrees inside tiles, shared by every proof (core/tile-proof.ts SubtreeHashCache): a proof
   * in a big tree otherwise re-hashes up to 255 nodes per tile level. 200,000 entries ≈ 20 MB.
   */
  private readonly subtreeHashes = new LRUCache<string, Hash>({ max: 200_000 });

  private constructor(
    readonly origin: string,
    readonly vkey: string,
    private readonly storage: LogStorage,
    readonly sequencer: Sequencer,
    readonly publisher: Publisher,
    tileCacheBytes: number,
  ) {
    this.cache = new LRUCache<string, Uint8Array>({ maxSize: tileCacheBytes, sizeCalculation: (v) => Math.max(1, v.length) });
  }

  /**
   * Opens the log on its storage. Before signing anything it checks that the stored checkpoint (if any) was
   * signed by this key for this origin and describes a prefix of the stored tree (same root at its size);
   * otherwise it refuses to start, because signing on would fork the log.
   */
  static async open(o: LogOptions): Promise<Log> {
    const signers = [o.signer, ...(o.additionalSigners ?? [])];
    for (const s of signers) if (s.name !== o.origin) throw new Error(`the key's name ${JSON.stringify(s.name)} is not the origin ${JSON.stringify(o.origin)}`);
    if (new Set(signers.map((s) => s.vkey)).size !== signers.length) throw new Error('the same key is given twice');
    // The checkpoint first, then the tree: with shared storage another frontend may publish in between, and a
    // checkpoint read before the tree can only be a prefix of it.
    let stored = await o.storage.readCheckpoint();
    if (o.leadership !== undefined && stored === undefined) {
      // A frontend that does not lead publishes nothing: wait (bounded) for the leader's first checkpoint, or
      // for this frontend to be elected (then it publishes the first one itself).
      const deadline = performance.now() + FIRST_CHECKPOINT_WAIT_MS;
      while (stored === undefined && !o.leadership.isLeader()) {
        if (performance.now() > deadline) throw new Error('no leader published a checkpoint in time (is the lease store reachable?)');
        await new Promise((r) => setTimeout(r, 200));
        stored = await o.storage.readCheckpoint();
      }
    }
    const leadership = o.leadership;
    const hooks: SequencerHooks = leadership === undefined ? (o.hooks ?? {}) : { ...o.hooks, fenced: (err) => {
      leadership.fenced(err.message);
      o.hooks?.fenced?.(err);
    } };
    const sequencer = await Sequencer.open(o.storage, o.sequencer, hooks, o.now);
    let published: Published | undefined;
    if (stored !== undefined) {
      // Signed by one of our keys (the current key, or one it rotates with): anything else is another log.
      const { checkpoint } = openCheckpoint(stored, signers.map((s) => newVerifier(s.vkey)), o.origin);
      const tree = sequencer.tree;
      if (checkpoint.treeSize > tree.treeSize) {
        throw new Error(`refusing to start: the stored checkpoint has size ${checkpoint.treeSize} but the stored tree only ${tree.treeSize} (storage rolled back?)`);
      }
      const reader: TileReader = (tiles) => readStoredTiles(o.storage, tiles);
      const root = await treeHash(checkpoint.treeSize, reader);
      if (!bytesEqual(root, checkpoint.rootHash)) {
        throw new Error(`refusing to start: the stored tree does not match the stored checkpoint at size ${checkpoint.treeSize}`);
      }
      published = { checkpoint: stored, treeSize: checkpoint.treeSize, rootHash: checkpoint.rootHash, publishedAt: o.now?.() ?? Date.now() };
    }
    let log: Log | undefined;
    const witnessing = o.witnessing;
    const cosign: CheckpointCosigner | undefined =
      witnessing === undefined ? undefined : (note, tree) => witnessing(note, tree, (oldSize, newSize) => consistencyProof(oldSize, newSize, (log as Log).tileReader()));
    const mayPublish = leadership === undefined ? undefined : () => leadership.isLeader();
    const publisher = new Publisher(o.storage, o.origin, signers, () => sequencer.tree, published, o.checkpointIntervalMs, o.now, o.onError, cosign, mayPublish);
    log = new Log(o.origin, o.signer.vkey, o.storage, sequencer, publisher, o.tileCacheBytes ?? 32 * 1024 * 1024);
    log.leadership = leadership;
    log.forwarder = o.forwarder;
    log.verifiers = signers.map((s) => newVerifier(s.vkey));
    await publisher.start();
    if (o.refreshIntervalMs !== undefined) log.startRefresh(o.refreshIntervalMs);
    if (leadership !== undefined) await log.awaitCoveringCheckpoint(sequencer.tree.treeSize);
    return log;
  }

  private refreshTimer: NodeJS.Timeout | undefined;
  private leadership: Leadership | undefined;
  private forwarder: Forwarder | undefined;
  private verifiers: ReturnType<typeof newVerifier>[] = [];

  /**
   * Shared storage: adopts the tree other frontends extended, every `ms`, and — on a frontend that does not lead —
   * the checkpoint the leader published.
   */
  private startRefresh(ms: number): void {
    const tick = () => {
      this.refreshTimer = setTimeout(() => {
        void this.refresh().finally(() => {
          if (this.refreshTimer !== undefined) tick();
        });
      }, ms);
      this.refreshTimer.unref();
    };
    tick();
  }

  /**
   * Several frontends, at start: serve only once a checkpoint covers the tree read at start (as a log with its own
   * storage does). Either the leader publishes it (within its checkpoint interval), or this frontend is elected —
   * after a crash of the only frontend, once the dead process's lease has expired (about 1.25 × the lease ttl) —
   * and publishes it itself. Bounded: after FIRST_CHECKPOINT_WAIT_MS it serves what it has.
   */
  private async awaitCoveringCheckpoint(treeSize: bigint): Promise<void> {
    const leadership = this.leadership as Leadership;
    const deadline = performance.now() + FIRST_CHECKPOINT_WAIT_MS;
    while ((this.publisher.published?.treeSize ?? -1n) < treeSize && performance.now() < deadline) {
      if (leadership.isLeader()) {
        // Elected while opening: the tree read at open may be stale (serve's election hook had no log to resync).
        await this.sequencer.resync();
        await this.publisher.publish().catch(() => {});
      } else {
        await this.refresh();
      }
      if ((this.publisher.published?.treeSize ?? -1n) < treeSize) await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async refresh(): Promise<void> {
    if (this.leadership?.isLeader() === true) return; // the leader's own tree is the newest
    await this.sequencer.refresh();
    if (this.leadership === undefined) return;
    try {
      const text = await this.storage.readCheckpoint();
      if (text === undefined) return;
      const { checkpoint } = openCheckpoint(text, this.verifiers, this.origin);
      // Only a checkpoint of a tree this frontend has read (a prefix of it, by the append-only storage contract).
      if (checkpoint.treeSize > this.sequencer.tree.treeSize) return;
      this.publisher.adopt({ checkpoint: text, treeSize: checkpoint.treeSize, rootHash: checkpoint.rootHash, publishedAt: Date.now() });
    } catch {
      // transient read failure or a checkpoint this log did not sign: keep serving the last one adopted
    }
  }

  /** The integrated tree. */
  get tree(): TreeState {
    return this.sequencer.tree;
  }

  /** The latest published checkpoint. Always defined once {@link open} resolved. */
  get published(): Published {
    return this.publisher.published as Published;
  }

  /**
   * Adds entries; resolves once they are durably sequenced (see {@link Sequencer.add}). With `identities`, entry i
   * is a duplicate when a record with the same identity hash is already in the log, whatever its bytes; the
   * result then carries the stored entry's leaf hash.
   */
  async add(entries: readonly Uint8Array[], identities?: readonly (Hash | undefined)[]): Promise<AddResult[]> {
    const leadership = this.leadership;
    if (leadership === undefined) return this.addLocal(entries, identities);
    // Several frontends: sequence here when leading, else forward to the leader; across a failover, wait for the
    // next leader (bounded). Retried only when the entries surely were not sequenced (refused by a frontend that
    // does not lead, or a connection refused); any other failure goes back to the client.
    const deadline = performance.now() + LEADER_WAIT_MS;
    let last: unknown;
    for (;;) {
      const left = deadline - performance.now();
      const t = left > 0 ? await leadership.waitForTarget(left) : undefined;
      if (t === undefined) throw new TlogError('NOT_LEADER', 'no leader is reachable right now (failover in progress?); retry', { cause: last, retryAfter: 1 });
      try {
        if (t.self) return await this.addLocal(entries, identities);
        if (this.forwarder === undefined) throw new Error('log: leadership without a forwarder');
        const changed = new AbortController();
        const watch = leadership.waitForTarget(LEADER_WAIT_MS, (n) => n.epoch !== t.epoch, changed.signal).then((n) => {
          if (n !== undefined) changed.abort();
        });
        try {
          return await this.forwarder.add(t.url, entries, identities, changed.signal);
        } finally {
          changed.abort();
          await watch;
        }
      } catch (err) {
        const retry = err instanceof LeaderUnreachable || (err instanceof TlogError && err.code === 'NOT_LEADER');
        if (!retry) throw err;
        last = err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /**
   * Sequences entries on this frontend (the leader's side of forwarding; see {@link add}). With several frontends,
   * NOT_LEADER unless this frontend leads.
   */
  async addLocal(entries: readonly Uint8Array[], identities?: readonly (Hash | undefined)[]): Promise<AddResult[]> {
    if (this.leadership !== undefined && !this.leadership.isLeader()) throw new TlogError('NOT_LEADER', 'this frontend does not lead; retry', { retryAfter: 1 });
    const results = await this.sequencer.add(entries, identities);
    if (identities === undefined) return results;
    return Promise.all(results.map(async (r) => (r.duplicate ? { ...r, leafHash: await this.leafHashAt(r.leafIndex) } : r)));
  }

  /** The leaf hash at `leafIndex` (hash i of level-0 tile ⌊i/256⌋). Requires leafIndex < the integrated size. */
  private async leafHashAt(leafIndex: bigint): Promise<Hash> {
    const W = BigInt(TILE_WIDTH);
    const [tile] = await this.readTiles([{ kind: 'hash', level: 0, index: leafIndex / W, width: tileWidth(0, leafIndex / W, this.tree.treeSize) }]);
    const off = Number(leafIndex % W) * HASH_SIZE;
    return (tile as Uint8Array).slice(off, off + HASH_SIZE);
  }

  /** Adds entries and resolves once a published checkpoint covers them all, with an inclusion proof for each. */
  async addAndWaitPublished(entries: readonly Uint8Array[], identities?: readonly (Hash | undefined)[]): Promise<PublishedAddResult> {
    const results = await this.add(entries, identities);
    let max = -1n;
    for (const r of results) if (r.leafIndex > max) max = r.leafIndex;
    const p = await this.publisher.waitFor(max + 1n);
    const reader = this.tileReader();
    const proofs = await inclusionProofs(results.map((r) => r.leafIndex), p.treeSize, reader);
    return { results, checkpoint: p.checkpoint, treeSize: p.treeSize, proofs };
  }

  /**
   * The bytes of a tile or entry bundle exactly as tlog-tiles serves them at its path (width included).
   * NOT_FOUND if the tile does not exist at the integrated size.
   */
  async readTile(t: TileRef): Promise<Uint8Array> {
    let size = this.tree.treeSize;
    if (this.refreshTimer !== undefined && tileWidth(t.level, t.index, size) < t.width) {
      // Shared storage: another frontend may have published a checkpoint this one has not read yet. Re-read the
      // tree once (concurrent misses share one read) instead of failing a client that switched frontends.
      await this.sequencer.refresh();
      size = this.tree.treeSize;
    }
    const available = tileWidth(t.level, t.index, size);
    if (available < t.width) throw new TlogError('NOT_FOUND', `${tilePath(t)} is beyond the tree (size ${size})`);
    const [data] = await this.readTiles([t]);
    const d = data as Uint8Array;
    if (t.kind === 'hash') return d.subarray(0, t.width * HASH_SIZE);
    return d.subarray(0, entryBundlePrefixLength(d, t.width));
  }

  /**
   * Reads tiles at their widest stored version: right-edge tiles from memory, others from the cache or
   * storage. Every returned buffer holds at least the requested width (the caller checked existence).
   */
  private async readTiles(tiles: readonly TileRef[]): Promise<Uint8Array[]> {
    const out: (Uint8Array | undefined)[] = new Array(tiles.length);
    const misses: number[] = [];
    const edge = this.sequencer.edge;
    const W = BigInt(TILE_WIDTH);
    tiles.forEach((t, i) => {
      const full = t.width === TILE_WIDTH;
      const key = `${t.kind}/${t.level}/${t.index}`;
      if (full) {
        const c = this.cache.get(key);
        if (c !== undefined) return void (out[i] = c);
      } else if (t.kind === 'hash' && t.index === levelCount(t.level, edge.treeSize) / W) {
        const p = edge.partials[t.level];
        if (p !== undefined && p.length >= t.width) return void (out[i] = encodeHashTile(p.slice(0, t.width)));
      }
      misses.push(i);
    });
    if (misses.length > 0) {
      const got = await this.storage.readTiles(misses.map((i) => tiles[i] as TileRef));
      misses.forEach((i, j) => {
        const t = tiles[i] as TileRef;
        const d = got[j];
        if (d === undefined) throw new Error(`storage: ${tilePath(t)} is missing`);
        if (t.width === TILE_WIDTH) this.cache.set(`${t.kind}/${t.level}/${t.index}`, d);
        out[i] = d;
      });
    }
    return out as Uint8Array[];
  }

  /** A TileReader over this log's tiles (for proofs). */
  tileReader(): TileReader {
    return (tiles) => this.readTiles(tiles);
  }

  /** The entry at `leafIndex`. OUT_OF_RANGE beyond the integrated tree. */
  async entry(leafIndex: bigint): Promise<Uint8Array> {
    const size = this.tree.treeSize;
    if (leafIndex >= size) throw new TlogError('OUT_OF_RANGE', `index ${leafIndex} is beyond the tree (size ${size})`);
    const W = BigInt(TILE_WIDTH);
    const t: TileRef = { kind: 'entries', level: 0, index: leafIndex / W, width: tileWidth(0, leafIndex / W, size) };
    const [d] = await this.readTiles([t]);
    const entries = decodeEntryBundle((d as Uint8Array).subarray(0, entryBundlePrefixLength(d as Uint8Array, t.width)), t.width);
    return entries[Number(leafIndex % W)] as Uint8Array;
  }

  /** The leaf index of a leaf hash; NOT_FOUND if the log does not hold it. */
  async leafIndexOf(leafHash: Hash): Promise<bigint> {
    const [i] = await this.storage.lookupLeafHashes([leafHash]);
    if (i === undefined || i >= this.tree.treeSize) throw new TlogError('NOT_FOUND', 'no entry with this leaf hash');
    return i;
  }

  private resolveSize(treeSize: bigint | undefined): bigint {
    if (treeSize === undefined) return this.published.treeSize;
    if (treeSize > this.tree.treeSize) throw new TlogError('OUT_OF_RANGE', `tree size ${treeSize} is beyond the tree (size ${this.tree.treeSize})`);
    return treeSize;
  }

  /** The inclusion proof of the entry at `leafIndex` (or with `leafHash`) in the tree of `treeSize` (default: published). */
  async inclusionProof(q: { leafIndex?: bigint; leafHash?: Hash; treeSize?: bigint }): Promise<InclusionProofResult> {
    const published = this.published;
    const treeSize = this.resolveSize(q.treeSize);
    let leafIndex: bigint;
    let leafHash: Hash;
    if (q.leafHash !== undefined) {
      leafIndex = await this.leafIndexOf(q.leafHash);
      leafHash = q.leafHash;
      if (q.leafIndex !== undefined && q.leafIndex !== leafIndex) throw malformed('index and leafHash name different entries');
    } else if (q.leafIndex !== undefined) {
      leafIndex = q.leafIndex;
      if (leafIndex >= this.tree.treeSize) throw new TlogError('OUT_OF_RANGE', `index ${leafIndex} is beyond the tree (size ${this.tree.treeSize})`);
      leafHash = await this.leafHashAt(leafIndex);
    } else {
      throw malformed('want index or leafHash');
    }
    if (leafIndex >= treeSize) throw new TlogError('OUT_OF_RANGE', `entry ${leafIndex} is not in the tree of size ${treeSize}`);
    const proof = await inclusionProof(leafIndex, treeSize, this.tileReader(), this.subtreeHashes);
    return { leafIndex, treeSize, leafHash, proof, checkpoint: treeSize === published.treeSize ? published.checkpoint : undefined };
  }

  /** The consistency proof from `from` to `to` (default: published). MALFORMED if from > to. */
  async consistencyProof(from: bigint, to?: bigint): Promise<{ from: bigint; to: bigint; proof: Hash[] }> {
    const t = this.resolveSize(to);
    if (from > t) throw malformed(`from (${from}) is larger than to (${t})`);
    return { from, to: t, proof: await consistencyProof(from, t, this.tileReader(), this.subtreeHashes) };
  }

  /**
   * Stops accepting writes (PUSHBACK), sequences everything pooled and publishes a final checkpoint, so that
   * every acknowledged entry is covered by the last checkpoint and every `wait=published` caller is answered.
   * Reads keep working until {@link close}.
   */
  async drain(): Promise<void> {
    if (this.refreshTimer !== undefined) clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
    await this.sequencer.drain();
    await this.publisher.publish().catch((err: unknown) => {
      if (this.leadership === undefined) throw err; // a frontend that does not lead publishes nothing
    });
  }

  /** Stops the publisher (rejecting remaining waiters) and closes storage. Call after {@link drain}. */
  async close(): Promise<void> {
    this.publisher.close(new TlogError('PUSHBACK', 'the log is shutting down', { retryAfter: 1 }));
    await this.storage.close();
  }
}

async function readStoredTiles(storage: LogStorage, tiles: readonly TileRef[]): Promise<Uint8Array[]> {
  const data = await storage.readTiles(tiles);
  return data.map((d, i) => {
    if (d === undefined) throw new Error(`storage: ${tilePath(tiles[i] as TileRef)} is missing`);
    return d;
  });
}
