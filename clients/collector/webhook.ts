/**
 * The collector's built-in receiver for the kube-apiserver audit webhook backend (`--audit-webhook-config-file`,
 * deploy/apiserver/): `POST` of an `audit.k8s.io/v1` EventList (JSON). Each Event becomes one entry whose origin is
 * its (auditID, stage) — the API server resends whole batches unchanged on any error, so a resent event is the
 * same entry and the log reports it as a duplicate.
 *
 * The reply is 200 only once every event of the request is durably spooled; a request the collector cannot
 * decode gets 400 (the API server then drops the batch and logs it, as it would for any webhook), a body over the
 * limit 413, anything else 503 with Retry-After (the API server retries).
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { listenOn } from '../../server/config.js';
import { TlogError } from '../../server/core/errors.js';
import { eventsOfList } from '../../server/ingest/k8s-audit.js';
import { auditEventEntry } from './entry.js';
import type { Spool } from './spool.js';

export interface WebhookOptions {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** Only this path is accepted (default `/`). */
  readonly path?: string;
  readonly maxBodyBytes?: number;
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > limit) throw new TlogError('TOO_LARGE', `body over ${limit} bytes`);
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/** Starts the receiver; resolves with the server once listening (port 0 = any free port). */
export async function startAuditWebhook(
  o: WebhookOptions,
  collector: string,
  spool: Spool,
  onRequest: (status: number, events: number) => void,
): Promise<Server> {
  const limit = o.maxBodyBytes ?? 32 * 1024 * 1024;
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const path = (req.url ?? '/').split('?')[0];
      if (path !== (o.path ?? '/')) return send(res, 404, { code: 'NOT_FOUND', message: 'not found' });
      if (req.method !== 'POST') return send(res, 405, { code: 'METHOD_NOT_ALLOWED', message: 'POST an audit.k8s.io EventList' }, { allow: 'POST' });
      let events = 0;
      try {
        let body = await readBody(req, limit);
        if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body, { maxOutputLength: limit });
        let json: unknown;
        try {
          json = JSON.parse(body.toString('utf8'));
        } catch {
          throw new TlogError('MALFORMED', 'body is not JSON');
        }
        const items = eventsOfList(json);
        const records = items.map((e, i) => ({ input: o.name, entry: auditEventEntry(collector, o.name, e, `items[${i}]`).entry }));
        events = records.length;
        // Durable before the reply: a 200 means every event of the batch is in the spool.
        await spool.append(records, []);
        send(res, 200, { events });
        onRequest(200, events);
      } catch (err) {
        const code = err instanceof TlogError ? err.code : 'UNAVAILABLE';
        const status = code === 'MALFORMED' ? 400 : code === 'TOO_LARGE' ? 413 : 503;
        send(res, status, { code, message: (err as Error).message }, status === 503 ? { 'retry-after': '1' } : {});
        onRequest(status, events);
      }
    })();
  };
  const server = o.tls !== undefined ? createHttpsServer({ cert: readFileSync(o.tls.certFile), key: readFileSync(o.tls.keyFile) }, handler) : createHttpServer(handler);
  await listenOn(server, o);
  return server;
}
