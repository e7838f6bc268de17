/** Small helpers shared by the HTTP routes: strict query parsing and JSON replies. */
import type { Request, Response } from 'express';
import { malformed } from '../core/errors.js';
import { stringifyJson } from '../json.js';

/**
 * The query parameters of `req`, strictly: only `allowed` names, each at most once, as plain strings.
 * Untrusted input: anything else is MALFORMED (a typo like `treesize=` must not be silently ignored).
 */
export function queryParams(req: Request, allowed: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const raw = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?') + 1) : '';
  const params = new URLSearchParams(raw);
  for (const [k, v] of params) {
    if (!allowed.includes(k)) throw malformed(`unknown query parameter ${JSON.stringify(k)}; allowed: ${allowed.join(', ')}`);
    if (Object.hasOwn(out, k)) throw malformed(`query parameter ${JSON.stringify(k)} given twice`);
    out[k] = v;
  }
  return out;
}

/** Sends `body` as JSON (bigints as exact numbers). */
export function sendJson(res: Response, body: unknown, status = 200): void {
  res.status(status).type('application/json').send(stringifyJson(body));
}

/** Labels the request for metrics and logs with a route name (not the raw path: no cardinality explosion). */
export function route(res: Response, name: string): void {
  res.locals['route'] = name;
}
