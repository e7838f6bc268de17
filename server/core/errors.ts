/**
 * Coded errors of the pure core and of the log.
 *
 * Every failure that reaches a client carries one of these codes; `server/errors.ts` holds the one table
 * that maps each code to an HTTP status and a gRPC status. The code doubles as a metrics label.
 *
 * Three tiers (style.md §8.4): untrusted input that is malformed or fails verification throws a
 * {@link TlogError}; a failure that carries evidence (two inconsistent checkpoints) throws an
 * `InconsistencyError` (clients); a broken internal invariant throws a plain `Error("tlog: bad math …")`.
 */
export type ErrorCode =
  | 'MALFORMED' // untrusted input does not parse (path, number, base64, note, checkpoint, body)
  | 'NOT_FOUND' // no such path, entry, tile or leaf hash
  | 'OUT_OF_RANGE' // an index or size beyond the tree
  | 'METHOD_NOT_ALLOWED'
  | 'TOO_LARGE' // an entry over 65,535 bytes, or a body over the request limit
  | 'REQUEST_TIMEOUT' // the request body did not arrive within the request timeout
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'NOT_ACCEPTABLE'
  | 'PUSHBACK' // the pool is full or the log is draining: retry later
  | 'UNAVAILABLE' // storage cannot write right now (disk full, I/O error): retry later
  | 'RATE_LIMITED' // a submitter is over its quota
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'VERIFICATION_FAILED' // a signature or proof does not verify
  | 'INCONSISTENT' // two tree heads that cannot both be right
  | 'NOT_LEADER' // a frontend of a shared log could not reach the leader (failover in progress): retry later
  | 'INTERNAL';

/** An error with a stable code, safe to show to a client (the message never contains secrets). */
export class TlogError extends Error {
  readonly code: ErrorCode;
  /** Seconds the client should wait before retrying (PUSHBACK, RATE_LIMITED). */
  readonly retryAfter: number | undefined;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryAfter?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TlogError';
    this.code = code;
    this.retryAfter = options?.retryAfter;
  }
}

/** Shorthand for `new TlogError('MALFORMED', message)`. */
export function malformed(message: string): TlogError {
  return new TlogError('MALFORMED', message);
}

/** Throws for a broken internal invariant: a bug, never bad input. */
export function badMath(what: string): never {
  throw new Error(`tlog: bad math: ${what}`);
}
