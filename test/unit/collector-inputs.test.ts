/**
 * Collector inputs (clients/collector/inputs): the line splitter and CRI assembler (pure, with fast-check
 * properties), then FileInput against real files in a temp dir: appends, rotation both ways under a continuous
 * writer, copytruncate, resume after stop, back-pressure, CRI joining across chunk boundaries, multibyte characters
 * across chunk boundaries, the real fixtures, and StdinInput. Every record's text is checked against the bytes at
 * its offset in the file it names.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  appendFileSync,
  copyFileSync,
  mkdtempSync,
  openSync,
  readFileSync,
  closeSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import {
  CriAssembler,
  FileInput,
  type FileInputOptions,
  type InputPosition,
  type InputRecord,
  LineSplitter,
  StdinInput,
  parseCriLine,
} from '../../clients/collector/inputs/index.js';

const FIXTURES = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..', '..', 'shared', 'fixtures');
const fixturesDir = process.env.TILELOG_FIXTURES ?? (statSafe(FIXTURES) ? FIXTURES : '/work/shared/fixtures');

function statSafe(p: string): boolean {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tilelog-inputs-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Waits (bounded) until `cond` holds. */
async function until(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** The bytes of `path` at [offset, offset + byteLength(text)) decoded, plus the byte after (must be '\n'). */
function bytesAt(path: string, offset: number, text: string): { text: string; next: string } {
  const len = Buffer.byteLength(text);
  const buf = Buffer.alloc(len + 1);
  const fd = openSync(path, 'r');
  try {
    const n = readSync(fd, buf, 0, len + 1, offset);
    return { text: buf.subarray(0, Math.min(n, len)).toString('utf8'), next: n > len ? String.fromCharCode(buf[len]!) : '' };
  } finally {
    closeSync(fd);
  }
}

/** A sink that records everything; `gate` (if set) is awaited before resolving. */
class Collector {
  records: InputRecord[] = [];
  positions: InputPosition[] = [];
  calls = 0;
  pending = 0;
  maxPending = 0;
  gate: Promise<void> | undefined;
  onCall: ((records: InputRecord[], positions: InputPosition[]) => void) | undefined;
  sink = async (records: InputRecord[], positions: InputPosition[]): Promise<void> => {
    this.calls++;
    this.pending++;
    this.maxPending = Math.max(this.maxPending, this.pending);
    try {
      if (this.gate !== undefined) await this.gate;
      this.records.push(...records);
      this.positions.push(...positions);
      this.onCall?.(records, positions);
    } finally {
      this.pending--;
    }
  };
  /** The latest position per fileId. */
  latest(): InputPosition[] {
    const m = new Map<string, InputPosition>();
    for (const p of this.positions) m.set(p.fileId, p);
    return [...m.values()];
  }
}

function fileInput(paths: string[], extra: Partial<FileInputOptions> = {}): FileInput {
  return new FileInput({ name: 'files', paths, pollIntervalMs: 10, scanIntervalMs: 50, rotateGraceMs: 100, ...extra });
}

function numbered(n: number): string {
  // Varied lengths and multibyte characters.
  return `line ${n} ${'é€'.repeat(n % 5)}${'x'.repeat((n * 7) % 53)}`;
}

describe('LineSplitter', () => {
  test('any chunking yields the same lines with exact offsets; multibyte characters survive chunk boundaries', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: 'grapheme', maxLength: 30 }), { maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 10 }),
        (lines, cuts) => {
          const text = lines.map((l) => `${l.replace(/\n/g, ' ')}\n`).join('');
          const bytes = Buffer.from(text);
          const s = new LineSplitter(1 << 20, 100);
          const out: { text: string; offset: number }[] = [];
          let pos = 0;
          let i = 0;
          while (pos < bytes.length) {
            const n = cuts[i++ % cuts.length]!;
            s.push(Buffer.from(bytes.subarray(pos, pos + n)));
            pos += n;
            for (let l = s.next(); l !== undefined; l = s.next()) out.push({ text: l.text, offset: l.offset });
          }
          const expected: { text: string; offset: number }[] = [];
          let off = 100;
          for (const l of text.split('\n').slice(0, -1)) {
            expected.push({ text: l, offset: off });
            off += Buffer.byteLength(l) + 1;
          }
          assert.deepEqual(out, expected);
          assert.equal(s.consumed, 100 + bytes.length);
        },
      ),
    );
  });

  test('over-long lines are split at a character boundary, flagged, and nothing is lost', () => {
    const s = new LineSplitter(10);
    const long = 'abcdefgh€ijklmnopqrstuvwxyz'; // € is 3 bytes, straddling the first cut
    s.push(Buffer.from(`${long}\nok\n`));
    const pieces = [];
    for (let l = s.next(); l !== undefined; l = s.next()) pieces.push(l);
    assert.equal(pieces.slice(0, -1).map((p) => p.text).join(''), long);
    assert.ok(pieces.slice(0, -1).every((p) => p.truncated && Buffer.byteLength(p.text) <= 10));
    assert.equal(pieces[0]!.text, 'abcdefgh');
    assert.deepEqual({ ...pieces.at(-1)! }, { text: 'ok', offset: Buffer.byteLength(long) + 1, end: Buffer.byteLength(long) + 4, truncated: false });
    let off = 0;
    for (const p of pieces) {
      assert.equal(p.offset, off);
      off = p.end;
    }
  });
});

describe('CRI', () => {
  test('parses the CRI line format strictly', () => {
    assert.deepEqual(parseCriLine('2016-10-06T00:17:09.669794202Z stdout F log content 1'), {
      time: '2016-10-06T00:17:09.669794202Z',
      stream: 'stdout',
      partial: false,
      message: 'log content 1',
    });
    assert.deepEqual(parseCriLine('2016-10-06T00:17:09.669794203Z stderr P part'), {
      time: '2016-10-06T00:17:09.669794203Z',
      stream: 'stderr',
      partial: true,
      message: 'part',
    });
    assert.equal(parseCriLine('2016-10-06T00:17:09Z stdout F ')?.message, '');
    assert.equal(parseCriLine('2016-10-06T00:17:09+02:00 stdout F')?.message, '');
    for (const bad of ['', 'hello world', '2016-10-06T00:17:09Z stdin F x', '2016-10-06T00:17:09Z stdout X x', 'yesterday stdout F x', '2016-10-06 stdout F x']) {
      assert.equal(parseCriLine(bad), undefined, bad);
    }
  });

  const criLine = (stream: string, tag: string, msg: string) => `2024-01-02T03:04:05.123456789Z ${stream} ${tag} ${msg}`;

  test('property: a message split into random P parts joins back, at the offset of its first P line', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }).map((s) => s.replace(/\n/g, '_')), { minLength: 1, maxLength: 8 }),
        fc.array(fc.string({ maxLength: 10 }).map((s) => s.replace(/\n/g, '_')), { maxLength: 3 }),
        fc.constantFrom('stdout', 'stderr'),
        (parts, before, stream) => {
          const a = new CriAssembler(1 << 20);
          let offset = 0;
          const lines: string[] = [];
          for (const b of before) lines.push(criLine(stream, 'F', b));
          const firstP = before.reduce((o, b) => o + Buffer.byteLength(criLine(stream, 'F', b)) + 1, 0);
          parts.forEach((p, i) => lines.push(criLine(stream, i === parts.length - 1 ? 'F' : 'P', p)));
          const out = [];
          for (const [i, l] of lines.entries()) {
            const bytes = Buffer.byteLength(l) + 1;
            out.push(...a.push(l, offset, bytes));
            // While the record is incomplete, the safe position is its first P line.
            if (i >= before.length && i < lines.length - 1) assert.equal(a.pendingStart(), firstP);
            offset += bytes;
          }
          assert.equal(a.pendingStart(), undefined);
          const last = out.at(-1)!;
          assert.equal(out.length, before.length + 1);
          assert.equal(last.text, parts.join(''));
          assert.equal(last.offset, firstP);
          assert.equal(last.stream, stream);
          assert.equal(last.criTime, '2024-01-02T03:04:05.123456789Z');
        },
      ),
    );
  });

  test('interleaved streams join per stream; malformed lines pass through flagged', () => {
    const a = new CriAssembler(1 << 20);
    const ls = [criLine('stdout', 'P', 'a1'), criLine('stderr', 'F', 'e'), 'not cri at all', criLine('stdout', 'F', 'a2')];
    const out = [];
    let off = 0;
    const offs: number[] = [];
    for (const l of ls) {
      offs.push(off);
      out.push(...a.push(l, off, Buffer.byteLength(l) + 1));
      if (off < offs[3]! && l !== ls[0]) assert.equal(a.pendingStart(), 0);
      off += Buffer.byteLength(l) + 1;
    }
    assert.deepEqual(
      out.map((r) => [r.text, r.offset, r.stream, r.malformed]),
      [
        ['e', offs[1], 'stderr', undefined],
        ['not cri at all', offs[2], undefined, true],
        ['a1a2', 0, 'stdout', undefined],
      ],
    );
  });

  test('a joined message longer than the limit is emitted in flagged pieces, none lost', () => {
    const a = new CriAssembler(200);
    const parts = Array.from({ length: 10 }, (_, i) => `${i}`.repeat(60));
    const out: ReturnType<CriAssembler['push']> = [];
    let off = 0;
    parts.forEach((p, i) => {
      const l = criLine('stdout', i === parts.length - 1 ? 'F' : 'P', p);
      out.push(...a.push(l, off, Buffer.byteLength(l) + 1));
      off += Buffer.byteLength(l) + 1;
    });
    assert.ok(out.length > 1);
    assert.ok(out.every((r) => r.truncated === true));
    assert.equal(out.map((r) => r.text).join(''), parts.join(''));
  });
});

/** Checks every record against the file bytes at its offset. `pathOf` maps a fileId to the file that has its bytes. */
function assertExact(records: readonly InputRecord[], pathOf: (fileId: string) => string): void {
  for (const r of records) {
    const { fileId, offset } = r.origin;
    assert.ok(fileId !== undefined && offset !== undefined);
    const at = bytesAt(pathOf(fileId), offset, r.text);
    assert.equal(at.text, r.text, `bytes at ${fileId}@${offset}`);
    assert.equal(at.next, '\n', `record at ${fileId}@${offset} ends at a newline`);
  }
}

function idOf(path: string): string {
  const st = statSync(path);
  return `${st.dev}:${st.ino}`;
}

describe('FileInput', () => {
  test('reads existing lines and lines appended while reading, with exact offsets; a partial line waits for its newline', async () => {
    const dir = tempDir();
    const path = join(dir, 'app.log');
    writeFileSync(path, `${numbered(0)}\n${numbered(1)}\n`);
    const c = new Collector();
    const input = fileInput([join(dir, '*.log')]);
    input.start(c.sink, []);
    await input.drained();
    await until(() => c.records.length === 2, '2 records');
    appendFileSync(path, `${numbered(2)}\npart`);
    await until(() => c.records.length === 3, '3 records');
    await sleep(50);
    assert.equal(c.records.length, 3, 'the partial line is not delivered');
    appendFileSync(path, `ial\n\n${numbered(3)}\n`);
    await until(() => c.records.length === 5, '5 records');
    await input.stop();
    assert.deepEqual(
      c.records.map((r) => r.text),
      [numbered(0), numbered(1), numbered(2), 'partial', numbered(3)],
    );
    assertExact(c.records, () => path);
    assert.ok(c.records.every((r) => r.input === 'files' && r.origin.file === path && r.origin.fileId === idOf(path)));
    assert.equal(c.latest()[0]!.offset, statSync(path).size);
    assert.equal(c.maxPending, 1);
  });

  test('rotation both ways (rename+create, copytruncate) under a continuous writer: every line once, in order, exact', async () => {
    const dir = tempDir();
    const path = join(dir, 'app.log');
    const N = 3000;
    const k = 250;
    const c = new Collector();
    const seenIds = new Set<string>();
    c.onCall = (rs) => {
      for (const r of rs) seenIds.add(r.origin.fileId!);
    };
    // Where each line's bytes end up: fileId, offset, and the file that finally holds them.
    const where: { fileId: string; offset: number; file: string }[] = [];
    const finalPath = new Map<string, string>(); // fileId → path holding its bytes (rename rotation)
    const copyOf = new Map<number, string>(); // line number → copy holding it (copytruncate)
    writeFileSync(path, '');
    const input = fileInput([path], { chunkBytes: 4096, batchMaxRecords: 100 });
    input.start(c.sink, []);
    let rotation = 0;
    const deliveredTo = (fileId: string): number => {
      let off = -1;
      for (const p of c.positions) if (p.fileId === fileId) off = p.offset;
      return off;
    };
    for (let n = 0; n < N; n++) {
      if (n > 0 && n % k === 0) {
        const id = idOf(path);
        // The reader must have opened this incarnation before it is rotated away (a polling tailer cannot see a file
        // that lived and was rotated between two polls).
        await until(() => seenIds.has(id), `reader saw ${id}`);
        rotation++;
        if (rotation % 2 === 1) {
          const to = `${path}.${rotation}`;
          renameSync(path, to);
          finalPath.set(id, to);
          writeFileSync(path, '');
        } else {
          // copytruncate loses what the reader had not read before the truncation (inherent); wait for it.
          const size = statSync(path).size;
          await until(() => deliveredTo(id) === size, 'reader caught up before copytruncate');
          const copy = `${path}.${rotation}`;
          copyFileSync(path, copy);
          for (let m = n - 1; m >= 0 && where[m]!.fileId === id && !copyOf.has(m); m--) copyOf.set(m, copy);
          truncateSync(path, 0);
          // The truncation must be seen before the file grows past the old offset again.
          const before = c.positions.length;
          await until(() => c.positions.slice(before).some((p) => p.fileId === id && p.offset === 0), 'truncation noticed');
        }
      }
      const offset = statSync(path).size;
      appendFileSync(path, `${numbered(n)}\n`);
      where.push({ fileId: idOf(path), offset, file: path });
      if (n % 7 === 0) await new Promise((r) => setImmediate(r));
    }
    await until(() => c.records.length >= N, `${N} records`, 30_000);
    await sleep(100);
    await input.stop();
    assert.equal(c.records.length, N, 'no line twice');
    const got = new Map<number, InputRecord>();
    for (const r of c.records) {
      const n = Number(/^line (\d+) /.exec(r.text)?.[1]);
      assert.ok(!got.has(n), `line ${n} once`);
      got.set(n, r);
      assert.equal(r.text, numbered(n));
      assert.equal(r.origin.fileId, where[n]!.fileId, `line ${n} fileId`);
      assert.equal(r.origin.offset, where[n]!.offset, `line ${n} offset`);
      const file = copyOf.get(n) ?? finalPath.get(where[n]!.fileId) ?? path;
      const at = bytesAt(file, r.origin.offset!, r.text);
      assert.equal(at.text, r.text);
      assert.equal(at.next, '\n');
    }
    // In order per file (per incarnation for copytruncate: offsets restart at 0 only after a truncation).
    const lastPerFile = new Map<string, number>();
    for (const r of c.records) {
      const n = Number(/^line (\d+) /.exec(r.text)?.[1]);
      const prev = lastPerFile.get(r.origin.fileId!);
      if (prev !== undefined) assert.ok(n > prev, `line ${n} after ${prev} in ${r.origin.fileId}`);
      lastPerFile.set(r.origin.fileId!, n);
    }
    assert.equal(c.maxPending, 1);
  });

  test('copytruncate: reading restarts at 0 with a warning', async () => {
    const dir = tempDir();
    const path = join(dir, 'ct.log');
    writeFileSync(path, 'one\ntwo\nthree\n');
    const warnings: string[] = [];
    const c = new Collector();
    const input = fileInput([path], { logger: { info() {}, error() {}, warn: (_o, m) => warnings.push(m) } });
    input.start(c.sink, []);
    await until(() => c.records.length === 3, '3 records');
    truncateSync(path, 0);
    await until(() => warnings.some((w) => w.includes('truncated')), 'truncation warning');
    appendFileSync(path, 'four\n');
    await until(() => c.records.length === 4, '4 records');
    await input.stop();
    assert.deepEqual(
      c.records.map((r) => [r.text, r.origin.offset, r.origin.generation]),
      [['one', 0, undefined], ['two', 4, undefined], ['three', 8, undefined], ['four', 0, 1]],
    );
    assert.deepEqual([c.latest()[0]!.offset, c.latest()[0]!.generation], [5, 1]);
    // The generation survives a restart (it is part of the saved position), so origins stay unique and stable.
    appendFileSync(path, 'five\n');
    const c2 = new Collector();
    const in2 = fileInput([path]);
    in2.start(c2.sink, c.latest());
    await until(() => c2.records.length === 1, 'five');
    await in2.stop();
    assert.deepEqual(c2.records.map((r) => [r.text, r.origin.offset, r.origin.generation]), [['five', 5, 1]]);
  });

  test('resume from the positions of a stopped input: no line twice, none missing', async () => {
    const dir = tempDir();
    const a = join(dir, 'a.log');
    const b = join(dir, 'b.log');
    writeFileSync(a, Array.from({ length: 1000 }, (_, i) => `${numbered(i)}\n`).join(''));
    writeFileSync(b, Array.from({ length: 700 }, (_, i) => `b${numbered(i)}\n`).join(''));
    const c1 = new Collector();
    const in1 = fileInput([join(dir, '*.log')], { batchMaxRecords: 37, chunkBytes: 1000 });
    let stopping: Promise<void> | undefined;
    c1.onCall = () => {
      if (c1.records.length >= 500 && stopping === undefined) stopping = in1.stop();
    };
    in1.start(c1.sink, []);
    await until(() => stopping !== undefined, 'stop requested');
    await stopping;
    assert.ok(c1.records.length < 1700, 'stopped before the end');
    appendFileSync(a, Array.from({ length: 100 }, (_, i) => `${numbered(1000 + i)}\n`).join(''));
    const c2 = new Collector();
    const in2 = fileInput([join(dir, '*.log')], { readFromStart: false });
    in2.start(c2.sink, c1.latest());
    await in2.drained();
    await input2Settled(c2, 1800 - c1.records.length);
    await in2.stop();
    const all = [...c1.records, ...c2.records];
    assert.equal(all.length, 1800);
    const key = (r: InputRecord) => `${r.origin.fileId}@${r.origin.offset}`;
    assert.equal(new Set(all.map(key)).size, 1800, 'no record twice');
    assert.deepEqual(new Set(all.map((r) => r.text)).size, 1800);
    assertExact(all, (id) => (id === idOf(a) ? a : b));
  });

  test('resume after a rename rotation while stopped: the rotated file is found by fileId and finished, the new one read', async () => {
    const dir = tempDir();
    const path = join(dir, 'app.log');
    const rotated = join(dir, 'app.log.1');
    writeFileSync(path, Array.from({ length: 300 }, (_, i) => `${numbered(i)}\n`).join(''));
    const oldId = idOf(path);
    const c1 = new Collector();
    const in1 = fileInput([join(dir, '*.log')], { batchMaxRecords: 20, chunkBytes: 512 });
    let stopping: Promise<void> | undefined;
    c1.onCall = () => {
      if (c1.records.length >= 100 && stopping === undefined) stopping = in1.stop();
    };
    in1.start(c1.sink, []);
    await until(() => stopping !== undefined, 'stop requested');
    await stopping;
    assert.ok(c1.records.length < 300);
    appendFileSync(path, Array.from({ length: 10 }, (_, i) => `${numbered(300 + i)}\n`).join(''));
    renameSync(path, rotated);
    writeFileSync(path, Array.from({ length: 50 }, (_, i) => `${numbered(310 + i)}\n`).join(''));
    const c2 = new Collector();
    const in2 = fileInput([join(dir, '*.log')]);
    in2.start(c2.sink, c1.latest());
    await in2.drained();
    await input2Settled(c2, 360 - c1.records.length);
    await in2.stop();
    const all = [...c1.records, ...c2.records];
    assert.deepEqual(all.map((r) => r.text).sort(), Array.from({ length: 360 }, (_, i) => numbered(i)).sort());
    assert.ok(all.filter((r) => r.origin.fileId === oldId).every((r) => r.origin.file === path), 'origin file as first opened');
    assertExact(all, (id) => (id === oldId ? rotated : path));
  });

  async function input2Settled(c: Collector, n: number): Promise<void> {
    await until(() => c.records.length >= n, `${n} records`);
    await sleep(50);
  }

  test('back-pressure: a sink that does not resolve stops reading (bytes behind grow), then reading resumes', async () => {
    const dir = tempDir();
    const path = join(dir, 'bp.log');
    writeFileSync(path, Array.from({ length: 100 }, (_, i) => `${numbered(i)}\n`).join(''));
    const c = new Collector();
    let release!: () => void;
    c.gate = new Promise<void>((r) => (release = r));
    const warnings: string[] = [];
    const infos: string[] = [];
    const logger = { error() {}, warn: (_o: object, m: string) => warnings.push(m), info: (_o: object, m: string) => infos.push(m) };
    const input = fileInput([path], { batchMaxRecords: 10, slowSinkWarnMs: 50, logger });
    input.start(c.sink, []);
    await until(() => c.calls === 1, 'first sink call');
    const behind0 = input.behind()[0]!.bytes;
    assert.ok(behind0 > 0);
    appendFileSync(path, Array.from({ length: 100 }, (_, i) => `${numbered(100 + i)}\n`).join(''));
    await sleep(200);
    assert.equal(c.calls, 1, 'no further sink call while one is pending');
    const behind1 = input.behind()[0]!.bytes;
    assert.ok(behind1 > behind0, `bytes behind grow (${behind0} → ${behind1})`);
    assert.ok(warnings.some((w) => w.startsWith('back-pressure')), 'back-pressure is logged');
    release();
    c.gate = undefined;
    await until(() => c.records.length === 200, '200 records');
    await until(() => input.behind()[0]!.bytes === 0, 'caught up');
    await input.stop();
    assert.ok(infos.some((m) => m.startsWith('back-pressure over')));
    assert.equal(c.maxPending, 1);
    assert.deepEqual(c.records.map((r) => r.text), Array.from({ length: 200 }, (_, i) => numbered(i)));
  });

  test('CRI: P/F joining across chunk boundaries; positions never inside an incomplete record', async () => {
    const dir = tempDir();
    const path = join(dir, 'pod.log');
    const lines: string[] = [];
    const expected: { text: string; stream: string }[] = [];
    const recordStarts = new Set<number>();
    const insideRecord: [number, number][] = [];
    let off = 0;
    const put = (l: string) => {
      lines.push(l);
      const o = off;
      off += Buffer.byteLength(l) + 1;
      return o;
    };
    for (let i = 0; i < 60; i++) {
      const stream = i % 3 === 0 ? 'stderr' : 'stdout';
      const nParts = 1 + (i % 4);
      const parts = Array.from({ length: nParts }, (_, j) => `m${i}.${j}${'ü'.repeat(j + (i % 3))};`);
      const start = off;
      parts.forEach((p, j) => put(`2024-05-06T07:08:09.${String(i).padStart(9, '0')}Z ${stream} ${j === nParts - 1 ? 'F' : 'P'} ${p}`));
      recordStarts.add(start);
      insideRecord.push([start, off]);
      expected.push({ text: parts.join(''), stream });
      if (i === 30) {
        put('garbage line');
        expected.push({ text: 'garbage line', stream: '' });
      }
    }
    writeFileSync(path, lines.map((l) => `${l}\n`).join(''));
    const c = new Collector();
    const input = fileInput([path], { cri: true, chunkBytes: 13, batchMaxRecords: 3 });
    input.start(c.sink, []);
    await input.drained();
    await input.stop();
    assert.deepEqual(
      c.records.map((r) => ({ text: r.text, stream: r.stream ?? '' })),
      expected,
    );
    const garbage = c.records.find((r) => r.malformed === true);
    assert.equal(garbage?.text, 'garbage line');
    for (const r of c.records) if (r.malformed !== true) assert.ok(recordStarts.has(r.origin.offset!), `offset ${r.origin.offset} is a first P line`);
    for (const p of c.positions) {
      for (const [s, e] of insideRecord) assert.ok(!(p.offset > s && p.offset < e), `position ${p.offset} inside record [${s}, ${e})`);
    }
    assert.equal(c.latest()[0]!.offset, off);
  });

  test('CRI: a record whose F line has not arrived yet keeps the position at its first P line', async () => {
    const dir = tempDir();
    const path = join(dir, 'pod.log');
    const f = '2024-05-06T07:08:09.000000001Z stdout F done\n';
    const p1 = '2024-05-06T07:08:09.000000002Z stdout P half';
    writeFileSync(path, `${f}${p1}\n`);
    const c = new Collector();
    const input = fileInput([path], { cri: true });
    input.start(c.sink, []);
    await input.drained();
    assert.deepEqual(c.records.map((r) => r.text), ['done']);
    assert.equal(c.latest()[0]!.offset, Buffer.byteLength(f));
    appendFileSync(path, '2024-05-06T07:08:09.000000003Z stdout F -way\n');
    await until(() => c.records.length === 2, 'joined record');
    await input.stop();
    assert.equal(c.records[1]!.text, 'half-way');
    assert.equal(c.records[1]!.origin.offset, Buffer.byteLength(f));
    assert.equal(c.records[1]!.criTime, '2024-05-06T07:08:09.000000002Z');
    assert.equal(c.latest()[0]!.offset, statSync(path).size);
  });

  test('a multibyte character across a chunk boundary decodes intact', async () => {
    const dir = tempDir();
    const path = join(dir, 'mb.log');
    const texts = ['a€b', '😀😀😀', 'ééééé', 'x'];
    writeFileSync(path, texts.map((t) => `${t}\n`).join(''));
    for (const chunkBytes of [1, 2, 3, 5]) {
      const c = new Collector();
      const input = fileInput([path], { chunkBytes });
      input.start(c.sink, []);
      await input.drained();
      await input.stop();
      assert.deepEqual(c.records.map((r) => r.text), texts, `chunkBytes ${chunkBytes}`);
      assertExact(c.records, () => path);
    }
  });

  test('over-long lines are split and flagged, never dropped', async () => {
    const dir = tempDir();
    const path = join(dir, 'long.log');
    const long = 'L'.repeat(100);
    writeFileSync(path, `short\n${long}\nend\n`);
    const c = new Collector();
    const input = fileInput([path], { maxLineBytes: 32, chunkBytes: 7 });
    input.start(c.sink, []);
    await input.drained();
    await input.stop();
    const pieces = c.records.filter((r) => r.truncated === true);
    assert.equal(pieces.map((r) => r.text).join(''), long);
    assert.equal(pieces[0]!.origin.offset, 6);
    assert.deepEqual(c.records.filter((r) => r.truncated !== true).map((r) => r.text), ['short', 'end']);
  });

  test('the real fixtures (ingress-nginx, traefik), read as files: each non-empty line one record, exact', async () => {
    for (const f of ['ingress-nginx/beats-ingress_controller-test.log', 'traefik/beats-traefik-access-test.log']) {
      const path = join(fixturesDir, f);
      const content = readFileSync(path, 'utf8');
      const expected = content.split('\n').filter((l, i, all) => l.length > 0 && (i < all.length - 1 || content.endsWith('\n')));
      const c = new Collector();
      const input = fileInput([path], { chunkBytes: 1000 });
      input.start(c.sink, []);
      await input.drained();
      await input.stop();
      assert.ok(expected.length > 0);
      assert.deepEqual(c.records.map((r) => r.text), expected, f);
      assertExact(c.records, () => path);
    }
  });

  test('new files matching the glob are picked up from 0; deleted files are read to their end and forgotten', async () => {
    const dir = tempDir();
    const a = join(dir, 'a.log');
    writeFileSync(a, 'old\n');
    const c = new Collector();
    const input = fileInput([join(dir, '*.log')], { readFromStart: false });
    input.start(c.sink, []);
    await input.drained();
    const b = join(dir, 'b.log');
    writeFileSync(b, 'b1\nb2\n');
    appendFileSync(a, 'a-new\n');
    await until(() => c.records.length === 3, '3 records');
    assert.deepEqual(c.records.map((r) => r.text).sort(), ['a-new', 'b1', 'b2']);
    appendFileSync(b, 'b3\n');
    unlinkSync(b);
    await until(() => c.records.length === 4, 'b3 after deletion');
    await until(() => input.behind().length === 1, 'deleted file forgotten');
    await input.stop();
    assert.equal(input.behind().length, 0);
  });

  test('throughput (reported, not asserted): 200k lines, a sink that counts', async (t) => {
    const dir = tempDir();
    const path = join(dir, 'big.log');
    const line = '10.0.0.1 - - [02/Oct/2017:20:22:07 +0000] "GET /api/v1/items?page=2 HTTP/1.1" 200 512 "-" "curl/8.0" 123 0.004';
    const N = 200_000;
    writeFileSync(path, Array.from({ length: N }, (_, i) => `${line} ${i}\n`).join(''));
    let count = 0;
    const input = new FileInput({ name: 'bench', paths: [path], pollIntervalMs: 10 });
    const t0 = process.hrtime.bigint();
    input.start(async (rs) => {
      count += rs.length;
    }, []);
    await input.drained();
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    await input.stop();
    assert.equal(count, N);
    const msg = `FileInput throughput: ${N} lines in ${secs.toFixed(3)} s = ${Math.round(N / secs)} records/s`;
    t.diagnostic(msg);
    console.log(msg);
    // The same in CRI format, every record split into a P and an F line (400k lines).
    const cri = join(dir, 'cri.log');
    writeFileSync(cri, Array.from({ length: N }, (_, i) => `2024-05-06T07:08:09.123456789Z stdout P ${line.slice(0, 40)}\n2024-05-06T07:08:09.123456789Z stdout F ${line.slice(40)} ${i}\n`).join(''));
    let criCount = 0;
    const criInput = new FileInput({ name: 'bench', paths: [cri], cri: true, pollIntervalMs: 10 });
    const t1 = process.hrtime.bigint();
    criInput.start(async (rs) => {
      criCount += rs.length;
    }, []);
    await criInput.drained();
    const criSecs = Number(process.hrtime.bigint() - t1) / 1e9;
    await criInput.stop();
    assert.equal(criCount, N);
    const criMsg = `FileInput CRI throughput: ${N} records (${2 * N} P/F lines) in ${criSecs.toFixed(3)} s = ${Math.round(N / criSecs)} records/s`;
    t.diagnostic(criMsg);
    console.log(criMsg);
  });
});

describe('StdinInput', () => {
  test('records with stream offsets, one sink call at a time, drained at end of stream (unterminated last line included)', async () => {
    const stream = new PassThrough();
    const c = new Collector();
    const input = new StdinInput({ name: 'stdin', stream, batchMaxRecords: 2 });
    input.start(c.sink, []);
    stream.write('first\nsec');
    stream.write('ond\n€');
    stream.write(Buffer.from('€').subarray(0, 1));
    stream.write(Buffer.concat([Buffer.from('€').subarray(1), Buffer.from('\n\nlast')]));
    stream.end();
    await input.drained();
    await input.stop();
    assert.deepEqual(
      c.records.map((r) => [r.text, r.origin.offset, r.origin.fileId, r.truncated]),
      [
        ['first', 0, 'stdin', undefined],
        ['second', 6, 'stdin', undefined],
        ['€€', 13, 'stdin', undefined],
        ['last', 21, 'stdin', undefined],
      ],
    );
    assert.equal(c.maxPending, 1);
    assert.equal(c.latest()[0]!.offset, 25);
  });

  test('CRI on standard input; a pipe writer is back-pressured by a pending sink call', async () => {
    const stream = new PassThrough({ highWaterMark: 64 });
    const c = new Collector();
    let release!: () => void;
    c.gate = new Promise<void>((r) => (release = r));
    const input = new StdinInput({ name: 'stdin', stream, cri: true, batchMaxRecords: 1 });
    input.start(c.sink, []);
    const first = '2024-05-06T07:08:09.1Z stdout P ab\n2024-05-06T07:08:09.2Z stdout F cd\n';
    stream.write(first);
    await until(() => c.calls === 1, 'first call');
    let accepted = true;
    for (let i = 0; i < 50 && accepted; i++) accepted = stream.write(`2024-05-06T07:08:09.3Z stderr F line ${i}\n`);
    assert.equal(accepted, false, 'the stream reports back-pressure while the sink is pending');
    assert.equal(c.calls, 1);
    release();
    c.gate = undefined;
    stream.end();
    await input.drained();
    await input.stop();
    assert.deepEqual(c.records[0], { input: 'stdin', text: 'abcd', origin: { file: '-', fileId: 'stdin', offset: 0 }, stream: 'stdout', criTime: '2024-05-06T07:08:09.1Z' });
    assert.ok(c.records.slice(1).every((r, i) => r.text === `line ${i}` && r.stream === 'stderr'));
    assert.equal(c.maxPending, 1);
  });

  test('stop() ends reading', async () => {
    const stream = new PassThrough();
    const c = new Collector();
    const input = new StdinInput({ name: 'stdin', stream });
    input.start(c.sink, []);
    stream.write('a\n');
    await until(() => c.records.length === 1, '1 record');
    await input.stop();
    await assert.rejects(input.drained());
  });
});
