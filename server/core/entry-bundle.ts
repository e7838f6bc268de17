/**
 * C2SP tlog-tiles entry bundles: the concatenation of `uint16 big-endian length || entry` for up to 256
 * consecutive entries. SPEC: c2sp.org/tlog-tiles#log-entries
 *
 * The uint16 prefix caps an entry at {@link MAX_ENTRY_SIZE} bytes; larger input is rejected, never truncated.
 */
import { TlogError, malformed } from './errors.js';
import { TILE_WIDTH } from './tile.js';

/** The largest entry an entry bundle can hold: 65,535 bytes (uint16 length prefix). */
export const MAX_ENTRY_SIZE = 0xffff;

/** Throws TOO_LARGE unless 0 ≤ entry.length ≤ 65,535. */
export function checkEntrySize(entry: Uint8Array, what = 'entry'): void {
  if (entry.length > MAX_ENTRY_SIZE) {
    throw new TlogError('TOO_LARGE', `${what} is ${entry.length} bytes; entries are at most ${MAX_ENTRY_SIZE} bytes (tlog-tiles uint16 length prefix)`);
  }
}

/** Encodes entries as an entry bundle. Requires each entry ≤ 65,535 bytes and at most 256 entries. */
export function encodeEntryBundle(entries: readonly Uint8Array[]): Uint8Array {
  if (entries.length > TILE_WIDTH) throw new RangeError('an entry bundle holds at most 256 entries');
  let size = 0;
  for (const e of entries) {
    checkEntrySize(e);
    size += 2 + e.length;
  }
  const out = Buffer.allocUnsafe(size);
  let off = 0;
  for (const e of entries) {
    out.writeUInt16BE(e.length, off);
    out.set(e, off + 2);
    off += 2 + e.length;
  }
  return out;
}

/**
 * Decodes an entry bundle (untrusted): every byte must belong to an entry, at most 256 entries.
 * With `width`, exactly that many entries are required. Entries are views into `data`.
 */
export function decodeEntryBundle(data: Uint8Array, width?: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let off = 0;
  while (off < data.length) {
    if (out.length === TILE_WIDTH) throw malformed('entry bundle holds more than 256 entries');
    if (off + 2 > data.length) throw malformed('entry bundle: truncated length prefix');
    const n = ((data[off] as number) << 8) | (data[off + 1] as number);
    if (off + 2 + n > data.length) throw malformed('entry bundle: truncated entry');
    out.push(data.subarray(off + 2, off + 2 + n));
    off += 2 + n;
  }
  if (width !== undefined && out.length !== width) throw malformed(`entry bundle: want ${width} entries, got ${out.length}`);
  return out;
}

/**
 * Byte length of the first `count` entries of an encoded bundle (a trusted bundle, as stored by this log):
 * the bytes of the partial bundle `.p/<count>`. Throws RangeError if the bundle holds fewer entries.
 */
export function entryBundlePrefixLength(data: Uint8Array, count: number): number {
  let off = 0;
  for (let i = 0; i < count; i++) {
    if (off + 2 > data.length) throw new RangeError('entry bundle holds fewer entries than requested');
    off += 2 + (((data[off] as number) << 8) | (data[off + 1] as number));
  }
  if (off > data.length) throw new RangeError('entry bundle holds fewer entries than requested');
  return off;
}
