/**
 * Cheap generation of unique benchmark entries, so that the load generator (which shares the machine's two cores
 * with the server) spends as little CPU as possible.
 *
 * Every entry starts with a 20-character ASCII id — an 8-hex-digit per-process random nonce and a 12-hex-digit
 * counter — so no two entries of a run are equal (no duplicates, every entry is appended). The rest of each entry
 * is copied from a pool of random bytes at a random offset.
 */
import { randomBytes, randomInt } from 'node:crypto';

const POOL_BYTES = 1 << 20;
const ID_CHARS = 20;

export type BatchFormat = 'json' | 'ndjson';

export const CONTENT_TYPE: Record<BatchFormat | 'octet', string> = {
  json: 'application/json',
  ndjson: 'application/x-ndjson',
  octet: 'application/octet-stream',
};

export class EntryFactory {
  private counter = 0;
  private readonly nonce = randomBytes(4).toString('hex');
  /** Random lowercase hex digits: filler of JSON strings (no escaping needed). */
  private readonly hexPool = Buffer.from(randomBytes(POOL_BYTES / 2).toString('hex'), 'latin1');
  /** Random bytes: filler of octet-stream entries. */
  private readonly binPool = randomBytes(POOL_BYTES);

  /** Entries produced so far. */
  get produced(): number {
    return this.counter;
  }

  private writeId(buf: Buffer, off: number): void {
    const c = this.counter++;
    buf.write(this.nonce, off, 'latin1');
    buf.write(c.toString(16).padStart(12, '0'), off + 8, 'latin1');
  }

  private fill(pool: Buffer, buf: Buffer, off: number, len: number): void {
    const r = randomInt(0, pool.length - len);
    pool.copy(buf, off, r, r + len);
  }

  /**
   * One JSON string entry of exactly `entryBytes` canonical bytes (quotes included), written at `off`.
   * The server stores the RFC 8785 canonical form of the value, which for this ASCII string is the string itself.
   */
  private writeJsonString(buf: Buffer, off: number, entryBytes: number): void {
    buf[off] = 0x22;
    this.writeId(buf, off + 1);
    this.fill(this.hexPool, buf, off + 1 + ID_CHARS, entryBytes - 2 - ID_CHARS);
    buf[off + entryBytes - 1] = 0x22;
  }

  /** A body of `n` entries: a JSON array of strings, or one string per line (NDJSON). */
  batchBody(format: BatchFormat, n: number, entryBytes: number): Buffer {
    if (entryBytes < ID_CHARS + 2) throw new RangeError('entries too small');
    if (format === 'json') {
      const buf = Buffer.allocUnsafe(2 + n * entryBytes + (n - 1));
      buf[0] = 0x5b; // [
      let off = 1;
      for (let i = 0; i < n; i++) {
        if (i > 0) buf[off++] = 0x2c; // ,
        this.writeJsonString(buf, off, entryBytes);
        off += entryBytes;
      }
      buf[off] = 0x5d; // ]
      return buf;
    }
    const buf = Buffer.allocUnsafe(n * (entryBytes + 1));
    let off = 0;
    for (let i = 0; i < n; i++) {
      this.writeJsonString(buf, off, entryBytes);
      off += entryBytes;
      buf[off++] = 0x0a;
    }
    return buf;
  }

  /** One application/octet-stream entry of `entryBytes` bytes (id, then random bytes). */
  octet(entryBytes: number): Buffer {
    const buf = Buffer.allocUnsafe(entryBytes);
    this.writeId(buf, 0);
    this.fill(this.binPool, buf, ID_CHARS, entryBytes - ID_CHARS);
    return buf;
  }

  /**
   * `n` raw entries of `entryBytes` bytes each (id, then random bytes), as views of one allocation: the entries of
   * a gRPC AppendRequest (`repeated bytes`), which protobuf copies into the request message anyway.
   */
  octetBatch(n: number, entryBytes: number): Buffer[] {
    if (entryBytes < ID_CHARS) throw new RangeError('entries too small');
    const buf = Buffer.allocUnsafe(n * entryBytes);
    const out: Buffer[] = new Array<Buffer>(n);
    for (let i = 0, off = 0; i < n; i++, off += entryBytes) {
      this.writeId(buf, off);
      this.fill(this.binPool, buf, off + ID_CHARS, entryBytes - ID_CHARS);
      out[i] = buf.subarray(off, off + entryBytes);
    }
    return out;
  }
}
