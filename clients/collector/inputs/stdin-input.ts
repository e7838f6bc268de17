/**
 * StdinInput: records from standard input (or any byte stream), one per line.
 *
 * Origins use fileId `stdin` and the byte offset in the stream since this process started reading it. Positions
 * are reported like a file's, but they are meaningless after a restart (a pipe cannot be re-read or sought), so
 * `resume` is ignored: a restarted collector reads what the pipe gives it from then on. Over-long lines are split
 * and flagged `truncated`; blank lines are skipped; with `cri` the lines are joined like a CRI file's.
 * Back-pressure: the stream is not read while a sink call is pending (the pipe's writer then blocks).
 * drained() resolves at end of stream once everything is delivered; an unterminated last line is delivered
 * at end of stream as a whole line, since nothing can complete it.
 */
import type { Readable } from 'node:stream';
import { CriAssembler, type CriRecord } from './cri.js';
import {
  type Input,
  type InputLogger,
  type InputPosition,
  type InputRecord,
  type RecordSink,
  silentLogger,
} from './input.js';
import { type Line, LineSplitter } from './lines.js';

/** StdinInput settings. Defaults in brackets. */
export interface StdinInputOptions {
  readonly name: string;
  /** The stream to read. [process.stdin] */
  readonly stream?: Readable;
  /** The path recorded in origins. ['-'] */
  readonly file?: string;
  readonly cri?: boolean;
  /** [1000] */
  readonly batchMaxRecords?: number;
  /** [1 MiB] */
  readonly batchMaxBytes?: number;
  /** [256 KiB] */
  readonly maxLineBytes?: number;
  readonly logger?: InputLogger;
}

export const STDIN_FILE_ID = 'stdin';

/** Reads records from a byte stream; see the module comment. */
export class StdinInput implements Input {
  readonly name: string;
  private readonly stream: Readable;
  private readonly file: string;
  private readonly lines: LineSplitter;
  private readonly cri: CriAssembler | undefined;
  private readonly maxRecords: number;
  private readonly maxBytes: number;
  private readonly log: InputLogger;
  private batch: InputRecord[] = [];
  private batchBytes = 0;
  private delivered = 0;
  private running: Promise<void> | undefined;
  private stopping = false;
  private drainedSettled = false;
  private readonly drainedPromise: Promise<void>;
  private resolveDrained!: () => void;
  private rejectDrained!: (e: Error) => void;

  constructor(options: StdinInputOptions) {
    this.name = options.name;
    this.stream = options.stream ?? process.stdin;
    this.file = options.file ?? '-';
    const maxLineBytes = options.maxLineBytes ?? 256 << 10;
    this.lines = new LineSplitter(maxLineBytes, 0);
    this.cri = options.cri === true ? new CriAssembler(maxLineBytes) : undefined;
    this.maxRecords = options.batchMaxRecords ?? 1000;
    this.maxBytes = options.batchMaxBytes ?? 1 << 20;
    this.log = options.logger ?? silentLogger;
    this.drainedPromise = new Promise<void>((res, rej) => {
      this.resolveDrained = res;
      this.rejectDrained = rej;
    });
    this.drainedPromise.catch(() => {});
  }

  /** `resume` is ignored: positions in a pipe do not survive a restart. */
  start(sink: RecordSink, _resume: readonly InputPosition[]): void {
    if (this.running !== undefined) throw new Error(`input ${this.name} already started`);
    this.running = this.run(sink).catch((err: unknown) => {
      if (this.stopping) return; // the destroyed stream ends the iteration with an error
      this.log.error({ input: this.name, err }, 'stdin input stopped on an unexpected error');
    });
  }

  drained(): Promise<void> {
    return this.drainedPromise;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    // Ends the for-await loop (a pending sink call is awaited by run() first). Destroying process.stdin is fine at
    // shutdown; nothing else reads it.
    this.stream.destroy();
    await this.running;
    if (!this.drainedSettled) {
      this.drainedSettled = true;
      this.rejectDrained(new Error(`input ${this.name} stopped before end of stream`));
    }
  }

  behind(): { file: string; bytes: number }[] {
    return [{ file: this.file, bytes: Math.max(0, this.lines.end - this.delivered) }];
  }

  private async run(sink: RecordSink): Promise<void> {
    for await (const chunk of this.stream) {
      if (this.stopping) return;
      this.lines.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
      for (let line = this.lines.next(); line !== undefined; line = this.lines.next()) {
        this.take(line);
        if (this.batch.length >= this.maxRecords || this.batchBytes >= this.maxBytes) {
          if (!(await this.flush(sink))) return;
        }
      }
      if (!(await this.flush(sink))) return;
    }
    if (this.stopping) return;
    const partial = this.lines.takePartial();
    // At end of stream nothing can complete the last line: it is whole, unless it ends an over-long line.
    if (partial !== undefined) this.take(Buffer.byteLength(partial.text) > this.lines.maxLineBytes ? partial : { ...partial, truncated: false });
    if (this.cri !== undefined) for (const r of this.cri.flushPending()) this.add(r);
    if (!(await this.flush(sink))) return;
    this.drainedSettled = true;
    this.resolveDrained();
  }

  private take(line: Line): void {
    if (this.cri !== undefined) {
      for (const r of this.cri.push(line.text, line.offset, line.end - line.offset, line.truncated)) this.add(r);
      return;
    }
    if (line.text.length === 0 && !line.truncated) return;
    this.add(line.truncated ? { text: line.text, offset: line.offset, truncated: true } : line);
  }

  private add(r: CriRecord | Line): void {
    const rec: { -readonly [K in keyof InputRecord]: InputRecord[K] } = {
      input: this.name,
      text: r.text,
      origin: { file: this.file, fileId: STDIN_FILE_ID, offset: r.offset },
    };
    if ('stream' in r && r.stream !== undefined) rec.stream = r.stream;
    if ('criTime' in r && r.criTime !== undefined) rec.criTime = r.criTime;
    if (r.truncated === true) rec.truncated = true;
    if ('malformed' in r && r.malformed === true) rec.malformed = true;
    this.batch.push(rec);
    this.batchBytes += r.text.length + 64;
  }

  /** Delivers the batch (retrying a failed sink call until stopped); false if it gave up. */
  private async flush(sink: RecordSink): Promise<boolean> {
    const pending = this.cri?.pendingStart();
    const offset = pending === undefined ? this.lines.consumed : Math.min(pending, this.lines.consumed);
    if (this.batch.length === 0 && offset === this.delivered) return true;
    const records = this.batch;
    this.batch = [];
    this.batchBytes = 0;
    const positions: InputPosition[] = [{ input: this.name, fileId: STDIN_FILE_ID, file: this.file, offset }];
    for (let attempt = 0; ; attempt++) {
      try {
        await sink(records, positions);
        this.delivered = offset;
        return true;
      } catch (err) {
        if (this.stopping) return false;
        this.log.error({ input: this.name, err, records: records.length, attempt }, 'sink failed; retrying the same batch');
        await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** Math.min(attempt, 10))));
      }
    }
  }
}
