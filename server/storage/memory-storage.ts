/**
 * In-memory {@link LogStorage} for tests, with fault injection: `failNext` makes the next matching operation
 * reject, before (`lost`) or after (`persisted`) applying it — the two ways a crash can meet a write.
 */
import type { TileRef } from '../core/tile.js';
import { encodeHex } from '../core/strict.js';
import type { Commit, LogStorage, TreeState } from './storage.js';

export type Fault = { op: 'commit' | 'writeCheckpoint'; mode: 'lost' | 'persisted' };

export class MemoryStorage implements LogStorage {
  readonly tiles = new Map<string, Uint8Array>();
  readonly leaves = new Map<string, bigint>();
  tree: TreeState | undefined;
  checkpoint: string | undefined;
  private faults: Fault[] = [];
  /**
   * A lasting outage until set back to undefined: `writes` makes every write fail as on a full disk (ENOSPC),
   * `all` makes reads fail too (an unreachable device).
   */
  down: 'writes' | 'all' | undefined;

  private check(write: boolean): void {
    if (this.down === 'all' || (write && this.down === 'writes')) {
      throw Object.assign(new Error('injected fault: No space left on device'), { code: 'ENOSPC' });
    }
  }

  /** Makes the next `op` fail (once). */
  failNext(f: Fault): void {
    this.faults.push(f);
  }

  private fault(op: Fault['op']): Fault | undefined {
    const i = this.faults.findIndex((f) => f.op === op);
    return i < 0 ? undefined : this.faults.splice(i, 1)[0];
  }

  static key(t: TileRef): string {
    return `${t.kind}/${t.level}/${t.index}`;
  }

  async readTree(): Promise<TreeState | undefined> {
    this.check(false);
    return this.tree;
  }
  async readTiles(tiles: readonly TileRef[]): Promise<(Uint8Array | undefined)[]> {
    this.check(false);
    return tiles.map((t) => this.tiles.get(MemoryStorage.key(t)));
  }
  async lookupLeafHashes(leafHashes: readonly Uint8Array[]): Promise<(bigint | undefined)[]> {
    this.check(false);
    return leafHashes.map((h) => this.leaves.get(encodeHex(h)));
  }
  async commit(c: Commit): Promise<void> {
    this.check(true);
    const f = this.fault('commit');
    if (f?.mode === 'lost') throw new Error('injected fault: commit lost');
    for (const t of c.tiles) this.tiles.set(MemoryStorage.key(t.tile), t.data);
    for (const l of c.leafIndexes) this.leaves.set(encodeHex(l.leafHash), l.leafIndex);
    this.tree = c.tree;
    if (f?.mode === 'persisted') throw new Error('injected fault: commit persisted but reported failed');
  }
  async readCheckpoint(): Promise<string | undefined> {
    this.check(false);
    return this.checkpoint;
  }
  async writeCheckpoint(checkpoint: string): Promise<void> {
    this.check(true);
    const f = this.fault('writeCheckpoint');
    if (f?.mode === 'lost') throw new Error('injected fault: checkpoint lost');
    this.checkpoint = checkpoint;
    if (f?.mode === 'persisted') throw new Error('injected fault: checkpoint persisted but reported failed');
  }
  async close(): Promise<void> {}
}
