/**
 * The collector's durable spool (LevelDB through `level`): records wait here from the moment they are read until
 * the log has acknowledged them, and acknowledged batches wait here until their attestation is logged and their
 * receipt (inclusion in a verified checkpoint) is checked.
 *
 * Keys (one LevelDB, lexicographic order = numeric order thanks to fixed-width hex):
 *  - `r!<seq:16 hex>` → a chunk of spooled records of one input (one {@link Spool.append} call):
 *    `u8 len(input) ‖ input ‖ u64 spooledAt ms ‖ (u32 len(entry) ‖ entry)*` — one key per chunk, not per record,
 *    so that spooling and acknowledging cost one LevelDB write per chunk;
 *  - `p!<input>\0<fileId>` → JSON {@link InputPosition}: where that file's input resumes;
 *  - `b!<batch:16 hex>` → JSON {@link AckedBatch}: an acknowledged batch awaiting attestation and/or receipt;
 *  - `m!nextBatch` → the next batch id (batch ids, and so bundle file names, are never reused);
 *  - `m!checkpoint` → the latest checkpoint this collector verified (for consistency checks across restarts).
 *
 * Durability points (every write is one atomic batch with `sync: true`, acknowledged to the caller only after):
 *  1. {@link Spool.append}: records + the input positions just after them. A crash before: nothing of the batch is
 *     spooled and the inputs resume before it (re-read). After: the records are kept and the positions moved on —
 *     the input offset is never committed without its records.
 *  2. {@link Spool.acknowledge}: the records of an acknowledged batch are deleted and the batch (its leaf indexes and
 *     hashes) is stored, atomically. A crash before: the records are re-sent; their entries are byte-identical, so
 *     the log reports duplicates at the original indexes. After: nothing is re-sent.
 *  3. {@link Spool.updateBatch} / {@link Spool.finishBatch}: attestation bundle / verified receipt recorded; a crash
 *     before re-does the attestation (a new, equally valid bundle) or the receipt check (idempotent).
 *
 * Bounded: {@link Spool.append} waits while the spooled record bytes exceed `maxBytes` — the inputs stop reading
 * (back-pressure); nothing is dropped.
 */
import { Level } from 'level';
import type { InputPosition } from './inputs/input.js';

/** A chunk of records in the spool (the records of one append, all of one input). */
export interface SpooledChunk {
  readonly seq: bigint;
  readonly input: string;
  readonly spooledAt: number;
  readonly entries: readonly Uint8Array[];
  /** Encoded size (what counts against maxBytes). */
  readonly size: number;
}

/** One entry of an acknowledged batch. */
export interface AckedEntry {
  /** Leaf index as a decimal string (JSON-safe). */
  readonly index: string;
  /** Base64 of the 32-byte RFC 6962 leaf hash. */
  readonly leafHash: string;
  readonly duplicate: boolean;
}

/** An acknowledged batch, kept until its attestation is logged and its receipt verified. */
export interface AckedBatch {
  readonly id: string;
  readonly entries: readonly AckedEntry[];
  /** Records per input. */
  readonly inputs: Readonly<Record<string, number>>;
  /** Earliest and latest spooling time (RFC 3339). */
  readonly from: string;
  readonly to: string;
  /** Path of the Sigstore bundle of the batch's attestation, once logged. */
  readonly bundle?: string;
  /** Log index of the attestation entry. */
  readonly attestationIndex?: string;
}

export interface SpoolOptions {
  readonly dir: string;
  /** Spooled record bytes above which appends wait (back-pressure). */
  readonly maxBytes: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const seqKey = (p: string, n: bigint) => `${p}${n.toString(16).padStart(16, '0')}`;

function encodeChunk(input: string, spooledAt: number, entries: readonly Uint8Array[]): Uint8Array {
  const name = enc.encode(input);
  if (name.length > 255) throw new Error(`input name too long: ${input}`);
  let size = 1 + name.length + 8;
  for (const e of entries) size += 4 + e.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out[0] = name.length;
  out.set(name, 1);
  let o = 1 + name.length;
  view.setBigUint64(o, BigInt(spooledAt));
  o += 8;
  for (const e of entries) {
    view.setUint32(o, e.length);
    out.set(e, o + 4);
    o += 4 + e.length;
  }
  return out;
}

function decodeChunk(seq: bigint, v: Uint8Array): SpooledChunk {
  const n = v[0] as number;
  const view = new DataView(v.buffer, v.byteOffset, v.byteLength);
  const entries: Uint8Array[] = [];
  let o = 1 + n + 8;
  while (o < v.length) {
    const len = view.getUint32(o);
    entries.push(v.subarray(o + 4, o + 4 + len));
    o += 4 + len;
  }
  return { seq, input: dec.decode(v.subarray(1, 1 + n)), spooledAt: Number(view.getBigUint64(1 + n)), entries, size: v.length };
}

/** See the module comment. One Spool per directory (LevelDB holds a lock). */
export class Spool {
  private nextSeq = 0n;
  private nextBatch = 0n;
  private bytes = 0;
  private records = 0;
  private chain: Promise<void> = Promise.resolve();
  private waiters: (() => void)[] = [];
  private closed = false;
  private readonly positionsByKey = new Map<string, InputPosition>();
  /** Called whenever the spool goes from not-full to full or back (for logs and metrics). */
  onFull: (full: boolean) => void = () => {};
  /** Called after records were appended (wakes the submitter). */
  onAppend: () => void = () => {};

  private constructor(
    private readonly db: Level<string, Uint8Array>,
    readonly maxBytes: number,
  ) {}

  static async open(o: SpoolOptions): Promise<Spool> {
    const db = new Level<string, Uint8Array>(o.dir, { valueEncoding: 'view' });
    await db.open();
    const s = new Spool(db, o.maxBytes);
    for await (const [k, v] of db.iterator({ gte: 'r!', lt: 'r"' })) {
      const c = decodeChunk(0n, v);
      s.bytes += v.length;
      s.records += c.entries.length;
      s.nextSeq = BigInt(`0x${k.slice(2)}`) + 1n;
    }
    const nb = await db.get('m!nextBatch');
    if (nb !== undefined) s.nextBatch = BigInt(dec.decode(nb));
    for await (const [k, v] of db.iterator({ gte: 'p!', lt: 'p"' })) s.positionsByKey.set(k, JSON.parse(dec.decode(v)) as InputPosition);
    return s;
  }

  /** Spooled (unacknowledged) record bytes and count. */
  get size(): { bytes: number; records: number } {
    return { bytes: this.bytes, records: this.records };
  }

  get full(): boolean {
    return this.bytes >= this.maxBytes;
  }

  /** The saved input positions (to resume the inputs). */
  positions(): InputPosition[] {
    return [...this.positionsByKey.values()];
  }

  /**
   * Durability point 1: spools `entries` (of `input`) and the positions after them, in one synced batch. Waits
   * first while the spool is full. Appends are applied in call order, so sequence numbers are durable in order.
   */
  append(records: readonly { input: string; entry: Uint8Array }[], positions: readonly InputPosition[]): Promise<void> {
    const run = async () => {
      await this.waitForRoom();
      if (this.closed) throw new Error('spool closed');
      const now = Date.now();
      const ops: { type: 'put'; key: string; value: Uint8Array }[] = [];
      let added = 0;
      const byInput = new Map<string, Uint8Array[]>();
      for (const r of records) {
        const l = byInput.get(r.input);
        if (l === undefined) byInput.set(r.input, [r.entry]);
        else l.push(r.entry);
      }
      for (const [input, entries] of byInput) {
        const v = encodeChunk(input, now, entries);
        ops.push({ type: 'put', key: seqKey('r!', this.nextSeq++), value: v });
        added += v.length;
      }
      for (const p of positions) ops.push({ type: 'put', key: `p!${p.input}\0${p.fileId}`, value: enc.encode(JSON.stringify(p)) });
      await this.db.batch(ops, { sync: true });
      // Durable: the records will be sent (again, after a crash) and the inputs resume after them.
      for (const p of positions) this.positionsByKey.set(`p!${p.input}\0${p.fileId}`, p);
      const wasFull = this.full;
      this.bytes += added;
      this.records += records.length;
      if (!wasFull && this.full) this.onFull(true);
      if (records.length > 0) this.onAppend();
    };
    const p = this.chain.then(run);
    this.chain = p.catch(() => {});
    return p;
  }

  /** Forgets the positions of files that no longer exist (so the keys do not accumulate forever). */
  async forgetPositions(keep: (p: InputPosition) => boolean): Promise<void> {
    const ops: { type: 'del'; key: string }[] = [];
    for (const [k, p] of this.positionsByKey) if (!keep(p)) ops.push({ type: 'del', key: k });
    if (ops.length === 0) return;
    await this.db.batch(ops, { sync: true });
    for (const o of ops) this.positionsByKey.delete(o.key);
  }

  private async waitForRoom(): Promise<void> {
    while (this.full && !this.closed) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /**
   * Spooled chunks with seq > `after` (undefined: from the start), in order, while they hold at most `maxRecords`
   * records and `maxBytes` bytes in all — but always at least one chunk if there is one.
   */
  async read(after: bigint | undefined, maxRecords: number, maxBytes = Infinity): Promise<SpooledChunk[]> {
    const out: SpooledChunk[] = [];
    let bytes = 0;
    let records = 0;
    const range = after === undefined ? { gte: 'r!' } : { gt: seqKey('r!', after) };
    for await (const [k, v] of this.db.iterator({ ...range, lt: 'r"', limit: maxRecords })) {
      const c = decodeChunk(BigInt(`0x${k.slice(2)}`), v);
      if (out.length > 0 && (bytes + v.length > maxBytes || records + c.entries.length > maxRecords)) break;
      bytes += v.length;
      records += c.entries.length;
      out.push(c);
    }
    return out;
  }

  /**
   * Durability point 2: the log acknowledged `records` (durably sequenced, `entries` in the same order). Deletes
   * them and stores the batch, atomically. Returns the stored batch.
   */
  async acknowledge(chunks: readonly SpooledChunk[], entries: readonly AckedEntry[]): Promise<AckedBatch> {
    let count = 0;
    for (const c of chunks) count += c.entries.length;
    if (count !== entries.length) throw new Error('acknowledge: records and entries differ in length');
    const inputs: Record<string, number> = {};
    let from = Infinity;
    let to = -Infinity;
    let freed = 0;
    for (const c of chunks) {
      inputs[c.input] = (inputs[c.input] ?? 0) + c.entries.length;
      from = Math.min(from, c.spooledAt);
      to = Math.max(to, c.spooledAt);
      freed += c.size;
    }
    const batch: AckedBatch = { id: (this.nextBatch++).toString(16).padStart(16, '0'), entries, inputs, from: new Date(from).toISOString(), to: new Date(to).toISOString() };
    const ops: ({ type: 'del'; key: string } | { type: 'put'; key: string; value: Uint8Array })[] = chunks.map((c) => ({ type: 'del' as const, key: seqKey('r!', c.seq) }));
    ops.push({ type: 'put', key: `b!${batch.id}`, value: enc.encode(JSON.stringify(batch)) });
    ops.push({ type: 'put', key: 'm!nextBatch', value: enc.encode(this.nextBatch.toString()) });
    await this.db.batch(ops, { sync: true });
    // Durable: these records leave the spool; the batch awaits attestation and receipt.
    const wasFull = this.full;
    this.bytes -= freed;
    this.records -= count;
    if (wasFull && !this.full) this.onFull(false);
    for (const w of this.waiters.splice(0)) w();
    return batch;
  }

  /** Acknowledged batches not yet finished, in order. */
  async batches(): Promise<AckedBatch[]> {
    const out: AckedBatch[] = [];
    for await (const v of this.db.values({ gte: 'b!', lt: 'b"' })) out.push(JSON.parse(dec.decode(v)) as AckedBatch);
    return out;
  }

  /** Durability point 3: records progress on a batch (its attestation). */
  async updateBatch(batch: AckedBatch): Promise<void> {
    await this.db.put(`b!${batch.id}`, enc.encode(JSON.stringify(batch)), { sync: true });
  }

  /** Durability point 3: the batch is attested and its receipt verified; it is forgotten. */
  async finishBatch(id: string): Promise<void> {
    await this.db.del(`b!${id}`, { sync: true });
  }

  /** The latest checkpoint this collector verified (signed note text), if any. */
  async verifiedCheckpoint(): Promise<string | undefined> {
    const v = await this.db.get('m!checkpoint');
    return v === undefined ? undefined : dec.decode(v);
  }

  async setVerifiedCheckpoint(note: string): Promise<void> {
    await this.db.put('m!checkpoint', enc.encode(note), { sync: true });
  }

  /** Makes appends waiting for room fail now (shutdown: an input's pending sink call must end). */
  abortWaits(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w();
    await this.chain;
    await this.db.close();
  }
}
