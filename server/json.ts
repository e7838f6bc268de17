/**
 * JSON output with exact 64-bit integers: `bigint` values are written as JSON numbers with all their digits
 * (JSON.stringify cannot, and a double loses precision past 2^53). Go's encoding/json and most JSON parsers
 * read them exactly; JavaScript clients should parse with a bigint-aware reader for indexes past 2^53.
 */
import { randomBytes } from 'node:crypto';

// A per-process nonce makes the marker unguessable, so no string from elsewhere can pass for a bigint.
const NONCE = randomBytes(8).toString('hex');
const MARK = `\u0000bigint-${NONCE}:`;
const UNMARK = new RegExp(`"\\\\u0000bigint-${NONCE}:(-?[0-9]+)"`, 'g');

/** JSON.stringify, but bigint → exact JSON number. */
export function stringifyJson(value: unknown): string {
  const s = JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `${MARK}${v.toString()}` : v));
  return s.replace(UNMARK, '$1');
}
