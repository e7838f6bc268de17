/**
 * The leader's side of forwarding (server/forward.ts): `POST /internal/v1/sequence` from the other frontends of
 * the same log. Authenticated by the token derived from the log key; answers once the entries are durably
 * sequenced, NOT_LEADER (503, retry) when this frontend does not lead. Never forwards again (no loops).
 */
import express, { type Request, type Response, type Router } from 'express';
import { TlogError } from '../core/errors.js';
import type { Log } from '../log.js';
import { FORWARD_PATH, checkForwardAuthorization, decodeForwardRequest, encodeForwardResults } from '../forward.js';
import { parseJson, decodeUtf8 } from './entries-body.js';
import { route } from './util.js';

export interface InternalRouteOptions {
  /** The forward token ({@link forwardToken}); undefined: the route does not exist (a log without leadership). */
  readonly token: string | undefined;
  readonly maxBodyBytes: number;
}

export function internalRoutes(log: Log, opts: InternalRouteOptions): Router {
  const router = express.Router();
  if (opts.token === undefined) return router;
  const token = opts.token;
  // base64 makes the entries 4/3 larger; JSON adds a little.
  const raw = express.raw({ type: () => true, limit: Math.ceil(opts.maxBodyBytes * 1.4) + 4096, inflate: false });
  router.post(FORWARD_PATH, (req: Request, res: Response, next) => {
    route(res, 'internal/v1/sequence');
    if (!checkForwardAuthorization(req.get('authorization'), token)) return next(new TlogError('UNAUTHENTICATED', 'forwarded writes need the log\'s forward token'));
    next();
  }, raw, async (req: Request, res: Response, next) => {
    try {
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const { entries, identities } = decodeForwardRequest(parseJson(decodeUtf8(body), 'forwarded write'));
      const results = await log.addLocal(entries, identities);
      res.type('application/json').send(encodeForwardResults(results));
    } catch (err) {
      next(err);
    }
  });
  return router;
}
