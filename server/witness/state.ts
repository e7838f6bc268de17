/**
 * The witness's durable state: per origin, the latest checkpoint it cosigned (c2sp.org/tlog-witness: "the witness
 * is only required to keep track of the latest checkpoint it observed and verified").
 *
 * One LevelDB record per origin, key `cp/` + origin, value = the cosigned note (checkpoint text, the log's
 * verified signature lines, then the witness's cosignature line). Writes use `sync: true`: when {@link put}
 * resolves, the record survives kill -9 and power loss. Callers serialize writes per origin.
 */
import { Level } from 'level';

type Db = Level<string, string>;

const PREFIX = 'cp/';

/** LevelDB-backed record of the latest cosigned checkpoint per origin. One process per directory (LOCK). */
export class WitnessState {
  private constructor(private readonly db: Db) {}

  /** Opens (creating if needed) the database in `dir`. Rejects if another process holds it. */
  static async open(dir: string): Promise<WitnessState> {
    const db: Db = new Level<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    await db.open();
    return new WitnessState(db);
  }

  /** The latest cosigned note for `origin`, or undefined if the witness never cosigned one. */
  async get(origin: string): Promise<string | undefined> {
    const v = await this.db.get(PREFIX + origin);
    return v ?? undefined;
  }

  /** Stores the latest cosigned note for `origin`. DURABILITY POINT: fsynced before it resolves. */
  async put(origin: string, cosignedNote: string): Promise<void> {
    await this.db.put(PREFIX + origin, cosignedNote, { sync: true });
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
