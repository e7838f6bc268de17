/**
 * Splits a byte stream into lines at '\n', tracking the exact byte offset of each line's first byte. Pure: bytes
 * are pushed in, lines come out. Only whole lines are decoded as UTF-8, so a multibyte character split across
 * two chunks decodes correctly. A line longer than `maxLineBytes` is cut into pieces of at most that many bytes
 * (at a UTF-8 character boundary when there is one), each flagged `truncated`; nothing is dropped.
 */

/** One line (or piece of an over-long line). `end` is the offset just after it (after its '\n' if it has one). */
export interface Line {
  readonly text: string;
  readonly offset: number;
  readonly end: number;
  readonly truncated: boolean;
}

const EMPTY = Buffer.alloc(0);
const NL = 0x0a;

/** Incremental line splitter over a byte stream that starts at `startOffset`. */
export class LineSplitter {
  private buf: Buffer = EMPTY;
  private pos = 0; // index in buf of the first unconsumed byte
  private bufStart: number; // stream offset of buf[0]
  private scanned = 0; // index in buf up to which no '\n' was found (from pos)
  private continuing = false; // the previous line returned was a piece of an over-long line

  constructor(readonly maxLineBytes: number, startOffset = 0) {
    if (!(maxLineBytes >= 4)) throw new RangeError('maxLineBytes must be at least 4');
    this.bufStart = startOffset;
  }

  /** Stream offset of the first byte not yet returned in a line. */
  get consumed(): number {
    return this.bufStart + this.pos;
  }
  /** Stream offset just after the last byte pushed. */
  get end(): number {
    return this.bufStart + this.buf.length;
  }
  /** Bytes pushed but not yet returned in a line. */
  get pendingBytes(): number {
    return this.buf.length - this.pos;
  }

  /** Appends the next bytes of the stream. The splitter keeps a reference to `chunk` (do not reuse it). */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.pos >= this.buf.length) {
      this.bufStart += this.buf.length;
      this.buf = chunk;
      this.scanned = 0;
    } else {
      const rest = this.buf.subarray(this.pos);
      this.bufStart += this.pos;
      this.scanned = Math.max(0, this.scanned - this.pos);
      this.buf = Buffer.concat([rest, chunk]);
    }
    this.pos = 0;
  }

  /** The next complete line, or the next over-long piece; undefined when more bytes are needed. */
  next(): Line | undefined {
    const { buf, pos } = this;
    const from = Math.max(pos, this.scanned);
    const nl = buf.indexOf(NL, from);
    if (nl >= 0 && nl - pos <= this.maxLineBytes) {
      const offset = this.bufStart + pos;
      const text = buf.toString('utf8', pos, nl);
      this.pos = nl + 1;
      this.scanned = this.pos;
      const truncated = this.continuing;
      this.continuing = false;
      return { text, offset, end: this.bufStart + this.pos, truncated };
    }
    if (nl < 0) this.scanned = buf.length;
    const available = (nl >= 0 ? nl : buf.length) - pos;
    if (available <= this.maxLineBytes) return undefined;
    let cut = pos + this.maxLineBytes;
    const min = cut - 3; // a UTF-8 character is at most 4 bytes
    while (cut > min && ((buf[cut] ?? 0) & 0xc0) === 0x80) cut--;
    if (((buf[cut] ?? 0) & 0xc0) === 0x80) cut = pos + this.maxLineBytes; // not UTF-8: cut anywhere
    const offset = this.bufStart + pos;
    const text = buf.toString('utf8', pos, cut);
    this.pos = cut;
    if (this.scanned < cut) this.scanned = cut;
    this.continuing = true;
    return { text, offset, end: this.bufStart + cut, truncated: true };
  }

  /** The bytes of an incomplete last line (no '\n' yet), consumed as a truncated piece; undefined if none. */
  takePartial(): Line | undefined {
    if (this.pos >= this.buf.length) return undefined;
    const offset = this.bufStart + this.pos;
    const text = this.buf.toString('utf8', this.pos);
    this.pos = this.buf.length;
    this.scanned = this.pos;
    this.continuing = false;
    return { text, offset, end: this.bufStart + this.pos, truncated: true };
  }

  /** Discards everything and restarts at stream offset `offset`. */
  reset(offset: number): void {
    this.buf = EMPTY;
    this.pos = 0;
    this.scanned = 0;
    this.bufStart = offset;
    this.continuing = false;
  }
}
