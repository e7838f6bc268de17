/**
 * The auditor's durable state in LevelDB (`level`): per origin, the last verified checkpoint (the signed note, as
 * fetched from the log) and the full-audit progress (how many leading entries were verified against a verified
 * checkpoint). Every update is one LevelDB batch written with `sync: true`: a crash keeps the old or the new state,
 * never a mix.
 *
 * Keys: `checkpoint/<origin>` → note (UTF-8); `full/<origin>` → decimal count of verified entries.
 */
import { Level } from 'level';

/** What is stored for one origin. */
export interface OriginState {
  /** The last verified checkpoint note from the log (undefined before the first). */
  readonly checkpoint: string | undefined;
  /** Leading entries verified by the full audit (0 if never run). */
  readonly fullEntries: bigint;
}

const cpKey = (origin: string): string => `checkpoint/${origin}`;
const fullKey = (origin: string): string => `full/${origin}`;

/** LevelDB-backed auditor state. One process per directory (LevelDB's LOCK). */
export class AuditState {
  private constructor(private readonly db: Level<string, string>) {}

  /** Opens (creating) the database in `dir`. Rejects if another process holds it. */
  static async open(dir: string): Promise<AuditState> {
    const db = new Level<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    await db.open();
    return new AuditState(db);
  }

  /** The stored state of `origin`. */
  async read(origin: string): Promise<OriginState> {
    const [cp, full] = await this.db.getMany([cpKey(origin), fullKey(origin)]);
    if (full !== undefined && !/^(0|[1-9][0-9]*)$/.test(full)) throw new Error(`audit state: corrupt full-audit progress for ${origin}`);
    return { checkpoint: cp, fullEntries: full === undefined ? 0n : BigInt(full) };
  }

  /** Atomically (one synced batch) stores whichever of the checkpoint and the progress are given. */
  async write(origin: string, update: { checkpoint?: string; fullEntries?: bigint }): Promise<void> {
    const batch = this.db.batch();
    if (update.checkpoint !== undefined) batch.put(cpKey(origin), update.checkpoint);
    if (update.fullEntries !== undefined) batch.put(fullKey(origin), update.fullEntries.toString());
    if (batch.length === 0) return batch.close();
    await batch.write({ sync: true });
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
