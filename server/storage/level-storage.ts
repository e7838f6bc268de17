/**
 * The embedded default backend: one LevelDB database (via `level` / classic-level) under the data directory.
 *
 * Durability: every {@link LogStorage.commit} is a single LevelDB write batch with `sync: true`, i.e. one record
 * in LevelDB's write-ahead log, fsynced before the promise resolves. A crash loses either the whole batch or
 * nothing (LevelDB replays only complete, checksummed log records).
 */
import { Level } from 'level';
import { HASH_SIZE } from '../core/hash.js';
import type { TileRef } from '../core/tile.js';
import type { Commit, LogStorage, TreeState } from './storage.js';
import { CHECKPOINT_KEY, TREE_KEY, decodeU64, encodeU64, leafHashKey, tileKey } from './keys.js';

type Db = Level<Uint8Array, Uint8Array>;

/** LevelDB-backed {@link LogStorage}. Holds the database's LOCK: one process per data directory. */
export class LevelStorage implements LogStorage {
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

  async readTree(): Promise<TreeState | undefined> {
    const v = await this.db.get(TREE_KEY);
    if (v === undefined) return undefined;
    if (v.length !== 8 + HASH_SIZE) throw new Error('storage: corrupt tree state');
    return { treeSize: decodeU64(v), rootHash: Uint8Array.from(v.subarray(8)) };
  }

  async readTiles(tiles: readonly TileRef[]): Promise<(Uint8Array | undefined)[]> {
    if (tiles.length === 0) return [];
    return this.db.getMany(tiles.map(tileKey));
  }

  async lookupLeafHashes(leafHashes: readonly Uint8Array[]): Promise<(bigint | undefined)[]> {
    if (leafHashes.length === 0) return [];
    const vs = await this.db.getMany(leafHashes.map(leafHashKey));
    return vs.map((v) => (v === undefined ? undefined : decodeU64(v)));
  }

  async commit(c: Commit): Promise<void> {
    const batch = this.db.batch();
    for (const t of c.tiles) batch.put(tileKey(t.tile), t.data);
    for (const l of c.leafIndexes) batch.put(leafHashKey(l.leafHash), encodeU64(l.leafIndex));
    const tree = Buffer.allocUnsafe(8 + HASH_SIZE);
    tree.writeBigUInt64BE(c.tree.treeSize);
    tree.set(c.tree.rootHash, 8);
    batch.put(TREE_KEY, tree);
    // DURABILITY POINT: one WAL record, fsynced. After this resolves, the batch survives kill -9 and power loss.
    await batch.write({ sync: true });
  }

  async readCheckpoint(): Promise<string | undefined> {
    const v = await this.db.get(CHECKPOINT_KEY);
    return v === undefined ? undefined : Buffer.from(v).toString('utf8');
  }

  async writeCheckpoint(checkpoint: string): Promise<void> {
    // DURABILITY POINT: the published checkpoint is fsynced before anyone can see it.
    await this.db.put(CHECKPOINT_KEY, Buffer.from(checkpoint, 'utf8'), { sync: true });
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
