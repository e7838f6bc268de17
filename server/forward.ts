/**
 * Forwarding of writes from a frontend that does not lead to the one that does (issue #11: "a frontend that is not
 * the leader forwards to it … a client never has to know which one leads").
 *
 * Wire format (internal, between frontends of one log only): `POST <leader url>/internal/v1/sequence` with
 * `Authorization: Tilelog-Forward <token>` and a JSON body `{"entries":[b64…],"identities":[b64|null…]}`; the
 * leader answers `{"results":[{"leafIndex":"<decimal>","leafHash":"<b64>","duplicate":bool}…]}` once the entries
 * are durably sequenced, or the JSON error body of the one error table (server/errors.ts).
 *
 * The token is derived from the log's signing key ({@link forwardToken}): every frontend of a log holds that key, so
 * no further secret needs configuring, and nobody without the key can make a leader sequence for them
 * (writer authentication happened at the frontend that received the request).
 */
import { timingSafeEqual } from 'node:crypto';
import { TlogError, type ErrorCode } from './core/errors.js';
import type { Hash } from './core/hash.js';
import type { NoteSigner } from './core/note.js';
import { ERROR_TABLE } from './errors.js';
import type { AddResult } from './sequencer.js';
import { decodeBase64Exact, decodeBase64Strict, encodeBase64, parseDecimal } from './core/strict.js';

/** The path of the leader's internal sequencing endpoint. */
export const FORWARD_PATH = '/internal/v1/sequence';
const SCHEME = 'Tilelog-Forward ';

/**
 * The bearer token of forwarded requests: the log key's Ed25519 signature (deterministic, RFC 8032) of a fixed
 * message naming the origin, base64url. Only holders of the private key can compute it.
 */
export function forwardToken(signer: NoteSigner, origin: string): string {
  return Buffer.from(signer.sign(Buffer.from(`tilelog forward token v1\n${origin}\n`, 'utf8'))).toString('base64url');
}

/** True if an `Authorization` header carries `token` (constant-time comparison). */
export function checkForwardAuthorization(header: string | undefined, token: string): boolean {
  if (header === undefined || !header.startsWith(SCHEME)) return false;
  const got = Buffer.from(header.slice(SCHEME.length), 'utf8');
  const want = Buffer.from(token, 'utf8');
  return got.length === want.length && timingSafeEqual(got, want);
}

/** The request body of a forwarded write. */
export function encodeForwardRequest(entries: readonly Uint8Array[], identities?: readonly (Hash | undefined)[]): string {
  return JSON.stringify({ entries: entries.map(encodeBase64), ...(identities !== undefined ? { identities: identities.map((h) => (h === undefined ? null : encodeBase64(h))) } : {}) });
}

/** Parses a forwarded write strictly (MALFORMED otherwise). */
export function decodeForwardRequest(body: unknown): { entries: Uint8Array[]; identities: (Hash | undefined)[] | undefined } {
  const o = body as { entries?: unknown; identities?: unknown } | null;
  if (o === null || typeof o !== 'object' || !Array.isArray(o.entries)) throw new TlogError('MALFORMED', 'forwarded write: want {"entries":[…]}');
  const entries = o.entries.map((e, i) => {
    if (typeof e !== 'string') throw new TlogError('MALFORMED', `forwarded write: entries[${i}] is not base64`);
    return decodeBase64Strict(e, `entries[${i}]`);
  });
  let identities: (Hash | undefined)[] | undefined;
  if (o.identities !== undefined) {
    if (!Array.isArray(o.identities) || o.identities.length !== entries.length) throw new TlogError('MALFORMED', 'forwarded write: identities must match entries');
    identities = o.identities.map((h, i) => {
      if (h === null) return undefined;
      if (typeof h !== 'string') throw new TlogError('MALFORMED', `forwarded write: identities[${i}] is not base64`);
      return decodeBase64Exact(h, 32, `identities[${i}]`);
    });
  }
  return { entries, identities };
}

/** The response body of a forwarded write. */
export function encodeForwardResults(results: readonly AddResult[]): string {
  return JSON.stringify({ results: results.map((r) => ({ leafIndex: r.leafIndex.toString(), leafHash: encodeBase64(r.leafHash), duplicate: r.duplicate })) });
}

/**
 * A forwarded write that may be sent again: the connection was refused (it never reached the leader), or the lease
 * moved to a new leader while it was in flight (the old leader is fenced; what it committed before is found by
 * duplicate detection).
 */
export class LeaderUnreachable extends Error {
  constructor(
    readonly url: string,
    options?: { cause?: unknown },
  ) {
    super(`the leader at ${url} is unreachable`, options);
    this.name = 'LeaderUnreachable';
  }
}

/** Sends forwarded writes to the leader over HTTP (Node's fetch, keep-alive). */
export class Forwarder {
  constructor(
    private readonly token: string,
    private readonly timeoutMs = 30_000,
    /** Called with the number of entries of every forwarded write the leader acknowledged (metrics). */
    private readonly onForwarded: (entries: number) => void = () => {},
  ) {}

  /**
   * Forwards `entries` to the leader at `url` and resolves with its results. Rejects with the leader's TlogError
   * (same code, message and Retry-After), or with {@link LeaderUnreachable} when the connection was refused (the
   * request did not reach it), or INTERNAL/UNAVAILABLE otherwise (the outcome is unknown: the entries may be in).
   */
  async add(url: string, entries: readonly Uint8Array[], identities?: readonly (Hash | undefined)[], leaderChanged?: AbortSignal): Promise<AddResult[]> {
    let res: Response;
    try {
      const timeout = AbortSignal.timeout(this.timeoutMs);
      res = await fetch(url + FORWARD_PATH, {
        method: 'POST',
        headers: { authorization: SCHEME + this.token, 'content-type': 'application/json' },
        body: encodeForwardRequest(entries, identities),
        signal: leaderChanged === undefined ? timeout : AbortSignal.any([timeout, leaderChanged]),
      });
    } catch (err) {
      // The lease moved on while this write was in flight (the old leader hangs or died): the new leader fenced
      // it, so it can no longer commit anything; send the write to the new leader (a write the old one committed
      // before the fence is found there as a duplicate).
      if (leaderChanged?.aborted === true) throw new LeaderUnreachable(url, { cause: err });
      const code = (err as { cause?: { code?: string } }).cause?.code;
      if (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') throw new LeaderUnreachable(url, { cause: err });
      throw new TlogError('UNAVAILABLE', 'the write was forwarded to the leader, which did not answer; retry (a duplicate is detected)', { cause: err, retryAfter: 1 });
    }
    const text = await res.text().catch(() => '');
    // The lease moved while the answer was arriving: as above, send the write to the new leader.
    if (leaderChanged?.aborted === true && res.status !== 200) throw new LeaderUnreachable(url);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new TlogError('UNAVAILABLE', `the leader answered ${res.status} without a JSON body; retry`, { retryAfter: 1 });
    }
    const o = body !== null && typeof body === 'object' ? (body as { error?: unknown; results?: unknown }) : {};
    if (res.status !== 200) {
      const e = o.error !== null && typeof o.error === 'object' ? (o.error as { code?: unknown; message?: unknown }) : {};
      // Only a code of the one error table (an own key: not "constructor", "toString" …).
      const code: ErrorCode = typeof e.code === 'string' && Object.hasOwn(ERROR_TABLE, e.code) ? (e.code as ErrorCode) : 'UNAVAILABLE';
      const message = typeof e.message === 'string' ? e.message : `the leader answered ${res.status}`;
      const ra = Number(res.headers.get('retry-after') ?? '');
      throw new TlogError(code, message, Number.isInteger(ra) && ra > 0 ? { retryAfter: ra } : {});
    }
    const results = o.results;
    if (!Array.isArray(results) || results.length !== entries.length) throw new TlogError('INTERNAL', 'the leader answered with the wrong number of results');
    const parsed = results.map(parseForwardResult);
    this.onForwarded(entries.length);
    return parsed;
  }
}

/**
 * One result of the leader's answer, strictly: a canonical decimal leafIndex ≤ 2^63-1, a 32-byte leafHash and a
 * boolean; INTERNAL otherwise (the leader misbehaved: never reported to the client as its own MALFORMED request).
 */
function parseForwardResult(r: unknown): AddResult {
  const o = r !== null && typeof r === 'object' ? (r as { leafIndex?: unknown; leafHash?: unknown; duplicate?: unknown }) : {};
  if (typeof o.leafIndex !== 'string' || typeof o.leafHash !== 'string' || typeof o.duplicate !== 'boolean') throw new TlogError('INTERNAL', 'the leader answered a malformed result');
  try {
    return { leafIndex: parseDecimal(o.leafIndex, 'leafIndex'), leafHash: decodeBase64Exact(o.leafHash, 32, 'leafHash'), duplicate: o.duplicate };
  } catch (err) {
    throw new TlogError('INTERNAL', `the leader answered a malformed result (${err instanceof Error ? err.message : String(err)})`);
  }
}
