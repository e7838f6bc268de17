/**
 * The request timeout: a request whose body has not fully arrived `timeoutMs` after it started (a client sending a
 * byte a second, or stalling) is answered `408` with the JSON error body (code REQUEST_TIMEOUT) and its connection
 * closed, so slow clients cannot hold server resources for long. Once the body is in, handling time is not limited
 * (e.g. `?wait=published`). Node's own `server.requestTimeout` stays as a backstop, but it only checks every
 * `connectionsCheckingInterval` and answers without a JSON body.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TlogError } from '../core/errors.js';
import { ERROR_TABLE, errorBody } from '../errors.js';

/** Wraps a request handler with the request timeout. `onTimeout` is told of each cut-off (metrics, logging). */
export function withRequestTimeout(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  timeoutMs: number,
  onTimeout: (req: IncomingMessage) => void = () => {},
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const timer = setTimeout(() => {
      if (req.complete) return; // the body is in; the handler may take its time
      onTimeout(req);
      if (!res.headersSent) {
        const e = new TlogError('REQUEST_TIMEOUT', `the request was not received within ${timeoutMs} ms`);
        const body = JSON.stringify(errorBody(e));
        res.writeHead(ERROR_TABLE[e.code].http, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' });
        res.end(body, () => req.socket.destroy());
      } else {
        req.socket.destroy();
      }
    }, timeoutMs);
    const clear = () => clearTimeout(timer);
    res.once('close', clear);
    res.once('finish', clear);
    handler(req, res);
  };
}

/**
 * The server's `clientError` handler: requests Node's HTTP parser rejects (bad method, bad header, headers too large,
 * headers not received within the headers timeout) get the JSON error body too, instead of Node's bare reply.
 */
export function onClientError(err: Error & { code?: string }, socket: import('node:stream').Duplex): void {
  if (!socket.writable || err.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const e =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? new TlogError('REQUEST_TIMEOUT', 'the request was not received in time')
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? new TlogError('TOO_LARGE', 'request headers too large')
        : new TlogError('MALFORMED', `bad HTTP request (${err.code ?? 'parse error'})`);
  const status = ERROR_TABLE[e.code].http;
  const body = JSON.stringify(errorBody(e));
  socket.end(`HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 413: 'Payload Too Large', 405: 'Method Not Allowed' };

/**
 * The server's `connect` handler: without one Node drops CONNECT requests without a reply; the log is no proxy, so
 * they get 405 with the JSON error body.
 */
export function onConnect(_req: unknown, socket: import('node:stream').Duplex): void {
  const body = JSON.stringify(errorBody(new TlogError('METHOD_NOT_ALLOWED', 'CONNECT is not allowed: this is not a proxy')));
  socket.on('error', () => {});
  socket.end(`HTTP/1.1 405 Method Not Allowed\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}
