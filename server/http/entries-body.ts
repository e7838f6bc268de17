/**
 * Decoding of `POST /v1/entries` bodies into entries (untrusted input).
 *
 * - `application/octet-stream`: the body is one entry, byte for byte.
 * - `application/json`: one JSON value, or an array of values; each value becomes one entry, as its RFC 8785
 *   (JCS) canonical UTF-8 bytes, so the same event always has the same leaf hash whatever its formatting.
 * - `application/x-ndjson` (also `application/jsonl`, `application/x-jsonlines`): one JSON value per line; blank
 *   lines are skipped; each value becomes one entry as above.
 * Content-Encoding (gzip, deflate) is undone before this code runs.
 */
import { isUtf8 } from 'node:buffer';
import { TlogError, malformed } from '../core/errors.js';
import { canonicalBytes } from '../ingest/canonical.js';

const NDJSON = new Set(['application/x-ndjson', 'application/jsonl', 'application/x-jsonlines', 'application/ndjson']);

/** The media type of a Content-Type header value, lowercased, without parameters. */
export function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** JSON.parse of untrusted text; MALFORMED naming `where` on a syntax error. */
export function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw malformed(`${where}: invalid JSON (${(err as Error).message})`);
  }
}

/** The body as text; MALFORMED unless it is valid UTF-8. */
export function decodeUtf8(body: Uint8Array): string {
  const b = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (!isUtf8(b)) throw malformed('body is not valid UTF-8');
  return b.toString('utf8');
}

/**
 * The JSON values of a body: `application/json` (one value, or an array of values) or NDJSON (one per line;
 * blank lines skipped). `where(i)` names value i in error messages.
 */
export function decodeJsonValues(contentType: string | undefined, body: Uint8Array): { values: unknown[]; where: (i: number) => string } {
  const type = mediaType(contentType);
  if (type === 'application/json') {
    const value = parseJson(decodeUtf8(body), 'body');
    if (Array.isArray(value)) {
      if (value.length === 0) throw malformed('body: an empty array holds no entries');
      return { values: value, where: (i) => `entry ${i}` };
    }
    return { values: [value], where: () => 'body' };
  }
  if (NDJSON.has(type)) {
    // Split while still bytes: one large string per request is slow to allocate, one small string per line is not.
    const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    const values: unknown[] = [];
    const lines: number[] = [];
    let start = 0;
    for (let line = 1; start <= buf.length; line++) {
      let end = buf.indexOf(0x0a, start);
      if (end < 0) end = buf.length;
      let stop = end;
      if (stop > start && buf[stop - 1] === 0x0d) stop--;
      const bytes = buf.subarray(start, stop);
      start = end + 1;
      const text = decodeUtf8(bytes);
      if (text.trim() === '') continue;
      values.push(parseJson(text, `line ${line}`));
      lines.push(line);
    }
    if (values.length === 0) throw malformed('body: no entries');
    return { values, where: (i) => `line ${lines[i] ?? '?'}` };
  }
  throw new TlogError('UNSUPPORTED_MEDIA_TYPE', `Content-Type ${JSON.stringify(type)} is not supported; use application/json or application/x-ndjson`);
}

/** Splits a request body into entries according to its Content-Type. */
export function decodeEntries(contentType: string | undefined, body: Uint8Array): Uint8Array[] {
  const type = mediaType(contentType);
  if (type === 'application/octet-stream') return [body];
  if (type !== 'application/json' && !NDJSON.has(type)) {
    throw new TlogError('UNSUPPORTED_MEDIA_TYPE', `Content-Type ${JSON.stringify(type)} is not supported; use application/octet-stream, application/json or application/x-ndjson`);
  }
  const { values, where } = decodeJsonValues(contentType, body);
  return values.map((v, i) => canonicalBytes(v, where(i)));
}
