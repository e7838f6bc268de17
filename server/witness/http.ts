// SPEC: c2sp.org/tlog-witness v1.0.0 §HTTP Interface (submission and monitoring prefixes).
/**
 * The witness's HTTP routes, as a plain node:http handler that also works as express middleware:
 *
 *   POST <prefix>/add-checkpoint               → Witness.addCheckpoint (405 with `Allow: POST` for other methods)
 *   GET  <prefix>/<64 lowercase hex>/checkpoint → latest cosigned checkpoint (404 if unknown / never cosigned)
 *
 * Any other path: `next()` if given (so an auditor can mount it in front of its own routes), else 404.
 * Request bodies are read up to {@link MAX_BODY_BYTES} (larger → 400) and must be valid UTF-8 (else 400). In
 * express, mount it before any body parser (it reads the raw body), e.g. `app.use('/witness', handler)`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MAX_NOTE_SIZE } from '../core/note.js';
import type { Witness, WitnessResponse } from './witness.js';

/** Largest add-checkpoint body: the note limit plus the old line and 63 proof lines. */
export const MAX_BODY_BYTES = MAX_NOTE_SIZE + 64 * 64;

export interface WitnessHandlerOptions {
  /** Path prefix of both the submission and the monitoring prefix, e.g. `/witness` (default: none). */
  readonly prefix?: string;
  /** Called after each add-checkpoint with its status (metrics). */
  readonly onAddCheckpoint?: (status: number) => void;
  /** Called with unexpected errors (the client gets a 500). */
  readonly onError?: (err: unknown) => void;
}

export type WitnessHandler = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void;

const MONITOR = /^\/([0-9a-f]{64})\/checkpoint$/;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function send(res: ServerResponse, r: WitnessResponse, headOnly = false): void {
  res.writeHead(r.status, { 'Content-Type': r.contentType, 'Content-Length': Buffer.byteLength(r.body), 'Cache-Control': 'no-store' });
  res.end(headOnly ? undefined : r.body);
}

function text(status: number, body: string): WitnessResponse {
  return { status, contentType: 'text/plain; charset=utf-8', body };
}

/** Reads the body; undefined if larger than `limit` (the rest is drained). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > limit) over = true;
      else chunks.push(c);
    });
    req.on('end', () => resolve(over ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** The witness's request handler (see the module comment). */
export function createWitnessHandler(witness: Witness, opts: WitnessHandlerOptions = {}): WitnessHandler {
  const prefix = opts.prefix ?? '';
  return (req, res, next) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const fullPath = q < 0 ? url : url.slice(0, q);
    if (!fullPath.startsWith(prefix)) {
      if (next) next();
      else send(res, text(404, 'not found\n'));
      return;
    }
    const path = fullPath.slice(prefix.length);
    const fail = (err: unknown) => {
      opts.onError?.(err);
      if (!res.headersSent) send(res, text(500, 'internal error\n'));
      else res.destroy();
    };
    if (path === '/add-checkpoint') {
      if (req.method !== 'POST') {
        res.setHeader('Allow', 'POST');
        send(res, text(405, 'method not allowed\n'));
        return;
      }
      void (async () => {
        const raw = await readBody(req, MAX_BODY_BYTES);
        let r: WitnessResponse;
        if (raw === undefined) r = text(400, 'body too large\n');
        else {
          let body: string | undefined;
          try {
            body = utf8.decode(raw);
          } catch {
            body = undefined;
          }
          r = body === undefined ? text(400, 'body is not valid UTF-8\n') : await witness.addCheckpoint(body);
        }
        opts.onAddCheckpoint?.(r.status);
        send(res, r);
      })().catch(fail);
      return;
    }
    const m = MONITOR.exec(path);
    if (m !== null) {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('Allow', 'GET, HEAD');
        send(res, text(405, 'method not allowed\n'));
        return;
      }
      void witness.latest(m[1] as string).then((note) => {
        send(res, note === undefined ? text(404, 'no cosigned checkpoint for this origin\n') : text(200, note), req.method === 'HEAD');
      }, fail);
      return;
    }
    if (next) next();
    else send(res, text(404, 'not found\n'));
  };
}
