/**
 * The embedded default backend: one LevelDB database (via `level` / classic-level) under the data directory.
 *
 * Durability: every {@link LogStorage.commit} is a single LevelDB write batch with `sync: true`, i.e. one record
 * in LevelDB's write-ahead log, fsynced before the promise resolves. A crash loses either the whole batch or
 * nothing (LevelDB replays only complete, checksummed log records).
 *
 * Failed writes (full disk, I/O error): LevelDB's log writer keeps appending after a failed write, past a torn
 * record, and on the next start recovery drops the rest of the 32 KiB block and beyond, i.e. records that were
 * acknowledged after the failure (found by the full-disk test). So after any failed write this storage is
 * `broken`: no further write reaches the damaged log file; the next operation first closes and reopens the
 * database (recovery drops the torn, never acknowledged record and starts a fresh log file). Until a reopen
 * succeeds (e.g. the disk is still full) every operation fails with UNAVAILABLE (503, retry later).
 */
import { Level } from 'level';
import { TlogError } from '../core/errors.js';
import { HASH_SIZE } from '../core/hash.js';
import { isStorageUnavailable } from '../errors.js';
import type { TileRef } from '../core/tile.js';
import type { Commit, LogStorage, TreeState } from './storage.js';
import { CHECKPOINT_KEY, TREE_KEY, decodeU64, encodeU64, leafHashKey, tileKey } from './keys.js';

type Db = Level<Uint8Array, Uint8Array>;

/** LevelDB-backed {@link LogStorage}. Holds the database's LOCK: one process per data directory. */
export class LevelStorage implements LogStorage {
  /** Set by a failed write: the database must be reopened before it is used again. */
  private broken: unknown;
  private reopening: Promise<void> | undefined;
  private lastReopenAttempt = 0;
  private closed = false;
  /** The last write queued (writes are serialised). */
  private writing: Promise<void> = Promise.resolve();

  private constructor(private readonly db: Db) {}

  /**
   * Opens (creating if needed) the database in `dir`. Rejects if another process holds it.
   * `maxOpenFiles` bounds the table files LevelDB keeps open and memory-mapped (≈ 2 MiB each): lower values cap
   * the file-backed part of RSS, at the price of reopening tables (slower duplicate lookups in large logs).
   */
  static async open(dir: string, opts: { maxOpenFiles?: number } = {}): Promise<LevelStorage> {
    const db: Db = new Level<Uint8Array, Uint8Array>(dir, {
      keyEncoding: 'view',
      valueEncoding: 'view',
      // Memory: LevelDB mmaps the table files it holds open, so the open-table cache (maxOpenFiles) bounds the
      // file-backed part of RSS (≈ maxOpenFiles × 2 MiB tables, reclaimable page cache); buffers are fixed.
      writeBufferSize: 16 * 1024 * 1024,
      cacheSize: 16 * 1024 * 1024,
      maxOpenFiles: opts.maxOpenFiles ?? 256,
    });
    await db.open();
    return new LevelStorage(db);
  }

  /** True while a failed write has left the database needing a reopen that has not yet succeeded. */
  get isBroken(): boolean {
    return this.broken !== undefined;
  }

  /** Reopens the database after a failed write (single flight, at most once a second); throws UNAVAILABLE until it works. */
  private async ready(): Promise<void> {
    if (this.broken === undefined) return;
    if (this.closed) throw unavailable('the database is closed', this.broken);
    if (this.reopening === undefined) {
      if (Date.now() - this.lastReopenAttempt < 1000) throw unavailable('a write failed and the database could not be reopened yet', this.broken);
      this.lastReopenAttempt = Date.now();
      this.reopening = (async () => {
        try {
          if (this.db.status === 'open') await this.db.close();
          await this.db.open();
          this.broken = undefined;
        } catch (err) {
          this.broken = err;
        } finally {
          this.reopening = undefined;
        }
      })();
    }
    await this.reopening;
    if (this.broken !== undefined) throw unavailable('a write failed and the database could not be reopened yet', this.broken);
  }

  /** Runs a read; a storage I/O failure becomes UNAVAILABLE. */
  private async read<T>(fn: () => Promise<T>): Promise<T> {
    await this.ready();
    try {
      return await fn();
    } catch (err) {
      throw isStorageUnavailable(err) ? unavailable('storage read failed', err) : err;
    }
  }

  /**
   * Runs a write; any failure marks the database broken (reopen before the next use) and becomes UNAVAILABLE.
   * Writes run one at a time, so that none is already queued behind a write that fails (it would land after the
   * torn record).
   */
  private write(fn: () => Promise<void>): Promise<void> {
    const run = async () => {
      await this.ready();
      try {
        await fn();
      } catch (err) {
        // Whatever LevelDB wrote of this record may be torn: nothing more may be appended to this log file.
        this.broken = err;
        throw unavailable('storage write failed', err);
      }
    };
    const p = this.writing.then(run, run);
    this.writing = p.catch(() => {});
    return p;
  }

  async readTree(): Promise<TreeState | undefined> {
    return this.read(() => this.readTreeNow());
  }

  private async readTreeNow(): Promise<TreeState | undefined> {
    const v = await this.db.get(TREE_KEY);
    if (v === undefined) return undefined;
    if (v.length !== 8 + HASH_SIZE) throw new Error('storage: corrupt tree state');
    return { treeSize: decodeU64(v), rootHash: Uint8Array.from(v.subarray(8)) };
  }

  async readTiles(tiles: readonly TileRef[]): Promise<(Uint8Array | undefined)[]> {
    if (tiles.length === 0) return [];
    return this.read(() => this.db.getMany(tiles.map(tileKey)));
  }

  async lookupLeafHashes(leafHashes: readonly Uint8Array[]): Promise<(bigint | undefined)[]> {
    if (leafHashes.length === 0) return [];
    const vs = await this.read(() => this.db.getMany(leafHashes.map(leafHashKey)));
    return vs.map((v) => (v === undefined ? undefined : decodeU64(v)));
  }

  async commit(c: Commit): Promise<void> {
    await this.write(async () => {
      const batch = this.db.batch();
      for (const t of c.tiles) batch.put(tileKey(t.tile), t.data);
      for (const l of c.leafIndexes) batch.put(leafHashKey(l.leafHash), encodeU64(l.leafIndex));
      const tree = Buffer.allocUnsafe(8 + HASH_SIZE);
      tree.writeBigUInt64BE(c.tree.treeSize);
      tree.set(c.tree.rootHash, 8);
      batch.put(TREE_KEY, tree);
      // DURABILITY POINT: one WAL record, fsynced. After this resolves, the batch survives kill -9 and power loss.
      await batch.write({ sync: true });
    });
  }

  async readCheckpoint(): Promise<string | undefined> {
    const v = await this.read(() => this.db.get(CHECKPOINT_KEY));
    return v === undefined ? undefined : Buffer.from(v).toString('utf8');
  }

  async writeCheckpoint(checkpoint: string): Promise<void> {
    // DURABILITY POINT: the published checkpoint is fsynced before anyone can see it.
    await this.write(() => this.db.put(CHECKPOINT_KEY, Buffer.from(checkpoint, 'utf8'), { sync: true }));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.reopening;
    if (this.db.status === 'open' || this.db.status === 'opening') await this.db.close();
  }
}

function unavailable(what: string, cause: unknown): TlogError {
  // The client sees a classification only (no file paths); the cause, logged by the server, has the details.
  const message = String((cause as { message?: unknown })?.message ?? cause);
  const reason = /No space left|ENOSPC|quota/i.test(message) ? 'disk full' : 'I/O error';
  return new TlogError('UNAVAILABLE', `${what}: ${reason}; retry later`, { cause, retryAfter: 5 });
}
