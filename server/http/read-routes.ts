/**
 * The C2SP tlog-tiles read API: `GET /checkpoint`, `GET /tile/<L>/<N>[.p/<W>]`, `GET /tile/entries/<N>[.p/<W>]`,
 * also under `/api/v2/` (the paths Rekor v2 clients expect).
 * SPEC: c2sp.org/tlog-tiles — content types, caching and compression as the spec says:
 * - checkpoint: `text/plain; charset=utf-8`, not cached (it changes every interval);
 * - tiles and bundles: `application/octet-stream`, immutable (a path's bytes never change, partial ones included);
 * - entry bundles gzip-encoded when the client accepts gzip.
 *
 * These are the hot read paths (auditors, monitors, CDNs), so they are served by a plain `node:http` handler in
 * front of express: no router, no middleware. Anything it does not handle (other methods, other paths) falls
 * through to express.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import { LRUCache } from 'lru-cache';
import type { TlogError } from '../core/errors.js';
import { parseTilePath, TILE_WIDTH, type TileRef } from '../core/tile.js';
import { ERROR_TABLE, errorBody, toTlogError } from '../errors.js';
import type { Authenticator } from '../auth.js';
import type { Log } from '../log.js';
import type { Metrics } from '../metrics.js';

/** `Cache-Control` of tiles and entry bundles. */
export const IMMUTABLE = 'public, max-age=31536000, immutable';
/** `Cache-Control` of entry bundles when reading entries needs a token: shared caches must not keep them. */
export const PRIVATE_IMMUTABLE = 'private, max-age=31536000, immutable';
/** `Cache-Control` of the checkpoint: caches must not keep it. */
export const CHECKPOINT_CACHE = 'no-store';

function acceptsGzip(req: IncomingMessage): boolean {
  const ae = req.headers['accept-encoding'];
  if (typeof ae !== 'string') return false;
  return ae.split(',').some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(';');
    if (coding !== 'gzip' && coding !== '*') return false;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

/** Writes a coded error with the one table's status and JSON body. */
export function writeError(res: ServerResponse, e: TlogError): void {
  const body = JSON.stringify(errorBody(e));
  const headers: Record<string, string | number> = { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Access-Control-Allow-Origin': '*' };
  if (e.code === 'UNAUTHENTICATED') headers['WWW-Authenticate'] = 'Bearer realm="tilelog"';
  res.writeHead(ERROR_TABLE[e.code].http, headers);
  res.end(body);
}

/**
 * Returns a `node:http` handler for the read API. It returns false (without touching `res`) for requests that are
 * not its own, so the caller hands them to express.
 */
export function createReadHandler(log: Log, metrics: Metrics, auth: Authenticator): (req: IncomingMessage, res: ServerResponse) => boolean {
  const gzipCache = new LRUCache<string, Buffer>({ maxSize: 16 * 1024 * 1024, sizeCalculation: (v) => Math.max(1, v.length) });
  const count = (route: string, req: IncomingMessage, status: number) => metrics.requests.inc({ route, method: req.method ?? '', status: String(status) });

  const send = (req: IncomingMessage, res: ServerResponse, route: string, headers: Record<string, string | number>, body: Uint8Array | string) => {
    headers['Content-Length'] = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    headers['Access-Control-Allow-Origin'] = '*';
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
    count(route, req, 200);
  };

  const serveTile = async (req: IncomingMessage, res: ServerResponse, tile: TileRef, route: string) => {
    try {
      // Entry contents may hold personal data: with read protection on, bundles need a token with the read scope.
      // Hash tiles and checkpoints stay public so that outside auditors can always check the log.
      const protectedRead = tile.kind === 'entries' && auth.readProtected;
      if (protectedRead) await auth.reader(req.headers.authorization);
      const data = await log.readTile(tile);
      const headers: Record<string, string | number> = { 'Content-Type': 'application/octet-stream', 'Cache-Control': protectedRead ? PRIVATE_IMMUTABLE : IMMUTABLE };
      if (tile.kind === 'entries') {
        headers['Vary'] = protectedRead ? 'Accept-Encoding, Authorization' : 'Accept-Encoding';
        if (acceptsGzip(req)) {
          const key = `${tile.index}`;
          let z = tile.width === TILE_WIDTH ? gzipCache.get(key) : undefined;
          if (z === undefined) {
            z = gzipSync(data);
            if (tile.width === TILE_WIDTH) gzipCache.set(key, z);
          }
          headers['Content-Encoding'] = 'gzip';
          send(req, res, route, headers, z);
          return;
        }
      }
      send(req, res, route, headers, data);
    } catch (err) {
      const e = toTlogError(err);
      metrics.recordError(e.code);
      writeError(res, e);
      count(route, req, ERROR_TABLE[e.code].http);
    }
  };

  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const raw = req.url ?? '';
    const q = raw.indexOf('?');
    let url = q < 0 ? raw : raw.slice(0, q); // query strings (cache busters) are ignored on static resources
    // Rekor v2 clients read the same resources under /api/v2 (rekor-tiles' service declares them there).
    if (url.startsWith('/api/v2/checkpoint') || url.startsWith('/api/v2/tile/')) url = url.slice('/api/v2'.length);
    if (url === '/checkpoint') {
      send(req, res, 'checkpoint', { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': CHECKPOINT_CACHE }, log.published.checkpoint);
      return true;
    }
    if (!url.startsWith('/tile/')) return false;
    let tile: TileRef;
    try {
      tile = parseTilePath(url.slice(1));
    } catch (err) {
      const route = url.startsWith('/tile/entries/') ? 'tile/entries' : 'tile';
      const e = toTlogError(err);
      metrics.recordError(e.code);
      writeError(res, e);
      count(route, req, ERROR_TABLE[e.code].http);
      return true;
    }
    void serveTile(req, res, tile, tile.kind === 'entries' ? 'tile/entries' : 'tile');
    return true;
  };
}
