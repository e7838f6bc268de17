/**
 * The S3 backend: a log in an S3-compatible bucket (AWS S3, GCS interoperability, Ceph RGW, MinIO, R2).
 *
 * Layout under the log's prefix P (c2sp.org/tlog-tiles paths, so that the bucket can serve the read API itself):
 *
 *   P/tile/<L>/<N>[.p/<W>]        hash tiles          application/octet-stream, public, immutable
 *   P/tile/entries/<N>[.p/<W>]    entry bundles       application/octet-stream, public, immutable, gzip
 *   P/checkpoint                  signed checkpoint   text/plain; charset=utf-8, no-store
 *   P/.tilelog/tree               tree state: size, root, staging object, lease epoch (compare-and-swap)
 *   P/.tilelog/staging/<…>        one per commit: the batch's tiles, bundles and leaf index (see s3-staging.ts)
 *   P/.tilelog/leaf/<hex>         leaf hash → leaf index, create-only (duplicate detection across frontends)
 *
 * Entry bundles are stored gzip-compressed with `Content-Encoding: gzip` unless `uncompressedBundles`; reads
 * decode by the header (s3-encoding.ts), so a log with bundles of both kinds reads back.
 *
 * Commit discipline (Sunlight's order), each step a durability point:
 *   1. stage:  PUT the staging object (a fresh, unique key: nobody else ever writes it);
 *   2. swap:   PUT P/.tilelog/tree with If-Match on the ETag this process last saw (If-None-Match: * for the first
 *              commit). THE commit point: after it the batch is in the log; before it, nothing of it is;
 *   3. final:  write the staged tiles and bundles at their tlog-tiles paths (full ones create-only) and the leaf
 *              index objects (create-only); their content is determined by the swapped tree, so rewriting them
 *              is harmless;
 *   4. publish happens later (Publisher → {@link S3Storage.writeCheckpoint}), only for swapped trees.
 * Recovery: {@link S3Storage.readTree} re-applies step 3 from the staging object the tree state names, unless this
 * process applied it itself; so a crash between any two steps leaves either the old tree (steps 1 only: the
 * staging object is garbage) or the new one, completed on the next read.
 *
 * Concurrency: the swap is a compare-and-swap on the tree state, so two writers can never both extend the same
 * tree: the loser gets {@link TreeConflict} and must re-read.
 *
 * Fencing (several frontends, one leader: server/leadership.ts): the tree state carries the lease epoch of the
 * process that wrote it. A new leader first stamps the tree with its epoch ({@link S3Storage.fence}: a
 * compare-and-swap of the same tree), so the next swap of any older leader fails on the ETag, and on re-reading it
 * finds the newer epoch and gets {@link Fenced}. Publishing a checkpoint is fenced the same way: the tree state is
 * re-stamped (compare-and-swap) right before the checkpoint object is written, so a stale leader that wakes up
 * can neither commit nor publish.
 */
import { randomBytes } from 'node:crypto';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { EMPTY_ROOT, HASH_SIZE } from '../core/hash.js';
import { encodeHex, decodeHexExact, parseDecimal } from '../core/strict.js';
import { TILE_WIDTH, tilePath, tileWidth, type TileRef } from '../core/tile.js';
import { parseCheckpoint } from '../core/checkpoint.js';
import { MaybeLost, ObjectStore, type StoredObject } from './s3-objects.js';
import { decodeTileObject, encodeTileObject, TILE_CACHE_CONTROL } from './s3-encoding.js';
import { decodeStaging, encodeStaging } from './s3-staging.js';
import { Fenced, StorageConflict, type Commit, type LogStorage, type TreeState } from './storage.js';
import type { LeafIndexStore } from '../coordination/leaf-index.js';

export { TILE_CACHE_CONTROL };
/** `Cache-Control` of the checkpoint in the bucket. */
export const CHECKPOINT_CACHE_CONTROL = 'no-store';
const OCTETS = 'application/octet-stream';
const TEXT = 'text/plain; charset=utf-8';
const TREE_MAGIC_V1 = 'tilelog-tree/v1';
const TREE_MAGIC = 'tilelog-tree/v2';
/** The staging name of a tree state that no commit produced (a fence of the empty tree). */
const NO_STAGING = '-';

/** Commit steps, for crash-injection tests. */
export type CommitStep = 'staged' | 'swapped' | 'final';

/** Another writer extended the tree first (the compare-and-swap lost): re-read the tree and retry. */
export class TreeConflict extends StorageConflict {
  constructor(message: string) {
    super(message);
    this.name = 'TreeConflict';
  }
}

export interface S3StorageOptions {
  readonly bucket: string;
  /** The log's prefix in the bucket: empty or ending in `/`. */
  readonly prefix: string;
  /** An existing client; otherwise one is made from `clientConfig` (the AWS SDK's defaults: env, shared config). */
  readonly client?: S3Client;
  readonly clientConfig?: S3ClientConfig;
  /** Create the bucket if missing (development and tests). */
  readonly createBucket?: boolean;
  /** Parallel requests of one operation (default 32). */
  readonly concurrency?: number;
  /**
   * Keep the leaf-hash index objects (default true): duplicate detection and lookup by leaf hash, at one GET and
   * one PUT per new entry. False: neither (every entry is appended, even a resubmitted one; no lookup by hash) —
   * batches then cost a fixed handful of requests whatever their size.
   */
  readonly leafIndex?: boolean;
  /**
   * Keep the duplicate index in this store instead of the `.tilelog/leaf/` objects (e.g. PostgreSQL,
   * server/coordination/postgres.ts): one lookup and one batched insert per commit. Ignored when `leafIndex` is false.
   */
  readonly leafIndexStore?: LeafIndexStore;
  /**
   * Store entry bundles as they are, without `Content-Encoding` (default false: gzip-compressed with
   * `Content-Encoding: gzip`, so the bucket serves them compressed). Either kind is read back.
   */
  readonly uncompressedBundles?: boolean;
  /** Test hook: called after each commit step; throwing from it simulates a crash at that point. */
  readonly afterStep?: (step: CommitStep) => void | Promise<void>;
}

/**
 * The SDK client for `tilelog serve --storage s3://…`: endpoint from `--s3-endpoint`, else `S3_ENDPOINT`, else the
 * SDK's own (`AWS_ENDPOINT_URL`, shared config); credentials and region the SDK way (with a custom endpoint and no
 * region configured, `us-east-1`). Checksums only when required: Ceph 16.2 rejects aws-chunked trailers.
 */
export function s3ClientConfig(o: { endpoint?: string | undefined; forcePathStyle?: boolean | undefined }, env: NodeJS.ProcessEnv = process.env): S3ClientConfig {
  const endpoint = o.endpoint ?? env['S3_ENDPOINT'];
  const region = env['AWS_REGION'] ?? env['AWS_DEFAULT_REGION'] ?? (endpoint !== undefined || env['AWS_ENDPOINT_URL'] !== undefined ? 'us-east-1' : undefined);
  return {
    ...(endpoint !== undefined ? { endpoint } : {}),
    ...(region !== undefined ? { region } : {}),
    forcePathStyle: o.forcePathStyle ?? false,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  };
}

/** Runs `fn` over `items` with at most `n` in flight; results in order. */
async function mapLimit<T, R>(items: readonly T[], n: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

interface TreeObject {
  readonly tree: TreeState;
  /** Key (below the prefix) of the staging object that produced this tree ({@link NO_STAGING}: none). */
  readonly staging: string;
  readonly writer: string;
  /** Lease epoch of the writer (0: written without a lease, or by format v1). */
  readonly epoch: bigint;
  /**
   * The lease store the epoch comes from ('' for none): epochs of different stores are not comparable, so a
   * frontend fences a tree stamped by another store's lease whatever the numbers, and a writer finding another
   * store's stamp is fenced (all frontends of a log must use the same coordination; see docs/scale-out.md).
   */
  readonly leaseKind: string;
  /** Makes every body unique, so that a "maybe lost" swap is decided by comparing bytes. */
  readonly nonce: string;
}

/** Format v2: magic, size, root (hex), staging key, writer, `epoch[ leaseKind]`, nonce — one per line. */
function encodeTree(t: TreeObject): Uint8Array {
  const epoch = t.leaseKind === '' ? `${t.epoch}` : `${t.epoch} ${t.leaseKind}`;
  return Buffer.from(`${TREE_MAGIC}\n${t.tree.treeSize}\n${encodeHex(t.tree.rootHash)}\n${t.staging}\n${t.writer}\n${epoch}\n${t.nonce}\n`, 'utf8');
}

/** Reads format v2, and v1 (no epoch, no nonce) as written before leases existed. */
function decodeTree(b: Uint8Array): TreeObject {
  const lines = Buffer.from(b).toString('utf8').split('\n');
  const v1 = lines.length === 6 && lines[0] === TREE_MAGIC_V1 && lines[5] === '';
  const v2 = lines.length === 8 && lines[0] === TREE_MAGIC && lines[7] === '';
  if (!v1 && !v2) throw new Error('storage: corrupt tree state object');
  const staging = lines[3] as string;
  if (staging !== NO_STAGING && !/^\.tilelog\/staging\/[0-9a-z.-]+$/.test(staging)) throw new Error('storage: corrupt tree state object (staging key)');
  return {
    tree: { treeSize: parseDecimal(lines[1] as string, 'tree size'), rootHash: decodeHexExact(lines[2] as string, HASH_SIZE, 'root hash') },
    staging,
    writer: lines[4] as string,
    epoch: v2 ? parseDecimal((lines[5] as string).split(' ')[0] as string, 'epoch') : 0n,
    leaseKind: v2 ? ((lines[5] as string).split(' ')[1] ?? '') : '',
    nonce: v2 ? (lines[6] as string) : '',
  };
}

function nonce(): string {
  return randomBytes(8).toString('hex');
}

/** {@link LogStorage} in an S3 bucket. Several processes may share one prefix (see the compare-and-swap above). */
export class S3Storage implements LogStorage {
  /** The tree state as this process last saw it, with its ETag (undefined: none seen, or none exists). */
  private current: { obj: TreeObject; etag: string } | undefined;
  /** The staging object this process knows to be fully applied. */
  private applied: string | undefined;
  /**
   * Step 3 of the last commit, running in the background (pipelining: the next batch's lookups and staging overlap
   * it), with its objects for read-your-writes until it is done. The next swap, checkpoint, tree read and close
   * wait for it first, so at most one commit is ever incomplete — the one the tree state names.
   */
  private pending: { readonly done: Promise<void>; readonly tiles: Map<string, Uint8Array>; readonly leaves: Map<string, bigint> } | undefined;
  /** The published checkpoint's ETag and size as last seen. */
  private checkpointSeen: { etag: string; treeSize: bigint } | undefined;
  private readonly writer = randomBytes(8).toString('hex');
  private readonly n: number;
  /** The lease epoch this process writes with (0: no lease; see "Fencing" above). */
  private epoch = 0n;
  /** The lease store `epoch` comes from (see TreeObject.leaseKind). */
  private leaseKind = '';
  /** Serialises writes of the tree state by this process (commit swaps, fences, checkpoint stamps). */
  private treeLock: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly store: ObjectStore,
    private readonly prefix: string,
    private readonly opts: S3StorageOptions,
    private readonly ownsClient: boolean,
  ) {
    this.n = opts.concurrency ?? 32;
  }

  /** Opens the log at `bucket/prefix` (creating the bucket first if `createBucket`). */
  static async open(o: S3StorageOptions): Promise<S3Storage> {
    const client = o.client ?? new S3Client(o.clientConfig ?? {});
    const store = new ObjectStore(client, o.bucket);
    if (o.createBucket === true) await store.ensureBucket();
    return new S3Storage(store, o.prefix, o, o.client === undefined);
  }

  private key(path: string): string {
    return this.prefix + path;
  }

  /** The bucket access and the log's prefix (for objects beside the log: the lease, server/coordination/s3-lease.ts). */
  get objects(): { readonly store: ObjectStore; readonly prefix: string } {
    return { store: this.store, prefix: this.prefix };
  }

  /** Runs `fn` after every earlier tree-state write of this process (a mutex). */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.treeLock.then(fn, fn);
    this.treeLock = run.catch(() => {});
    return run;
  }

  private async step(s: CommitStep): Promise<void> {
    await this.opts.afterStep?.(s);
  }

  private async readTreeObject(): Promise<{ obj: TreeObject; etag: string } | undefined> {
    const o = await this.store.get(this.key('.tilelog/tree'));
    return o === undefined ? undefined : { obj: decodeTree(o.body), etag: o.etag };
  }

  /** Reads the tree state and completes its commit (step 3) if this process has not seen it completed. */
  async readTree(): Promise<TreeState | undefined> {
    return this.readAndComplete(true);
  }

  /** {@link readTree}; `waitForWriter` false: do not give the tree's writer time to finish (it is fenced). */
  private async readAndComplete(waitForWriter: boolean): Promise<TreeState | undefined> {
    await this.settle().catch(() => {}); // a failed step 3 is completed below (no .done marker)
    const t = await this.readTreeObject();
    this.current = t;
    if (t === undefined) return undefined;
    if (t.obj.staging === NO_STAGING) this.applied = NO_STAGING;
    if (this.applied !== t.obj.staging && (await this.isDone(t.obj, waitForWriter))) this.applied = t.obj.staging;
    if (this.applied !== t.obj.staging) {
      const s = await this.store.get(this.key(t.obj.staging));
      if (s === undefined) throw new Error(`storage: the staging object ${t.obj.staging} of the stored tree is missing`);
      const c = decodeStaging(s.body);
      if (c.tree.treeSize !== t.obj.tree.treeSize || encodeHex(c.tree.rootHash) !== encodeHex(t.obj.tree.rootHash)) throw new Error('storage: staging object does not match the tree state');
      await this.makeFinal(c, t.obj.staging);
      this.applied = t.obj.staging;
    }
    return t.obj.tree;
  }

  /**
   * True once the commit that produced `t` has its `.done` marker. Another live writer's step 3 normally finishes
   * within a second, so for a tree written by someone else wait for it a little (polling) before doing the work
   * again; a crashed writer's commit is then completed by the caller.
   */
  private async isDone(t: TreeObject, waitForWriter: boolean): Promise<boolean> {
    const deadline = Date.now() + (t.writer === this.writer || !waitForWriter ? 0 : 1500);
    for (;;) {
      if ((await this.store.get(this.key(`${t.staging}.done`))) !== undefined) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * Step 3: the staged objects at their final keys, then the marker `<staging>.done` that spares other frontends
   * (and restarts) from applying it again. Idempotent.
   */
  private async makeFinal(c: Commit, staging: string): Promise<void> {
    type Job = () => Promise<unknown>;
    const jobs: Job[] = [
      ...c.tiles.map((t): Job => async () => {
        const key = this.key(tilePath(t.tile));
        const { body, meta } = await encodeTileObject(t.tile, t.data, this.opts.uncompressedBundles !== true);
        // Full tiles are written once (create-only); a partial tile's path names its width, so its content is
        // fixed by the tree too: a plain PUT rewrites the same content.
        return t.tile.width === TILE_WIDTH ? this.store.create(key, body, meta) : this.store.put(key, body, meta);
      }),
      ...(this.opts.leafIndex === false ? [] : this.opts.leafIndexStore !== undefined ? [() => (this.opts.leafIndexStore as LeafIndexStore).record(c.leafIndexes)] : []),
      ...(this.opts.leafIndex === false || this.opts.leafIndexStore !== undefined ? [] : c.leafIndexes).map((l): Job => () => this.store.create(this.key(`.tilelog/leaf/${encodeHex(l.leafHash)}`), Buffer.from(l.leafIndex.toString()), { contentType: TEXT })),
    ];
    await mapLimit(jobs, this.n, (j) => j());
    await this.store.put(this.key(`${staging}.done`), new Uint8Array(0), { contentType: OCTETS });
  }

  /** The widest version of each tile this process knows of (the tree it last saw), else exactly as asked. */
  async readTiles(tiles: readonly TileRef[]): Promise<(Uint8Array | undefined)[]> {
    const size = this.current?.obj.tree.treeSize ?? 0n;
    const pending = this.pending;
    return mapLimit(tiles, this.n, async (t) => {
      const widest = Math.max(t.width, Math.min(TILE_WIDTH, tileWidth(t.level, t.index, size)));
      const mine = pending?.tiles.get(tilePath({ ...t, width: widest }));
      if (mine !== undefined) return mine; // the pending commit's objects, not encoded
      const key = this.key(tilePath({ ...t, width: widest }));
      const o = await this.store.get(key);
      if (o !== undefined) return decodeTileObject(o, key);
      if (widest === t.width) return undefined;
      const asked = this.key(tilePath(t));
      const p = await this.store.get(asked);
      return p === undefined ? undefined : decodeTileObject(p, asked);
    });
  }

  async lookupLeafHashes(leafHashes: readonly Uint8Array[]): Promise<(bigint | undefined)[]> {
    if (this.opts.leafIndex === false) return leafHashes.map(() => undefined);
    const pending = this.pending;
    const indexStore = this.opts.leafIndexStore;
    if (indexStore !== undefined) {
      // One query for the whole batch; the pending commit's entries from the overlay (its step 3 may not have
      // recorded them yet).
      const found = await indexStore.lookup(leafHashes);
      return leafHashes.map((h, i) => pending?.leaves.get(encodeHex(h)) ?? found[i]);
    }
    return mapLimit(leafHashes, this.n, async (h) => {
      const mine = pending?.leaves.get(encodeHex(h));
      if (mine !== undefined) return mine;
      const o = await this.store.get(this.key(`.tilelog/leaf/${encodeHex(h)}`));
      return o === undefined ? undefined : parseDecimal(Buffer.from(o.body).toString('utf8'), 'leaf index');
    });
  }

  async commit(c: Commit): Promise<void> {
    // Step 1 — stage. A unique key: only this call ever writes it.
    const staging = `.tilelog/staging/${c.tree.treeSize}-${encodeHex(c.tree.rootHash).slice(0, 16)}-${this.writer}-${randomBytes(4).toString('hex')}`;
    await this.store.put(this.key(staging), encodeStaging(c), { contentType: OCTETS });
    await this.step('staged');
    await this.exclusive(async () => {
      // The previous commit's step 3 must be complete before this swap: recovery only completes the latest commit.
      await this.settle();

      // A batch computed on another tree than the one this swap replaces (this process was leader before, another
      // leader extended the tree, and this one leads again) must never be swapped in: conflict, re-read, redo.
      const base = this.current?.obj.tree.treeSize ?? 0n;
      if (c.previousTreeSize !== undefined && c.previousTreeSize !== base) throw new TreeConflict(`the batch extends size ${c.previousTreeSize}, the stored tree has size ${base}`);
      // Step 2 — DURABILITY POINT: compare-and-swap of the tree state on the ETag this process last saw. Crash
      // before it: the batch is not in the log (the staging object is garbage). After it: the batch is.
      const obj: TreeObject = { tree: c.tree, staging, writer: this.writer, epoch: this.epoch, leaseKind: this.leaseKind, nonce: nonce() };
      const etag = await this.swapTreeFenced(encodeTree(obj));
      this.current = { obj, etag };
    });
    await this.step('swapped');

    // Step 3 — make the staged objects final, in the background: the batch is durable (staging object + swapped
    // tree), and reads through this object see it at once (the overlay). A failure here leaves the commit done but
    // incomplete: the next swap rejects, and the next readTree (the sequencer's reload, or the next start)
    // completes it from the staging object.
    const tiles = new Map(c.tiles.map((t) => [tilePath(t.tile), t.data]));
    const leaves = new Map(c.leafIndexes.map((l) => [encodeHex(l.leafHash), l.leafIndex]));
    const done = (async () => {
      await this.makeFinal(c, staging);
      this.applied = staging;
      await this.step('final');
    })();
    done.catch(() => {}); // observed by settle()
    this.pending = { done, tiles, leaves };
  }

  /** Waits for the background step 3 of the last commit; rejects if it failed. */
  private async settle(): Promise<void> {
    const p = this.pending;
    if (p === undefined) return;
    try {
      await p.done;
    } finally {
      if (this.pending === p) this.pending = undefined;
    }
  }

  /**
   * {@link swapTree} on the ETag last seen; a lost swap becomes {@link Fenced} when the stored tree carries a newer
   * lease epoch than this process's (a newer leader took over), else stays {@link TreeConflict}.
   */
  private async swapTreeFenced(body: Uint8Array): Promise<string> {
    try {
      return await this.swapTree(body, this.current?.etag);
    } catch (err) {
      if (err instanceof TreeConflict) {
        const now = await this.readTreeObject().catch(() => undefined);
        if (now !== undefined && this.outranks(now.obj)) throw new Fenced(this.epoch, now.obj.epoch);
      }
      throw err;
    }
  }

  /** True if `stored` was stamped by a newer leader than this process: a larger epoch, or another lease store's. */
  private outranks(stored: TreeObject): boolean {
    if (this.epoch === 0n) return stored.epoch > 0n;
    return stored.leaseKind !== this.leaseKind ? stored.epoch > 0n : stored.epoch > this.epoch;
  }

  /**
   * Fencing (see the file comment): from now on this process writes with `epoch`, and the stored tree is stamped
   * with it. DURABILITY POINT: when this resolves the stamp is stored, and every process holding an older epoch
   * is refused at its next swap. A crash before: the stamp may or may not be stored; either way the tree is
   * unchanged and the new leader stamps again at its next start.
   */
  async fence(epoch: bigint, leaseKind = 'lease'): Promise<void> {
    if (leaseKind === this.leaseKind && epoch < this.epoch) throw new Fenced(epoch, this.epoch);
    this.epoch = epoch;
    this.leaseKind = leaseKind;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.exclusive(async () => {
          // Completes the tree's own commit first (its step 3), without waiting for its writer: a new leader takes
          // over from a dead or fenced one.
          await this.readAndComplete(false);
          const cur = this.current;
          // Another store's stamp (the log's coordination was changed while it was stopped) is replaced.
          if (cur !== undefined && cur.obj.leaseKind === leaseKind && cur.obj.epoch > epoch) throw new Fenced(epoch, cur.obj.epoch);
          const obj: TreeObject =
            cur === undefined
              ? { tree: { treeSize: 0n, rootHash: EMPTY_ROOT }, staging: NO_STAGING, writer: this.writer, epoch, leaseKind, nonce: nonce() }
              : { ...cur.obj, writer: this.writer, epoch, leaseKind, nonce: nonce() };
          const etag = await this.swapTreeFenced(encodeTree(obj));
          this.current = { obj, etag };
        });
        return;
      } catch (err) {
        // Lost to a commit of the previous leader that was still in flight: re-read and stamp again.
        if (!(err instanceof TreeConflict) || attempt >= 20) throw err;
      }
    }
  }

  /** The compare-and-swap of step 2, with the stores' quirks: every unclear outcome is decided by re-reading. */
  private async swapTree(body: Uint8Array, expected: string | undefined): Promise<string> {
    const key = this.key('.tilelog/tree');
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.store.swap(key, body, { contentType: TEXT }, expected);
      } catch (err) {
        if (!(err instanceof MaybeLost)) throw err;
        const now: StoredObject | undefined = await this.store.get(key);
        if (now !== undefined && Buffer.from(now.body).equals(body)) return now.etag; // it was ours (e.g. SDK retry)
        // Unchanged and still refused: this store wants the other ETag quoting (RGW: unquoted; others: quoted).
        if (attempt === 0 && err.status === 412 && expected !== undefined && now?.etag === expected) {
          this.store.flipIfMatchQuoting();
          continue;
        }
        throw new TreeConflict(`another writer changed the tree (${err.message})`);
      }
    }
  }

  async readCheckpoint(): Promise<string | undefined> {
    const o = await this.store.get(this.key('checkpoint'));
    if (o === undefined) return undefined;
    const text = Buffer.from(o.body).toString('utf8');
    this.checkpointSeen = { etag: o.etag, treeSize: checkpointSize(text) };
    return text;
  }

  /**
   * Publishes the checkpoint, never replacing a larger one (another frontend, or a stale process, may have
   * published further): a compare-and-swap on the checkpoint's ETag, re-read on every unclear outcome.
   */
  async writeCheckpoint(checkpoint: string): Promise<void> {
    // Never a checkpoint in the bucket before the tiles it commits to.
    await this.settle();
    if (this.epoch > 0n) {
      // FENCE of publication: re-stamp the tree state (compare-and-swap on the ETag of this process's last write).
      // A newer leader's fence changed that ETag, so a stale leader gets Fenced here and publishes nothing.
      await this.exclusive(async () => {
        const cur = this.current;
        if (cur === undefined) throw new Error('storage: no tree state to publish a checkpoint for');
        const obj: TreeObject = { ...cur.obj, nonce: nonce() };
        this.current = { obj, etag: await this.swapTreeFenced(encodeTree(obj)) };
      });
    }
    const key = this.key('checkpoint');
    const body = Buffer.from(checkpoint, 'utf8');
    const size = checkpointSize(checkpoint);
    const meta = { contentType: TEXT, cacheControl: CHECKPOINT_CACHE_CONTROL };
    for (let attempt = 0; attempt < 5; attempt++) {
      const seen = this.checkpointSeen;
      // A larger checkpoint is already published; with a lease, an equal one too (only a leader replaces it).
      if (seen !== undefined && (seen.treeSize > size || (this.epoch > 0n && seen.treeSize === size))) return;
      try {
        const etag = await this.store.swap(key, body, meta, seen?.etag);
        this.checkpointSeen = { etag, treeSize: size };
        return;
      } catch (err) {
        if (!(err instanceof MaybeLost)) throw err;
        const now = await this.store.get(key);
        if (now !== undefined && Buffer.from(now.body).equals(body)) {
          this.checkpointSeen = { etag: now.etag, treeSize: size };
          return;
        }
        if (attempt === 0 && err.status === 412 && seen !== undefined && now?.etag === seen.etag) this.store.flipIfMatchQuoting();
        this.checkpointSeen = now === undefined ? undefined : { etag: now.etag, treeSize: checkpointSize(Buffer.from(now.body).toString('utf8')) };
      }
    }
    throw new Error('storage: could not publish the checkpoint (it kept changing)');
  }

  async close(): Promise<void> {
    await this.settle().catch(() => {}); // an incomplete step 3 is completed by the next reader
    if (this.ownsClient) this.store.client.destroy();
  }
}

/** The tree size of a checkpoint note (c2sp.org/tlog-checkpoint: the second line), 0 if it does not parse. */
function checkpointSize(note: string): bigint {
  try {
    const body = note.slice(0, note.indexOf('\n\n') + 1);
    return parseCheckpoint(body.length > 0 ? body : note).treeSize;
  } catch {
    const line = note.split('\n')[1];
    return line !== undefined && /^[0-9]{1,19}$/.test(line) ? BigInt(line) : 0n;
  }
}
