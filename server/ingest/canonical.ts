/**
 * RFC 8785 (JCS) canonical JSON: the one place every entry built from JSON is serialised, so that the same record
 * always has the same bytes (and leaf hash) whichever front end it came through.
 */
import canonicalize from 'canonicalize';
import { malformed } from '../core/errors.js';

const jcs = canonicalize as unknown as (v: unknown) => string | undefined;

/**
 * Canonical UTF-8 bytes of a JSON value. MALFORMED (naming `where`) when it has none: numbers outside IEEE-754
 * doubles (JSON's 1e400 parses as Infinity), absurd nesting, or no JSON value at all.
 */
export function canonicalBytes(value: unknown, where: string): Uint8Array {
  let s: string | undefined;
  try {
    s = jcs(value);
  } catch (err) {
    throw malformed(`${where}: cannot be canonicalized (RFC 8785): ${err instanceof RangeError ? 'nested too deeply' : (err as Error).message}`);
  }
  if (s === undefined) throw malformed(`${where}: not a JSON value`);
  return Buffer.from(s, 'utf8');
}
