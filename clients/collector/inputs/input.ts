/**
 * The collector's inputs (issue #6): where records come from. An input reads, splits and delivers records with their
 * exact origin; it persists nothing. The spool stores records and input positions in one atomic batch and hands the
 * saved positions back at start, so an input resumes exactly where the last durably spooled record ended.
 *
 * Invariants of every Input:
 *  - a record's origin is a function of the bytes read (file identity and byte offset), so a re-read after a restart
 *    yields an identical origin and the log deduplicates the resend;
 *  - a position is never past the first byte of a record that has not been delivered in the same or an earlier sink
 *    call (for CRI: never past the first P line of an incomplete record);
 *  - at most one sink call per input is pending; a sink that does not resolve stops reading (back-pressure);
 *  - nothing is dropped silently: over-long lines are split and flagged `truncated`, malformed CRI lines are
 *    delivered as text and flagged `malformed`.
 */

/** Where a record came from; identical on a re-read of the same bytes (this is what makes resends dedupe). */
export interface RecordOrigin {
  readonly file?: string;       // path as opened
  readonly fileId?: string;     // `${dev}:${ino}` of the file (stable across renames)
  readonly offset?: number;     // byte offset of the record's first byte in that file (CRI: of its first P line)
  /** How many times this file identity was truncated (copytruncate) before these bytes were written; absent = 0.
   *  Offsets restart at 0 after a truncation, so (fileId, generation, offset) is what identifies the bytes. */
  readonly generation?: number;
}
export interface InputRecord {
  readonly input: string;       // the input's configured name
  readonly text: string;        // the record text, without the trailing newline (CRI: the joined message)
  readonly origin: RecordOrigin;
  readonly stream?: 'stdout' | 'stderr';  // CRI
  readonly criTime?: string;    // CRI timestamp of the first part
  /** Set on every piece of a line (or CRI message) longer than maxLineBytes, which was split into several records. */
  readonly truncated?: true;
  /** CRI input only: the line is not in CRI format; `text` is the raw line. */
  readonly malformed?: true;
}
/** A position to resume from: the offset just after the last record durably spooled, per file identity. */
export interface InputPosition {
  readonly input: string; readonly fileId: string; readonly file: string; readonly offset: number;
  /** The file's truncation count (see RecordOrigin.generation); absent = 0. Store it with the position. */
  readonly generation?: number;
}
/** Where records go. Resolves once they (and `positions`) are durably spooled. The input must not read further
 *  while a previous call is pending (that is the back-pressure: a full spool simply does not resolve). */
export type RecordSink = (records: InputRecord[], positions: InputPosition[]) => Promise<void>;
export interface Input {
  readonly name: string;
  /** Starts reading; `resume` are the positions saved by the spool. */
  start(sink: RecordSink, resume: readonly InputPosition[]): void;
  /** For --once: resolves when every file matched at start is read to EOF and delivered (and stdin ended). */
  drained(): Promise<void>;
  /** Stops reading, waits for the pending sink call, closes files. */
  stop(): Promise<void>;
  /** Bytes not yet delivered, per file (for the "bytes behind" metric). */
  behind(): { file: string; bytes: number }[];
}

/** The subset of a pino Logger the inputs use (a pino Logger is assignable to it). */
export interface InputLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** A logger that discards everything (the default). */
export const silentLogger: InputLogger = { info() {}, warn() {}, error() {} };
