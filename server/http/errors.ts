/**
 * HTTP side of the one error table: turns any thrown value into `{"error":{"code","message"}}` with the status
 * from `ERROR_TABLE`. Errors from the body parser (too large, bad encoding, aborted) are mapped too: a client's
 * mistake is never a 500.
 */
import type { NextFunction, Request, Response } from 'express';
import { TlogError } from '../core/errors.js';
import { ERROR_TABLE, errorBody, toTlogError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';

interface BodyParserError {
  type?: string;
  status?: number;
  limit?: number;
}

/** Maps body-parser / raw-body / zlib errors to coded errors: a client's mistake is never a 500. */
export function fromBodyParser(err: unknown): TlogError | undefined {
  const e = err as BodyParserError;
  switch (e?.type) {
    case 'entity.too.large':
      return new TlogError('TOO_LARGE', `request body exceeds the limit of ${e.limit ?? '?'} bytes`);
    case 'encoding.unsupported':
      return new TlogError('UNSUPPORTED_MEDIA_TYPE', 'unsupported Content-Encoding; use gzip, deflate or identity');
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
    case 'entity.verify.failed':
    case 'charset.unsupported':
      return new TlogError('MALFORMED', `bad request body (${e.type})`);
    default:
      // zlib errors from a corrupt gzip body carry a status of 400 but no type.
      if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) return new TlogError('MALFORMED', 'bad request body (corrupt encoding?)');
      return undefined;
  }
}

/** Express error middleware (the last one). */
export function errorHandler(logger: Logger, metrics: Metrics) {
  return (err: unknown, _req: Request, res: Response, _next: NextFunction): void => {
    const e = fromBodyParser(err) ?? toTlogError(err);
    const m = ERROR_TABLE[e.code];
    if (e.code === 'INTERNAL') logger.error({ err: e.cause ?? err }, 'internal error');
    metrics.recordError(e.code);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (e.retryAfter !== undefined) res.set('Retry-After', String(Math.max(1, Math.ceil(e.retryAfter))));
    if (e.code === 'UNAUTHENTICATED') res.set('WWW-Authenticate', 'Bearer realm="tilelog"');
    res.status(m.http).type('application/json').send(JSON.stringify(errorBody(e)));
  };
}
