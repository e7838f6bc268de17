/**
 * The C2SP tlog-tiles read API: `GET /checkpoint`, `GET /tile/<L>/<N>[.p/<W>]`, `GET /tile/entries/<N>[.p/<W>]`.
 * SPEC: c2sp.org/tlog-tiles — content types, caching and compression as the spec says:
 * - checkpoint: `text/plain; charset=utf-8`, not cached (it changes every interval);
 * - tiles and bundles: `application/octet-stream`, immutable (a path's bytes never change, partial ones included);
 * - entry bundles gzip-encoded when the client accepts gzip.
 */
import { gzipSync } from 'node:zlib';
import { Router, type Request, type Response } from 'express';
import { LRUCache } from 'lru-cache';
import { parseTilePath, TILE_WIDTH } from '../core/tile.js';
import type { Log } from '../log.js';
import { route } from './util.js';

/** `Cache-Control` of tiles and entry bundles. */
export const IMMUTABLE = 'public, max-age=31536000, immutable';
/** `Cache-Control` of the checkpoint: caches must revalidate every time. */
export const CHECKPOINT_CACHE = 'no-store';

function acceptsGzip(req: Request): boolean {
  const ae = req.headers['accept-encoding'];
  if (typeof ae !== 'string') return false;
  return ae.split(',').some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(';');
    if (coding !== 'gzip' && coding !== '*') return false;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

/** Routes of the read API over `log`. */
export function readRoutes(log: Log): Router {
  const r = Router();
  const gzipCache = new LRUCache<string, Buffer>({ maxSize: 32 * 1024 * 1024, sizeCalculation: (v) => Math.max(1, v.length) });

  r.get('/checkpoint', (_req: Request, res: Response) => {
    route(res, 'checkpoint');
    res.set('Cache-Control', CHECKPOINT_CACHE).type('text/plain; charset=utf-8').send(log.published.checkpoint);
  });

  r.get(/^\/tile\/.*/, async (req: Request, res: Response) => {
    const tile = parseTilePath(req.path.slice(1));
    route(res, tile.kind === 'entries' ? 'tile/entries' : 'tile');
    const data = await log.readTile(tile);
    res.set('Cache-Control', IMMUTABLE).type('application/octet-stream');
    if (tile.kind === 'entries') {
      res.vary('Accept-Encoding');
      if (acceptsGzip(req)) {
        const key = `${tile.index}`;
        let z = tile.width === TILE_WIDTH ? gzipCache.get(key) : undefined;
        if (z === undefined) {
          z = gzipSync(data);
          if (tile.width === TILE_WIDTH) gzipCache.set(key, z);
        }
        res.set('Content-Encoding', 'gzip').send(z);
        return;
      }
    }
    res.send(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  });
  return r;
}
