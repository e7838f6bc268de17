/**
 * OTLP/HTTP logs receiver: `POST /v1/logs` with `application/x-protobuf` or `application/json` bodies (optionally
 * gzip/deflate-encoded), one log entry per LogRecord (convert.ts). The reply uses the request's content type:
 * an ExportLogsServiceResponse (`partialSuccess` only when records were rejected) or, on failure, a
 * google.rpc.Status with the status of the one error table — 400 for undecodable data (not retried by OTLP
 * clients), 413 for an oversized body, 503 + Retry-After for pushback and 429 + Retry-After for rate limiting
 * (both retried by OTLP clients).
 *
 * The writer is authenticated like `/v1/entries`, from the Authorization header, before the body is read.
 */
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import type { Authenticator, Principal } from '../auth.js';
import { TlogError } from '../core/errors.js';
import { ERROR_TABLE, toTlogError } from '../errors.js';
import { fromBodyParser } from '../http/errors.js';
import type { Ingest } from '../ingest.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { entriesFromRequest, exportResponse, parseJsonRequest, type LogsRequest } from './convert.js';
import { decodeProtobufRequest, encodeProtobufResponse, statusJson, statusProtobuf } from './proto.js';

export interface OtlpHttpDeps {
  readonly ingest: Pick<Ingest, 'append'>;
  readonly auth: Pick<Authenticator, 'writer'>;
  /** Largest accepted request body after decompression, in bytes (413 beyond). */
  readonly maxBodyBytes: number;
  readonly logger?: Pick<Logger, 'info' | 'error'>;
  readonly metrics?: Pick<Metrics, 'recordError'>;
}

type Kind = 'protobuf' | 'json';

const PROTOBUF = 'application/x-protobuf';
const JSON_TYPE = 'application/json';

function kindOf(req: Request): Kind | undefined {
  const ct = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (ct === PROTOBUF) return 'protobuf';
  if (ct === JSON_TYPE) return 'json';
  return undefined;
}

/** Retryable errors always carry a delay, so 503/429 always have Retry-After (and gRPC a RetryInfo). */
export function withRetryDelay(e: TlogError): TlogError {
  if (e.retryAfter !== undefined || !(e.code === 'PUSHBACK' || e.code === 'RATE_LIMITED')) return e;
  return new TlogError(e.code, e.message, { cause: e.cause, retryAfter: 1 });
}

/** Router serving `POST /v1/logs`. Mount it before the app's 404/405 handlers. */
export function otlpLogsRoute(deps: OtlpHttpDeps): Router {
  const r = Router();
  const raw = express.raw({ type: () => true, limit: deps.maxBodyBytes, inflate: true });

  // Authenticate before reading the body (an unauthenticated client cannot make the server buffer it); refuse
  // other media types before reading it too.
  const writer = async (req: Request, res: Response, next: NextFunction) => {
    res.locals['route'] = 'v1/logs';
    res.locals['principal'] = await deps.auth.writer(req.headers.authorization);
    if (kindOf(req) === undefined) {
      throw new TlogError('UNSUPPORTED_MEDIA_TYPE', `Content-Type must be ${PROTOBUF} or ${JSON_TYPE}`);
    }
    next();
  };

  const handler = async (req: Request, res: Response) => {
    const principal = res.locals['principal'] as Principal;
    const kind = kindOf(req) as Kind;
    const started = Date.now();
    const body: Uint8Array = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const request: LogsRequest = kind === 'protobuf' ? decodeProtobufRequest(body) : parseJsonRequest(body);
    const converted = entriesFromRequest(request, principal);
    if (converted.entries.length > 0) await deps.ingest.append(principal, converted.entries);
    deps.logger?.info({ route: 'v1/logs', subject: principal.subject, records: converted.total, rejected: converted.rejected, ms: Date.now() - started }, 'otlp logs');
    const out = exportResponse(converted);
    if (kind === 'protobuf') res.status(200).type(PROTOBUF).send(Buffer.from(encodeProtobufResponse(out)));
    else res.status(200).type(JSON_TYPE).send(JSON.stringify(out));
  };

  // Errors of this route answer in OTLP's form (google.rpc.Status in the request's content type).
  const errors = (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const e = withRetryDelay(fromBodyParser(err) ?? toTlogError(err));
    if (e.code === 'INTERNAL') deps.logger?.error({ err: e.cause ?? err, route: 'v1/logs' }, 'internal error');
    deps.metrics?.recordError(e.code);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (e.retryAfter !== undefined) res.set('Retry-After', String(Math.max(1, Math.ceil(e.retryAfter))));
    if (e.code === 'UNAUTHENTICATED') res.set('WWW-Authenticate', 'Bearer realm="tilelog"');
    res.status(ERROR_TABLE[e.code].http);
    if (kindOf(req) === 'protobuf') res.type(PROTOBUF).send(Buffer.from(statusProtobuf(e)));
    else res.type(JSON_TYPE).send(JSON.stringify(statusJson(e)));
  };

  r.post('/v1/logs', writer, raw, handler, errors);
  return r;
}
