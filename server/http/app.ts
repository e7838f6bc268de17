/**
 * The HTTP front end (express): the JSON API, health, readiness and metrics. The tlog-tiles read API is served by
 * the plain handler of read-routes.ts in front of it ({@link createHttpHandler}).
 * Exactly the paths below exist; any other path is 404, a known path with another method is 405 (with `Allow`),
 * and every error has the JSON body of the one error table.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { TlogError } from '../core/errors.js';
import type { Log } from '../log.js';
import type { Metrics } from '../metrics.js';
import { k8sRoutes } from './k8s-routes.js';
import { rekorRoutes } from '../rekor/routes.js';
import { otlpLogsRoute } from '../otlp/http.js';
import { ingestRoutes } from './ingest-routes.js';
import { apiRoutes, type ApiOptions, type ApiServices } from './api-routes.js';
import { errorHandler } from './errors.js';
import { createReadHandler } from './read-routes.js';
import { route } from './util.js';
import { newVerifier } from '../core/keys.js';
import { trustedRoot } from '../trusted-root.js';
import { uiRoutes } from './ui-routes.js';
import { internalRoutes } from './internal-routes.js';

/** What the HTTP front end needs besides the log. */
export interface HttpServices extends ApiServices {
  readonly metrics: Metrics;
}

export interface AppOptions extends ApiOptions {
  /** The log's public base URL for the Sigstore trusted root (default `https://<origin>`). */
  readonly publicUrl?: string;
  /** Readiness fails when the latest checkpoint is older than this (ms). */
  readonly maxCheckpointAgeMs: number;
  /** Several frontends: the token of writes forwarded by the others (server/forward.ts); undefined: none. */
  readonly forwardToken?: string;
}

/** Paths and the methods they allow (GET implies HEAD). */
const ALLOWED: readonly [RegExp, string][] = [
  [/^\/checkpoint$/, 'GET, HEAD'],
  [/^\/tile\//, 'GET, HEAD'],
  [/^\/v1\/entries$/, 'POST'],
  [/^\/v1\/k8s\/audit$/, 'POST'],
  [/^\/v1\/logs$/, 'POST'],
  [/^\/api\/v2\/log\/entries$/, 'POST'],
  [/^\/v1\/ingest(\/[^/]+)?$/, 'POST'],
  [/^\/v1\/entries\/[^/]+$/, 'GET, HEAD'],
  [/^\/v1\/proof\/(inclusion|consistency)$/, 'GET, HEAD'],
  [/^\/v1\/log$/, 'GET, HEAD'],
  [/^\/(healthz|readyz|metrics)$/, 'GET, HEAD'],
  [/^\/v1\/trusted-root\.json$/, 'GET, HEAD'],
  [/^\/api\/v2\/(checkpoint$|tile\/)/, 'GET, HEAD'],
  [/^\/ui(\/.*)?$/, 'GET, HEAD'],
];

/** The leader's internal route: exists only when a forward token is configured (else 404, like any other path). */
const INTERNAL_ALLOWED: readonly [RegExp, string][] = [[/^\/internal\/v1\/sequence$/, 'POST']];

/** The request handler of the HTTP server: the read fast path first, express for everything else. */
export function createHttpHandler(log: Log, services: HttpServices, opts: AppOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const app = createApp(log, services, opts);
  const read = createReadHandler(log, services.metrics, services.auth);
  return (req, res) => {
    if (!read(req, res)) app(req, res);
  };
}

/** Builds the express application over a log. */
export function createApp(log: Log, services: HttpServices, opts: AppOptions): express.Express {
  const { metrics, logger } = services;
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', 'simple');

  app.use((req: Request, res: Response, next: NextFunction) => {
    // Reads are public and CDN-friendly; browsers (the web explorer) may fetch them from any origin.
    res.set('Access-Control-Allow-Origin', '*');
    res.on('finish', () => {
      metrics.requests.inc({ route: String(res.locals['route'] ?? 'unmatched'), method: req.method, status: String(res.statusCode) });
    });
    next();
  });

  app.use(internalRoutes(log, { token: opts.forwardToken, maxBodyBytes: opts.maxBodyBytes }));
  app.use(apiRoutes(log, services, opts));
  app.use(rekorRoutes({ log, ingest: services.ingest, auth: services.auth, maxBodyBytes: opts.maxBodyBytes }));
  app.use(otlpLogsRoute({ ingest: services.ingest, auth: services.auth, maxBodyBytes: opts.maxBodyBytes, logger, metrics }));
  app.use(k8sRoutes(services, opts));
  app.use(ingestRoutes(services, opts));

  const root = JSON.stringify(trustedRoot({ name: log.origin, publicKey: newVerifier(log.vkey).publicKey }, opts.publicUrl === undefined ? {} : { baseUrl: opts.publicUrl }));
  app.get('/v1/trusted-root.json', (_req, res) => {
    route(res, 'v1/trusted-root.json');
    res.set('Cache-Control', 'public, max-age=300').type('application/json').send(root);
  });

  app.get('/healthz', (_req, res) => {
    route(res, 'healthz');
    res.type('application/json').send('{"status":"ok"}');
  });
  app.get('/readyz', (_req, res) => {
    route(res, 'readyz');
    const age = Date.now() - log.published.publishedAt;
    const behind = log.tree.treeSize > log.published.treeSize && age > opts.maxCheckpointAgeMs;
    const ready = log.sequencer.healthy && !behind;
    res.status(ready ? 200 : 503).type('application/json').send(JSON.stringify({ status: ready ? 'ready' : 'not ready', checkpointAgeSeconds: age / 1000 }));
  });
  app.get('/metrics', async (_req, res) => {
    route(res, 'metrics');
    metrics.treeSize.set({ state: 'integrated' }, Number(log.tree.treeSize));
    metrics.treeSize.set({ state: 'published' }, Number(log.published.treeSize));
    metrics.checkpointAge.set((Date.now() - log.published.publishedAt) / 1000);
    metrics.pending.set(log.sequencer.pending);
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  app.use(uiRoutes());

  const allowedPaths = opts.forwardToken === undefined ? ALLOWED : [...ALLOWED, ...INTERNAL_ALLOWED];
  app.use((req: Request, res: Response) => {
    const allowed = allowedPaths.find(([re]) => re.test(req.path));
    if (allowed !== undefined) {
      res.set('Allow', allowed[1]);
      throw new TlogError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${req.path}; allowed: ${allowed[1]}`);
    }
    throw new TlogError('NOT_FOUND', `no such path: ${req.path.slice(0, 200)}`);
  });
  app.use(errorHandler(logger, metrics));
  return app;
}
