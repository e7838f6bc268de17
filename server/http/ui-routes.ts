/**
 * The web explorer (issue #10) at `/ui/`: static assets only, read once at start-up from the repository's
 * `ui/static/` (HTML, CSS, icon) and `dist/ui/` (the browser code that `npm run build` / `prepare` compiles with
 * tsconfig.ui.json). `/ui` redirects to `/ui/`. Every asset carries a strict Content-Security-Policy (same-origin
 * scripts, styles and fetches only; no inline code; no framing), `nosniff`, its content type, an ETag with
 * `Cache-Control: no-cache` (revalidate: the file names are not content-hashed) and gzip when accepted.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { NextFunction, Request, Response } from 'express';
import { TlogError } from '../core/errors.js';
import { route } from './util.js';

/** The Content-Security-Policy of every explorer response. */
export const UI_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
};

interface Asset {
  readonly type: string;
  readonly body: Buffer;
  readonly gzip: Buffer;
  readonly etag: string;
}

/** The repository (or installed package) root: this file runs from dist/server/http/. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function collect(dir: string, prefix: string, into: Map<string, Asset>): void {
  if (!existsSync(dir)) return;
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const full = join(d, name);
      if (statSync(full).isDirectory()) {
        walk(full);
        continue;
      }
      const type = TYPES[extname(name)];
      if (type === undefined) continue; // source maps and anything else stay private
      const body = readFileSync(full);
      const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
      into.set(prefix + relative(dir, full).split(sep).join('/'), { type, body, gzip: gzipSync(body), etag });
    }
  };
  walk(dir);
}

/** Loads the explorer's assets, keyed by their path under `/ui/` ('' is index.html). */
export function loadUiAssets(root = ROOT): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  collect(join(root, 'dist', 'ui'), '', assets);
  collect(join(root, 'ui', 'static'), '', assets);
  const index = assets.get('index.html');
  if (index !== undefined) assets.set('', index);
  return assets;
}

function setSecurityHeaders(res: Response): void {
  res.set('Content-Security-Policy', UI_CSP);
  res.set('X-Content-Type-Options', 'nosniff');
  res.set('Referrer-Policy', 'no-referrer');
  res.set('X-Frame-Options', 'DENY');
  res.set('Cross-Origin-Opener-Policy', 'same-origin');
  res.set('Cross-Origin-Resource-Policy', 'same-origin');
}

/**
 * Express middleware serving `GET|HEAD /ui` (redirect) and `/ui/<asset>`. Other methods and unknown paths fall
 * through to the 405 handler of app.ts; an unknown asset is NOT_FOUND.
 */
export function uiRoutes(root = ROOT): (req: Request, res: Response, next: NextFunction) => void {
  const assets = loadUiAssets(root);
  return (req, res, next) => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !(req.path === '/ui' || req.path.startsWith('/ui/'))) return next();
    route(res, 'ui');
    if (req.path === '/ui') {
      const q = req.originalUrl.indexOf('?');
      setSecurityHeaders(res);
      res.redirect(301, `ui/${q < 0 ? '' : req.originalUrl.slice(q)}`); // relative: works behind a path prefix
      return;
    }
    const asset = assets.get(req.path.slice('/ui/'.length));
    if (asset === undefined) return next(new TlogError('NOT_FOUND', `no such explorer file: ${req.path.slice(0, 200)}`));
    setSecurityHeaders(res);
    res.set('Content-Type', asset.type);
    res.set('Cache-Control', 'no-cache');
    res.set('ETag', asset.etag);
    res.set('Vary', 'Accept-Encoding');
    const inm = req.headers['if-none-match'];
    if (inm !== undefined && inm.split(',').some((t) => t.trim().replace(/^W\//, '') === asset.etag)) {
      res.status(304).end();
      return;
    }
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    if (gzip) res.set('Content-Encoding', 'gzip');
    res.status(200).send(gzip ? asset.gzip : asset.body);
  };
}
