// SPEC: c2sp.org/tlog-witness §Monitoring (GET <hex SHA-256(origin)>/checkpoint).
/**
 * The auditor's HTTP routes (plain node:http):
 *
 *   GET  /metrics                      Prometheus text (tilelog_audit_*)
 *   GET  /healthz                      200 JSON: per origin the verified size and full-audit progress, alarms raised
 *   GET  /<64 lowercase hex>/checkpoint the latest verified checkpoint of that origin (the witness's cosigned one
 *                                      when a witness is mounted and it is at least as large); 404 if none
 *   POST /gossip                       a checkpoint note → Auditor.receiveGossip (200/400/403/404/409/503)
 *   anything else                      `extra` (e.g. the witness's POST /add-checkpoint) if given, else 404
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { MAX_NOTE_SIZE } from '../../server/core/note.js';
import type { Auditor } from './auditor.js';

/** Options of {@link createAuditHandler}. */
export interface AuditHandlerOptions {
  readonly logger: Logger;
  /** The cosigned checkpoint of the origin with this hash, if a witness is mounted. */
  readonly cosigned?: (hash: string) => Promise<string | undefined>;
  /** Routes tried for paths not handled here. */
  readonly extra?: (req: IncomingMessage, res: ServerResponse, next: () => void) => void;
}

const MONITOR = /^\/([0-9a-f]{64})\/checkpoint$/;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function send(res: ServerResponse, status: number, contentType: string, body: string | Buffer, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', ...extra });
  res.end(body);
}

/** Reads the body; undefined if it exceeds `limit` bytes. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n <= limit) chunks.push(c);
    });
    req.on('end', () => resolve(n > limit ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** The request handler (module comment). */
export function createAuditHandler(a: Auditor, o: AuditHandlerOptions): RequestListener {
  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = req.url ?? '/';
    const path = url.split('?')[0] as string;
    const get = req.method === 'GET' || req.method === 'HEAD';
    if (path === '/metrics' && get) return send(res, 200, a.metrics.registry.contentType, await a.metrics.registry.metrics());
    if (path === '/healthz' && get) {
      const logs: Record<string, unknown> = {};
      for (const v of a.views.values()) logs[v.origin] = { treeSize: v.latest?.checkpoint.treeSize.toString() ?? null, fullEntries: v.fullEntries.toString() };
      return send(res, 200, 'application/json', `${JSON.stringify({ status: 'ok', alarms: a.alarms.raised, logs })}\n`);
    }
    const m = MONITOR.exec(path);
    if (m !== null && get) {
      const view = a.viewByHash(m[1] as string);
      const ours = view?.latest;
      const cosigned = view === undefined ? undefined : await o.cosigned?.(m[1] as string);
      let note = ours?.note;
      if (cosigned !== undefined && view !== undefined) {
        try {
          const c = view.verify(cosigned);
          if (ours === undefined || c.checkpoint.treeSize >= ours.checkpoint.treeSize) note = cosigned;
        } catch {
          // a cosigned checkpoint we cannot verify is not served
        }
      }
      if (note === undefined) return send(res, 404, 'text/plain; charset=utf-8', 'no checkpoint for this origin\n');
      return send(res, 200, 'text/plain; charset=utf-8', note);
    }
    if (path === '/gossip') {
      if (req.method !== 'POST') return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', { Allow: 'POST' });
      const body = await readBody(req, MAX_NOTE_SIZE);
      if (body === undefined) return send(res, 400, 'text/plain; charset=utf-8', 'body too large\n');
      let note: string;
      try {
        note = utf8.decode(body);
      } catch {
        return send(res, 400, 'text/plain; charset=utf-8', 'body is not UTF-8\n');
      }
      const r = await a.receiveGossip(note);
      a.metrics.gossipReceived.inc({ status: String(r.status) });
      return send(res, r.status, r.contentType, r.body);
    }
    if (o.extra !== undefined) return o.extra(req, res, () => send(res, 404, 'text/plain; charset=utf-8', 'not found\n'));
    return send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
  };
  return (req, res) => {
    route(req, res).catch((err: unknown) => {
      o.logger.error({ err }, 'audit HTTP handler failed');
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  };
}
