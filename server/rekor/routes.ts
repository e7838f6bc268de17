/**
 * The Rekor v2 write API over the log (sigstore/rekor-tiles' JSON contract, as `@sigstore/sign`'s
 * `RekorWitness({ majorApiVersion: 2 })` speaks it):
 *
 * - `POST /api/v2/log/entries`: a `CreateEntryRequest` (hashedRekordRequestV002 or dsseRequestV002). Writer auth as
 *   `/v1/entries`; the signature is verified (400 otherwise); the canonical entry is appended and the reply waits
 *   for a published checkpoint covering it: 201 with the `TransparencyLogEntry`. Resubmitting the same request
 *   (same canonical entry) answers 200 with the existing entry (Rekor v2 clients have no conflict handling).
 * - `GET /api/v2/checkpoint`: the published checkpoint (text/plain), as `/checkpoint`.
 *
 * Errors of these routes have Rekor's gateway shape `{"code":<http status>,"message":"…"}`.
 */
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import type { Authenticator, Principal } from '../auth.js';
import { TlogError } from '../core/errors.js';
import { newVerifier } from '../core/keys.js';
import { ERROR_TABLE, toTlogError } from '../errors.js';
import type { Ingest } from '../ingest.js';
import type { Log } from '../log.js';
import { fromBodyParser } from '../http/errors.js';
import { route } from '../http/util.js';
import { entryFromRequest, logKeyId, transparencyLogEntry } from './entries.js';

export interface RekorRoutesOptions {
  readonly log: Log;
  readonly ingest: Ingest;
  readonly auth: Authenticator;
  /** Largest accepted request body after decompression, in bytes. */
  readonly maxBodyBytes: number;
}

/** Rekor-style error reply. */
function sendRekorError(res: Response, err: unknown): void {
  const e = fromBodyParser(err) ?? toTlogError(err);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const status = ERROR_TABLE[e.code].http;
  if (e.retryAfter !== undefined) res.set('Retry-After', String(Math.max(1, Math.ceil(e.retryAfter))));
  if (e.code === 'UNAUTHENTICATED') res.set('WWW-Authenticate', 'Bearer realm="tilelog"');
  res.status(status).type('application/json').send(JSON.stringify({ code: status, message: e.code === 'INTERNAL' ? 'internal error' : e.message }));
}

/** The Rekor v2 routes (mount at the app's root). */
export function rekorRoutes(o: RekorRoutesOptions): Router {
  const r = Router();
  const keyId = logKeyId(o.log.origin, newVerifier(o.log.vkey).publicKey);
  const raw = express.raw({ type: () => true, limit: o.maxBodyBytes, inflate: true });

  const writer = async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    route(res, 'api/v2/log/entries');
    res.locals['principal'] = await o.auth.writer(req.headers.authorization);
    next();
  };

  r.post('/api/v2/log/entries', writer, raw, async (req: Request, res: Response) => {
    const principal = res.locals['principal'] as Principal;
    const ct = req.headers['content-type'];
    if (ct !== undefined && !/^application\/json\s*(;|$)/i.test(ct)) throw new TlogError('UNSUPPORTED_MEDIA_TYPE', 'Content-Type must be application/json');
    const body: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      throw new TlogError('MALFORMED', 'the body is not JSON');
    }
    const entry = entryFromRequest(json);
    const p = await o.ingest.appendAndWait(principal, [entry.body]);
    const result = p.results[0];
    const proof = p.proofs[0];
    if (result === undefined || proof === undefined) throw new Error('tlog: bad math: no result for the entry');
    const tle = transparencyLogEntry({ entry, logIndex: result.leafIndex, keyId, treeSize: p.treeSize, proof, checkpoint: p.checkpoint });
    res.set('Cache-Control', 'no-store');
    res.status(result.duplicate ? 200 : 201).type('application/json').send(JSON.stringify(tle));
  });

  r.get('/api/v2/checkpoint', (_req: Request, res: Response) => {
    route(res, 'api/v2/checkpoint');
    res.set('Cache-Control', 'no-store').type('text/plain; charset=utf-8').send(o.log.published.checkpoint);
  });

  r.use('/api/v2', (err: unknown, _req: Request, res: Response, _next: NextFunction) => sendRekorError(res, err));
  return r;
}
