/**
 * The JSON API for people with curl and for collectors: submission, entries by index, proofs, log info.
 * Thin adapter: parse strictly, call the {@link Log}, format. Every number that is a size or an index is a bigint.
 */
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import type { Authenticator, Principal } from '../auth.js';
import type { Ingest } from '../ingest.js';
import type { Logger } from '../logger.js';
import type { AddResult } from '../sequencer.js';
import { TlogError, malformed } from '../core/errors.js';
import { HASH_SIZE, type Hash } from '../core/hash.js';
import { decodeBase64Exact, decodeHexExact, encodeBase64, parseDecimal } from '../core/strict.js';
import { formatTlogProof } from '../core/tlog-proof.js';
import type { Log } from '../log.js';
import { decodeEntries } from './entries-body.js';
import { queryParams, route, sendJson } from './util.js';

export interface ApiServices {
  readonly ingest: Ingest;
  readonly auth: Authenticator;
  readonly logger: Logger;
}

export interface ApiOptions {
  /** Largest accepted request body after decompression, in bytes. */
  readonly maxBodyBytes: number;
}

/**
 * Middleware that authenticates the writer before the body is read (an unauthenticated client cannot make the
 * server buffer a large body) and leaves the Principal in `res.locals.principal`.
 */
export function writerAuth(services: ApiServices, routeName: string) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    route(res, routeName);
    res.locals['principal'] = await services.auth.writer(req.headers.authorization);
    next();
  };
}

/** The JSON reply of a submission: one object per entry, in order. */
export function entriesReply(results: readonly AddResult[]): { entries: { index: bigint; leafHash: string; duplicate: boolean }[] } {
  return { entries: results.map((x) => ({ index: x.leafIndex, leafHash: encodeBase64(x.leafHash), duplicate: x.duplicate })) };
}

/** A leaf hash given as 64 lowercase hex digits or as canonical base64 of 32 bytes. */
export function parseLeafHash(s: string): Hash {
  if (s.length === HASH_SIZE * 2) return decodeHexExact(s, HASH_SIZE, 'leafHash');
  return decodeBase64Exact(s, HASH_SIZE, 'leafHash');
}

const b64 = (h: Uint8Array) => encodeBase64(h);

/** Routes of the JSON API. */
export function apiRoutes(log: Log, services: ApiServices, opts: ApiOptions): Router {
  const r = Router();
  const raw = express.raw({ type: () => true, limit: opts.maxBodyBytes, inflate: true });

  const writer = writerAuth(services, 'v1/entries');

  r.post('/v1/entries', writer, raw, async (req: Request, res: Response) => {
    const principal = res.locals['principal'] as Principal;
    const started = Date.now();
    res.on('finish', () => services.logger.info({ route: 'v1/entries', subject: principal.subject, status: res.statusCode, ms: Date.now() - started }, 'append'));
    const q = queryParams(req, ['wait']);
    if (q['wait'] !== undefined && q['wait'] !== 'sequenced' && q['wait'] !== 'published') throw malformed('wait must be "sequenced" or "published"');
    if (req.headers['content-type'] === undefined) throw new TlogError('UNSUPPORTED_MEDIA_TYPE', 'a Content-Type is required');
    const body: Uint8Array = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const entries = decodeEntries(req.headers['content-type'], body);
    if (q['wait'] === 'published') {
      const p = await services.ingest.appendAndWait(principal, entries);
      sendJson(res, {
        entries: p.results.map((x, i) => ({ index: x.leafIndex, leafHash: b64(x.leafHash), duplicate: x.duplicate, proof: (p.proofs[i] as Hash[]).map(b64) })),
        treeSize: p.treeSize,
        checkpoint: p.checkpoint,
      });
      return;
    }
    const results = await services.ingest.append(principal, entries);
    sendJson(res, entriesReply(results));
  });

  r.get('/v1/entries/:index', async (req: Request, res: Response) => {
    route(res, 'v1/entries/:index');
    queryParams(req, []);
    await services.auth.reader(req.headers.authorization);
    const index = parseDecimal(String(req.params['index']), 'index');
    const entry = await log.entry(index);
    res.set('Cache-Control', services.auth.readProtected ? 'private, max-age=31536000, immutable' : 'public, max-age=31536000, immutable');
    if (services.auth.readProtected) res.vary('Authorization');
    res.type('application/octet-stream').send(Buffer.from(entry));
  });

  r.get('/v1/proof/inclusion', async (req: Request, res: Response) => {
    route(res, 'v1/proof/inclusion');
    const q = queryParams(req, ['index', 'leafHash', 'treeSize', 'format']);
    if (q['format'] !== undefined && q['format'] !== 'json' && q['format'] !== 'tlog-proof') throw malformed('format must be "json" or "tlog-proof"');
    if (q['index'] === undefined && q['leafHash'] === undefined) throw malformed('want index=<N> or leafHash=<hex or base64>');
    const p = await log.inclusionProof({
      ...(q['index'] !== undefined ? { leafIndex: parseDecimal(q['index'], 'index') } : {}),
      ...(q['leafHash'] !== undefined ? { leafHash: parseLeafHash(q['leafHash']) } : {}),
      ...(q['treeSize'] !== undefined ? { treeSize: parseDecimal(q['treeSize'], 'treeSize') } : {}),
    });
    if (q['format'] === 'tlog-proof') {
      if (p.checkpoint === undefined) throw malformed('format=tlog-proof needs the published checkpoint: omit treeSize or use the published size');
      res.set('Cache-Control', 'no-store').type('text/plain; charset=utf-8').send(formatTlogProof({ index: p.leafIndex, proof: p.proof, checkpoint: p.checkpoint }));
      return;
    }
    res.set('Cache-Control', 'no-store');
    sendJson(res, { index: p.leafIndex, treeSize: p.treeSize, leafHash: b64(p.leafHash), proof: p.proof.map(b64), ...(p.checkpoint !== undefined ? { checkpoint: p.checkpoint } : {}) });
  });

  r.get('/v1/proof/consistency', async (req: Request, res: Response) => {
    route(res, 'v1/proof/consistency');
    const q = queryParams(req, ['from', 'to']);
    if (q['from'] === undefined) throw malformed('want from=<tree size>');
    const from = parseDecimal(q['from'], 'from');
    const to = q['to'] === undefined ? undefined : parseDecimal(q['to'], 'to');
    const p = await log.consistencyProof(from, to);
    res.set('Cache-Control', 'no-store');
    sendJson(res, { from: p.from, to: p.to, proof: p.proof.map(b64) });
  });

  r.get('/v1/log', (req: Request, res: Response) => {
    route(res, 'v1/log');
    queryParams(req, []);
    const p = log.published;
    res.set('Cache-Control', 'no-store');
    sendJson(res, { origin: log.origin, vkey: log.vkey, treeSize: p.treeSize, rootHash: b64(p.rootHash), checkpoint: p.checkpoint, integratedTreeSize: log.tree.treeSize });
  });
  return r;
}
