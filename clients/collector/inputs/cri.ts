/**
 * The CRI container log format (kubelet / containerd / CRI-O, the files of /var/log/containers/*.log), pure.
 *
 * Each line is `<RFC3339Nano time> <stdout|stderr> <tags> <message>` (Kubernetes CRI, "container log format";
 * tags are `P` for a partial line, `F` for the full / last part). The runtime splits a long message into P parts
 * followed by one F part of the same stream; the parts of stdout and stderr may interleave. The assembler joins them:
 * the record's offset is that of its first P line, and `pendingStart()` tells how far a position may advance without
 * skipping an incomplete record (so a restart re-reads the whole record).
 */

/** One parsed CRI line. */
export interface CriLine {
  readonly time: string;
  readonly stream: 'stdout' | 'stderr';
  readonly partial: boolean;
  readonly message: string;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;

/** Parses one CRI line (without its '\n'); undefined if it is not in CRI format. Never throws. */
export function parseCriLine(line: string): CriLine | undefined {
  const s1 = line.indexOf(' ');
  if (s1 < 0) return undefined;
  const s2 = line.indexOf(' ', s1 + 1);
  if (s2 < 0) return undefined;
  const time = line.slice(0, s1);
  const streamText = line.slice(s1 + 1, s2);
  if (streamText !== 'stdout' && streamText !== 'stderr') return undefined;
  let s3 = line.indexOf(' ', s2 + 1);
  const tag = s3 < 0 ? line.slice(s2 + 1) : line.slice(s2 + 1, s3);
  if (tag !== 'P' && tag !== 'F') return undefined;
  if (!RFC3339.test(time)) return undefined;
  if (s3 < 0) s3 = line.length;
  return { time, stream: streamText, partial: tag === 'P', message: line.slice(s3 + 1) };
}

/** A record assembled from CRI lines (or a malformed line passed through as text). */
export interface CriRecord {
  readonly text: string;
  readonly offset: number;
  readonly stream?: 'stdout' | 'stderr';
  readonly criTime?: string;
  readonly truncated?: true;
  readonly malformed?: true;
}

interface Pending {
  readonly offset: number;
  readonly time: string;
  readonly parts: string[];
  bytes: number;
  readonly continued: boolean; // continues an over-long record already emitted in part
}

/**
 * Joins P parts to the following F part of the same stream. `maxRecordBytes` bounds a joined message: when the parts
 * of one record exceed it, what is pending is emitted flagged `truncated` and a new record starts at the next part.
 */
export class CriAssembler {
  private readonly pending: { stdout?: Pending; stderr?: Pending } = {};

  constructor(readonly maxRecordBytes: number) {}

  /**
   * Feeds one line that starts at byte `offset` and is `bytes` long (without '\n'); returns the records it completes
   * (zero, one, or two when an over-long pending record is flushed first). `truncated` marks a piece of an over-long
   * raw line, which is passed through as malformed text (a raw CRI line is never that long in practice).
   */
  push(line: string, offset: number, bytes: number, truncated = false): CriRecord[] {
    const parsed = truncated ? undefined : parseCriLine(line);
    if (parsed === undefined) {
      return [truncated ? { text: line, offset, malformed: true, truncated: true } : { text: line, offset, malformed: true }];
    }
    const out: CriRecord[] = [];
    let p = this.pending[parsed.stream];
    let continued = false;
    if (p !== undefined && p.bytes + bytes > this.maxRecordBytes) {
      continued = true;
      out.push({ text: p.parts.join(''), offset: p.offset, stream: parsed.stream, criTime: p.time, truncated: true });
      p = undefined;
      delete this.pending[parsed.stream];
    }
    if (parsed.partial) {
      if (p === undefined) this.pending[parsed.stream] = { offset, time: parsed.time, parts: [parsed.message], bytes, continued };
      else {
        p.parts.push(parsed.message);
        p.bytes += bytes;
      }
      return out;
    }
    if (p === undefined) {
      const r: CriRecord = { text: parsed.message, offset, stream: parsed.stream, criTime: parsed.time };
      out.push(continued ? { ...r, truncated: true } : r);
    } else {
      p.parts.push(parsed.message);
      delete this.pending[parsed.stream];
      const r: CriRecord = { text: p.parts.join(''), offset: p.offset, stream: parsed.stream, criTime: p.time };
      out.push(p.continued ? { ...r, truncated: true } : r);
    }
    return out;
  }

  /** The offset of the first P line of the oldest incomplete record, or undefined if none is pending. */
  pendingStart(): number | undefined {
    const a = this.pending.stdout?.offset;
    const b = this.pending.stderr?.offset;
    if (a === undefined) return b;
    if (b === undefined) return a;
    return Math.min(a, b);
  }

  /** Incomplete records, emitted as truncated (used when a file is truncated under us); clears them. */
  flushPending(): CriRecord[] {
    const out: CriRecord[] = [];
    for (const stream of ['stdout', 'stderr'] as const) {
      const p = this.pending[stream];
      if (p !== undefined) out.push({ text: p.parts.join(''), offset: p.offset, stream, criTime: p.time, truncated: true });
      delete this.pending[stream];
    }
    return out.sort((x, y) => x.offset - y.offset);
  }

  /** Forgets incomplete records. */
  reset(): void {
    delete this.pending.stdout;
    delete this.pending.stderr;
  }
}
