/**
 * Strict parsers for untrusted text (style.md §8.4).
 *
 * Node's `BigInt("")` is `0n`, `BigInt("0x10")` is `16n`, and `Buffer.from(s, "base64")` silently drops junk:
 * none of them is used unguarded on wire input. Every parser here accepts exactly the canonical form, so
 * `format(parse(s)) === s` for every accepted `s`.
 */
import { malformed } from './errors.js';

/** The largest tree size or index this log handles: 2^63 - 1 (tlog-cosignature bounds timestamps the same way). */
export const MAX_INT63 = (1n << 63n) - 1n;

const DECIMAL = /^(0|[1-9][0-9]*)$/;

/**
 * Parses a canonical decimal: `^(0|[1-9][0-9]*)$`, no sign, no leading zeros, value ≤ `max`.
 * Throws a MALFORMED {@link TlogError} naming `what` otherwise.
 */
export function parseDecimal(s: string, what = 'number', max: bigint = MAX_INT63): bigint {
  if (s.length > 20 || !DECIMAL.test(s)) throw malformed(`${what}: not a canonical decimal integer`);
  const n = BigInt(s);
  if (n > max) throw malformed(`${what}: ${s} is larger than ${max}`);
  return n;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes standard, padded base64 (RFC 4648 §4) that round-trips to the same string; else MALFORMED. */
export function decodeBase64Strict(s: string, what = 'base64'): Uint8Array {
  if (!BASE64.test(s)) throw malformed(`${what}: not canonical base64`);
  const b = Buffer.from(s, 'base64');
  if (b.toString('base64') !== s) throw malformed(`${what}: not canonical base64`);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Decodes standard base64 that must be exactly `length` bytes long. */
export function decodeBase64Exact(s: string, length: number, what = 'base64'): Uint8Array {
  const b = decodeBase64Strict(s, what);
  if (b.length !== length) throw malformed(`${what}: want ${length} bytes, got ${b.length}`);
  return b;
}

/** Encodes bytes as standard, padded base64 (RFC 4648 §4). */
export function encodeBase64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

const HEX = /^(?:[0-9a-f]{2})*$/;

/** Decodes lowercase hex of exactly `length` bytes; else MALFORMED. */
export function decodeHexExact(s: string, length: number, what = 'hex'): Uint8Array {
  if (s.length !== length * 2 || !HEX.test(s)) throw malformed(`${what}: want ${length * 2} lowercase hex digits`);
  const b = Buffer.from(s, 'hex');
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Encodes bytes as lowercase hex. */
export function encodeHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** Constant-shape byte comparison (not secret-dependent timing: hashes here are public). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
