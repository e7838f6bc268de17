/**
 * FileInput: tails files matched by globs, with exact byte offsets, rotation following and back-pressure (issue #6).
 *
 * Polling is the mechanism (it works on every file system); fs.watch only wakes the poller early. One loop per input
 * reads the files in turn, in chunks, splits lines (decoding whole lines only), and hands batches to the sink; it
 * reads nothing further while a sink call is pending, which is the back-pressure.
 *
 * Rotation:
 *  - rename + create: the path now names another inode. The old file stays open and is read to its end (a writer
 *    may still append to it); it is closed once it has been at EOF for `rotateGraceMs`. The new file is read from 0.
 *    If the old file still matches a glob under its new name it simply stays tailed.
 *  - copytruncate: the open file became shorter than what was read. Reading restarts at 0 with a warning; a pending
 *    incomplete last line is delivered flagged `truncated` (never dropped). A truncation followed by writes past
 *    the old offset before the next poll cannot be seen from sizes alone (a limitation shared by all tailers).
 *  - delete: the open descriptor is read to its end, then closed and forgotten.
 *
 * Positions: after each delivered batch, the positions of the files it touched: the offset just after the last
 * delivered line (CRI: never past the first P line of an incomplete record). On start, `resume` positions are looked
 * up by fileId (`dev:ino`); a file without one starts at 0 if `readFromStart`, else at its end (files that appear
 * after start always start at 0). A saved offset beyond the file's size means another file reused the inode, or it
 * was truncated while we were down: reading starts at 0 with a warning. A resumed record keeps the `file` of its
 * saved position as origin, so origins stay identical across restarts even when the file was renamed.
 *
 * Blank lines (zero bytes before '\n') are skipped in plain mode (they carry no event); their bytes still count
 * for positions. An unterminated last line is not delivered until its '\n' arrives (or the file is detached and
 * its grace has passed, then it is delivered flagged `truncated`). '\r' is not stripped.
 */
import { type FSWatcher, type Stats, fstatSync, watch } from 'node:fs';
import { type FileHandle, open, readdir, realpath, stat } from 'node:fs/promises';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { glob, isDynamicPattern } from 'tinyglobby';
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

/** FileInput settings. Defaults in brackets. */
export interface FileInputOptions {
  readonly name: string;
  /** Paths or globs (tinyglobby syntax); relative ones resolve against the working directory. */
  readonly paths: readonly string[];
  /** Lines are in the CRI container log format (P/F joining). [false] */
  readonly cri?: boolean;
  /** Files present at start with no saved position are read from their start (else from their end). [true] */
  readonly readFromStart?: boolean;
  /** How often idle files are polled for growth, rotation and truncation. [250] */
  readonly pollIntervalMs?: number;
  /** How often globs are expanded again to find new files. [max(1000, 4 × poll)] */
  readonly scanIntervalMs?: number;
  /** A batch is handed to the sink at this many records… [1000] */
  readonly batchMaxRecords?: number;
  /** …or this many bytes of text, or whenever no more data is available right now. [1 MiB] */
  readonly batchMaxBytes?: number;
  /** Longer lines are split into pieces of this many bytes, flagged `truncated`. [256 KiB] */
  readonly maxLineBytes?: number;
  /** Bytes read per read call. [256 KiB] */
  readonly chunkBytes?: number;
  /** A rotated-away or deleted file is closed after being at EOF for this long. [2000] */
  readonly rotateGraceMs?: number;
  /** A sink call pending this long is logged as back-pressure (and its end too). [5000] */
  readonly slowSinkWarnMs?: number;
  /** Use fs.watch as a hint to poll early. [true] */
  readonly watch?: boolean;
  readonly logger?: InputLogger;
}

/** A file identity: `${dev}:${ino}`, stable across renames. */
export function fileIdOf(st: Stats): string {
  return `${st.dev}:${st.ino}`;
}

interface Tail {
  readonly fileId: string;
  /** The path recorded in origins and positions (as first opened, or as saved in the resume position). */
  readonly file: string;
  /** Where the file is currently known to be; undefined once the path names another file or nothing. */
  path: string | undefined;
  readonly fh: FileHandle;
  readonly lines: LineSplitter;
  readonly cri: CriAssembler | undefined;
  size: number;
  /** The last read returned no bytes. */
  eof: boolean;
  /** Has been read to EOF at least once (for drained()). */
  sawEof: boolean;
  /** The position last handed to the sink (or the start position). */
  delivered: number;
  /** A position must be sent even if unchanged (new file, restart at 0). */
  positionDirty: boolean;
  detachedAt: number | undefined;
  watcher: FSWatcher | undefined;
  /** Truncations seen of this file identity (carried in origins and positions). */
  generation: number;
}

/** Tails files; see the module comment for the rules. */
export class FileInput implements Input {
  readonly name: string;
  private readonly opts: Required<Omit<FileInputOptions, 'logger' | 'name' | 'paths'>>;
  private readonly patterns: readonly string[];
  private readonly log: InputLogger;

  private readonly tails = new Map<string, Tail>(); // by fileId, in opening order
  private readonly byPath = new Map<string, Tail>();
  private readonly finished = new Map<string, { offset: number; generation: number }>(); // closed fileId → where it ended
  private readonly resume = new Map<string, InputPosition>();
  private readonly warnedPaths = new Set<string>();
  private initialIds: Set<string> | undefined;

  private sink: RecordSink | undefined;
  private batch: InputRecord[] = [];
  private batchBytes = 0;
  private readonly touched = new Set<Tail>();

  private running: Promise<void> | undefined;
  private stopping = false;
  private wakeup: (() => void) | undefined;
  private woken = false; // a wake() arrived while not sleeping
  private readonly drainedPromise: Promise<void>;
  private drainedSettled = false;
  private resolveDrained!: () => void;
  private rejectDrained!: (e: Error) => void;

  constructor(options: FileInputOptions) {
    this.name = options.name;
    this.patterns = options.paths;
    this.log = options.logger ?? silentLogger;
    const poll = options.pollIntervalMs ?? 250;
    this.opts = {
      cri: options.cri ?? false,
      readFromStart: options.readFromStart ?? true,
      pollIntervalMs: poll,
      scanIntervalMs: options.scanIntervalMs ?? Math.max(1000, 4 * poll),
      batchMaxRecords: options.batchMaxRecords ?? 1000,
      batchMaxBytes: options.batchMaxBytes ?? 1 << 20,
      maxLineBytes: options.maxLineBytes ?? 256 << 10,
      chunkBytes: options.chunkBytes ?? 256 << 10,
      rotateGraceMs: options.rotateGraceMs ?? 2000,
      watch: options.watch ?? true,
      slowSinkWarnMs: options.slowSinkWarnMs ?? 5000,
    };
    if (this.opts.batchMaxRecords < 1) throw new RangeError('batchMaxRecords must be at least 1');
    this.drainedPromise = new Promise<void>((res, rej) => {
      this.resolveDrained = res;
      this.rejectDrained = rej;
    });
    this.drainedPromise.catch(() => {});
  }

  start(sink: RecordSink, resume: readonly InputPosition[]): void {
    if (this.running !== undefined) throw new Error(`input ${this.name} already started`);
    this.sink = sink;
    for (const p of resume) if (p.input === this.name) this.resume.set(p.fileId, p);
    this.running = this.run().catch((err: unknown) => {
      this.log.error({ input: this.name, err }, 'file input stopped on an unexpected error');
    });
  }

  drained(): Promise<void> {
    return this.drainedPromise;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake();
    await this.running;
    for (const t of this.tails.values()) await this.closeTail(t, false);
    if (!this.drainedSettled) {
      this.drainedSettled = true;
      this.rejectDrained(new Error(`input ${this.name} stopped before it was drained`));
    }
  }

  behind(): { file: string; bytes: number }[] {
    const out: { file: string; bytes: number }[] = [];
    for (const t of this.tails.values()) {
      let size = t.size;
      try {
        size = fstatSync(t.fh.fd).size;
      } catch {
        // closed meanwhile: keep the last known size
      }
      out.push({ file: t.path ?? t.file, bytes: Math.max(0, size - t.delivered) });
    }
    return out;
  }

  // ---- the loop ----

  private async run(): Promise<void> {
    await this.scan(true);
    let lastScan = Date.now();
    while (!this.stopping) {
      let progressed = false;
      try {
        for (const t of [...this.tails.values()]) {
          if (this.stopping) break;
          if (await this.readSome(t)) progressed = true;
          if (this.batchFull() && !(await this.flush())) break;
        }
        if (this.stopping) break;
        await this.flush();
        await this.checkFiles();
        if (Date.now() - lastScan >= this.opts.scanIntervalMs) {
          await this.scan(false);
          lastScan = Date.now();
        }
        this.checkDrained();
      } catch (err) {
        this.log.error({ input: this.name, err }, 'file input error; retrying');
        progressed = false;
      }
      if (!progressed && !this.stopping) await this.sleep(this.opts.pollIntervalMs);
    }
  }

  private batchFull(): boolean {
    return this.batch.length >= this.opts.batchMaxRecords || this.batchBytes >= this.opts.batchMaxBytes;
  }

  /**
   * Reads from `t` until the batch is full, EOF, or its fair share of bytes this turn. Returns whether it made
   * progress (read bytes or took lines).
   */
  private async readSome(t: Tail): Promise<boolean> {
    let total = 0;
    let took = false;
    const chunkBytes = this.opts.chunkBytes;
    for (;;) {
      for (let line = t.lines.next(); line !== undefined; line = t.lines.next()) {
        took = true;
        this.take(t, line);
        if (this.batchFull()) return true;
      }
      if (total >= 4 * chunkBytes) return true;
      let buf = Buffer.allocUnsafe(chunkBytes);
      let n: number;
      try {
        n = (await t.fh.read(buf, 0, chunkBytes, t.lines.end)).bytesRead;
      } catch (err) {
        this.log.error({ input: this.name, file: t.file, err }, 'read failed');
        return took || total > 0;
      }
      if (n === 0) {
        t.eof = true;
        t.sawEof = true;
        return took || total > 0;
      }
      t.eof = false;
      // Do not pin a large buffer for a small read (many idle files would each hold a whole chunk).
      buf = n < chunkBytes / 2 ? Buffer.from(buf.subarray(0, n)) : buf.subarray(0, n);
      t.lines.push(buf);
      total += n;
      if (t.lines.end > t.size) t.size = t.lines.end;
    }
  }

  /** Turns one line into records in the batch. */
  private take(t: Tail, line: Line): void {
    this.touched.add(t);
    if (t.cri !== undefined) {
      const bytes = line.end - line.offset;
      for (const r of t.cri.push(line.text, line.offset, bytes, line.truncated)) this.add(t, r);
      return;
    }
    if (line.text.length === 0 && !line.truncated) return;
    this.add(t, line.truncated ? { text: line.text, offset: line.offset, truncated: true } : line);
  }

  private add(t: Tail, r: CriRecord | Line): void {
    const rec: { -readonly [K in keyof InputRecord]: InputRecord[K] } = {
      input: this.name,
      text: r.text,
      origin: t.generation === 0 ? { file: t.file, fileId: t.fileId, offset: r.offset } : { file: t.file, fileId: t.fileId, offset: r.offset, generation: t.generation },
    };
    if ('stream' in r && r.stream !== undefined) rec.stream = r.stream;
    if ('criTime' in r && r.criTime !== undefined) rec.criTime = r.criTime;
    if (r.truncated === true) rec.truncated = true;
    if ('malformed' in r && r.malformed === true) rec.malformed = true;
    this.batch.push(rec);
    this.batchBytes += r.text.length + 64;
  }

  /** The position of `t` that may be committed now. */
  private safeOffset(t: Tail): number {
    const p = t.cri?.pendingStart();
    return p === undefined ? t.lines.consumed : Math.min(p, t.lines.consumed);
  }

  /** Hands the batch and the changed positions to the sink; false if stopping made it give up. */
  private async flush(): Promise<boolean> {
    const positions: InputPosition[] = [];
    const sent: [Tail, number][] = [];
    for (const t of this.tails.values()) {
      if (!this.touched.has(t) && !t.positionDirty) continue;
      const offset = this.safeOffset(t);
      if (offset === t.delivered && !t.positionDirty) continue;
      const p: InputPosition = { input: this.name, fileId: t.fileId, file: t.file, offset };
      positions.push(t.generation === 0 ? p : { ...p, generation: t.generation });
      sent.push([t, offset]);
    }
    this.touched.clear();
    if (this.batch.length === 0 && positions.length === 0) return true;
    const records = this.batch;
    this.batch = [];
    this.batchBytes = 0;
    const sink = this.sink;
    if (sink === undefined) return false;
    for (let attempt = 0; ; attempt++) {
      let warned = false;
      const slow = setTimeout(() => {
        warned = true;
        this.log.warn(
          { input: this.name, records: records.length, waitedMs: this.opts.slowSinkWarnMs },
          'back-pressure: the spool has not accepted a batch yet; reading is paused',
        );
      }, this.opts.slowSinkWarnMs);
      slow.unref();
      try {
        await sink(records, positions);
        break;
      } catch (err) {
        if (this.stopping) {
          this.log.warn({ input: this.name, err, records: records.length }, 'sink failed while stopping; records will be re-read');
          return false;
        }
        this.log.error({ input: this.name, err, records: records.length, attempt }, 'sink failed; retrying the same batch');
        await this.sleep(Math.min(5000, this.opts.pollIntervalMs * 2 ** Math.min(attempt, 10)));
      } finally {
        clearTimeout(slow);
        if (warned) this.log.info({ input: this.name }, 'back-pressure over: reading resumed');
      }
    }
    for (const [t, offset] of sent) {
      t.delivered = offset;
      t.positionDirty = false;
    }
    return true;
  }

  // ---- files ----

  /** Detects truncation (copytruncate), rotation (path names another inode) and deletion; closes drained files. */
  private async checkFiles(): Promise<void> {
    const now = Date.now();
    for (const t of [...this.tails.values()]) {
      let st: Stats;
      try {
        st = await t.fh.stat();
      } catch (err) {
        this.log.error({ input: this.name, file: t.file, err }, 'fstat failed');
        continue;
      }
      if (st.size < t.lines.end) {
        this.log.warn(
          { input: this.name, file: t.file, fileId: t.fileId, size: st.size, offset: t.lines.end },
          'file truncated (copytruncate?): reading again from offset 0',
        );
        for (let line = t.lines.next(); line !== undefined; line = t.lines.next()) this.take(t, line);
        const partial = t.lines.takePartial();
        if (partial !== undefined) this.take(t, partial);
        if (t.cri !== undefined) for (const r of t.cri.flushPending()) this.add(t, r);
        t.lines.reset(0);
        t.cri?.reset();
        t.generation++;
        t.eof = false;
        t.positionDirty = true;
        this.touched.add(t);
      }
      t.size = st.size;
      if (t.path !== undefined) {
        let pst: Stats | undefined;
        try {
          pst = await stat(t.path);
        } catch {
          pst = undefined;
        }
        if (pst === undefined || fileIdOf(pst) !== t.fileId) {
          const path = t.path;
          t.path = undefined;
          t.detachedAt = now;
          if (this.byPath.get(path) === t) this.byPath.delete(path);
          this.log.info(
            { input: this.name, file: t.file, path, fileId: t.fileId },
            pst === undefined ? 'file removed or renamed: reading it to its end' : 'file rotated: reading the old one to its end',
          );
          if (pst !== undefined && pst.isFile()) await this.openPath(path, false);
        }
      } else if (t.eof && t.detachedAt !== undefined && now - t.detachedAt >= this.opts.rotateGraceMs && t.lines.end >= st.size) {
        const partial = t.lines.takePartial();
        const criPending = t.cri?.flushPending() ?? [];
        if (partial !== undefined || criPending.length > 0) {
          // Deliver the unterminated tail first; close on a later pass.
          this.log.warn({ input: this.name, file: t.file }, 'rotated file ends without a newline: last line delivered as truncated');
          if (partial !== undefined) this.take(t, partial);
          for (const r of criPending) this.add(t, r);
          this.touched.add(t);
          continue;
        }
        if (this.touched.has(t) || this.safeOffset(t) !== t.delivered) continue; // not yet delivered
        await this.closeTail(t, true);
      }
    }
  }

  private async closeTail(t: Tail, remember: boolean): Promise<void> {
    this.tails.delete(t.fileId);
    if (t.path !== undefined && this.byPath.get(t.path) === t) this.byPath.delete(t.path);
    t.watcher?.close();
    if (remember) this.finished.set(t.fileId, { offset: t.lines.end, generation: t.generation });
    try {
      await t.fh.close();
    } catch {
      // already closed
    }
  }

  /** Expands the globs; opens files not yet tailed. */
  private async scan(initial: boolean): Promise<void> {
    let paths: string[];
    try {
      paths = await this.expand();
    } catch (err) {
      this.log.error({ input: this.name, err }, 'glob expansion failed');
      paths = [];
    }
    const seen = new Set<string>();
    for (const p of paths) {
      const t = this.byPath.get(p);
      if (t !== undefined) {
        seen.add(t.fileId);
        continue;
      }
      // Stat before opening: most unknown paths are files read before (rotated copies still matching the glob).
      let st: Stats;
      try {
        st = await stat(p);
      } catch {
        continue;
      }
      if (!st.isFile()) continue;
      const known = fileIdOf(st);
      const tail = this.tails.get(known);
      if (tail !== undefined) {
        seen.add(known);
        if (tail.path === undefined) this.attach(tail, p);
        continue;
      }
      if (this.finished.get(known)?.offset === st.size) {
        seen.add(known);
        continue;
      }
      const id = await this.openPath(p, initial);
      if (id !== undefined) seen.add(id);
    }
    if (initial) {
      await this.findMoved();
      this.initialIds = new Set(this.tails.keys());
    }
    else for (const id of [...this.finished.keys()]) if (!seen.has(id)) this.finished.delete(id);
  }

  /**
   * Saved positions whose file no longer matches a glob (rotated by rename while we were down) are looked for, by
   * fileId, in the directory of their saved path and in that of its symlink target (kubelet rotates the target of
   * /var/log/containers/*.log in /var/log/pods/…). Found ones are read from their saved offset to their end.
   */
  private async findMoved(): Promise<void> {
    if (this.resume.size === 0) return;
    const dirs = new Map<string, string[]>();
    for (const p of this.resume.values()) {
      const candidates = [dirname(resolvePath(p.file))];
      try {
        candidates.push(dirname(await realpath(p.file)));
      } catch {
        // the path is gone
      }
      for (const d of candidates) if (!dirs.has(d)) dirs.set(d, []);
      for (const d of candidates) dirs.get(d)!.push(p.fileId);
    }
    for (const [dir, ids] of dirs) {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch {
        continue;
      }
      if (names.length > 10_000) names = names.slice(0, 10_000);
      for (const name of names) {
        if (!ids.some((id) => this.resume.has(id))) break;
        const path = join(dir, name);
        let st: Stats;
        try {
          st = await stat(path);
        } catch {
          continue;
        }
        const id = fileIdOf(st);
        if (!st.isFile() || !this.resume.has(id) || this.tails.has(id)) continue;
        const opened = await this.openPath(path, false);
        const t = opened === undefined ? undefined : this.tails.get(opened);
        if (t === undefined) continue;
        this.log.info({ input: this.name, file: t.file, path, fileId: id }, 'found a file rotated while stopped: reading it to its end');
        if (this.byPath.get(path) === t) this.byPath.delete(path);
        t.path = undefined;
        t.detachedAt = Date.now();
      }
    }
  }

  private attach(t: Tail, path: string): void {
    t.path = path;
    t.detachedAt = undefined;
    this.byPath.set(path, t);
  }

  private async expand(): Promise<string[]> {
    const literal: string[] = [];
    const dynamic: string[] = [];
    for (const p of this.patterns) (isDynamicPattern(p) ? dynamic : literal).push(p);
    const out = new Set(literal.map((p) => resolvePath(p)));
    if (dynamic.length > 0) {
      const found = await glob(dynamic, { absolute: true, onlyFiles: true, dot: true, followSymbolicLinks: true, expandDirectories: false });
      for (const f of found) out.add(resolvePath(f));
    }
    return [...out].sort();
  }

  /** Opens `path` unless its file is already tailed (then re-attaches the path). Returns its fileId. */
  private async openPath(path: string, initial: boolean): Promise<string | undefined> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && !this.warnedPaths.has(path)) {
        this.warnedPaths.add(path);
        this.log.warn({ input: this.name, path, err }, 'cannot open file');
      }
      return undefined;
    }
    let st: Stats;
    try {
      st = await fh.stat();
    } catch {
      await fh.close().catch(() => {});
      return undefined;
    }
    if (!st.isFile()) {
      await fh.close().catch(() => {});
      return undefined;
    }
    const fileId = fileIdOf(st);
    const existing = this.tails.get(fileId);
    if (existing !== undefined) {
      await fh.close().catch(() => {});
      if (existing.path === undefined) this.attach(existing, path);
      return fileId;
    }
    const saved = this.resume.get(fileId);
    const done = this.finished.get(fileId);
    let offset: number;
    let file = path;
    let positionDirty = true;
    let generation = 0;
    if (saved !== undefined) {
      this.resume.delete(fileId);
      file = saved.file;
      generation = saved.generation ?? 0;
      if (saved.offset <= st.size) {
        offset = saved.offset;
        positionDirty = false;
      } else {
        this.log.warn({ input: this.name, path, fileId, saved: saved.offset, size: st.size }, 'file shorter than its saved position: reading from 0');
        offset = 0;
        generation++;
      }
    } else if (done !== undefined) {
      if (done.offset === st.size) {
        await fh.close().catch(() => {});
        return fileId; // read before, unchanged
      }
      this.finished.delete(fileId);
      offset = done.offset < st.size ? done.offset : 0;
      generation = done.offset < st.size ? done.generation : done.generation + 1;
    } else {
      offset = initial && !this.opts.readFromStart ? st.size : 0;
    }
    const t: Tail = {
      fileId,
      file,
      path,
      fh,
      lines: new LineSplitter(this.opts.maxLineBytes, offset),
      cri: this.opts.cri ? new CriAssembler(this.opts.maxLineBytes) : undefined,
      size: st.size,
      eof: false,
      sawEof: false,
      delivered: offset,
      positionDirty,
      detachedAt: undefined,
      watcher: undefined,
      generation,
    };
    if (this.opts.watch) {
      try {
        t.watcher = watch(path, { persistent: false }, () => this.wake());
        t.watcher.on('error', () => {});
      } catch {
        // polling suffices
      }
    }
    this.tails.set(fileId, t);
    this.byPath.set(path, t);
    this.log.info({ input: this.name, path, fileId, offset }, 'tailing file');
    this.wake();
    return fileId;
  }

  // ---- helpers ----

  private checkDrained(): void {
    if (this.drainedSettled || this.initialIds === undefined || this.batch.length > 0) return;
    for (const id of this.initialIds) {
      const t = this.tails.get(id);
      if (t !== undefined && !t.sawEof) return;
    }
    this.drainedSettled = true;
    this.resolveDrained();
  }

  private wake(): void {
    const w = this.wakeup;
    this.wakeup = undefined;
    if (w === undefined) this.woken = true;
    else w();
  }

  private sleep(ms: number): Promise<void> {
    if (this.woken || this.stopping) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise<void>((res) => {
      const timer = setTimeout(() => {
        this.wakeup = undefined;
        res();
      }, ms);
      this.wakeup = () => {
        clearTimeout(timer);
        res();
      };
    });
  }
}
