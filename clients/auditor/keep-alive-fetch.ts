/**
 * A minimal `fetch` for TileFetcher over node:http(s) with a keep-alive agent: GET only, gzip decoding, redirects
 * (up to 5), AbortSignal. The full audit makes two small requests per 256 entries; the global fetch (undici) costs
 * several times more CPU per request than node:http, which made the client, not the log, the bottleneck.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';

const gunzipAsync = promisify(gunzip);

/** A fetch-compatible function for GET requests (as TileFetcher makes them). */
export function keepAliveFetch(maxSockets = 32): typeof fetch {
  const agents = { http: new HttpAgent({ keepAlive: true, maxSockets }), https: new HttpsAgent({ keepAlive: true, maxSockets }) };
  const one = (url: URL, headers: Record<string, string>, signal: AbortSignal | undefined): Promise<IncomingMessage> =>
    new Promise((resolve, reject) => {
      const https = url.protocol === 'https:';
      const req = (https ? httpsRequest : httpRequest)(url, { method: 'GET', headers, agent: https ? agents.https : agents.http, ...(signal !== undefined ? { signal } : {}) }, resolve);
      req.on('error', reject);
      req.end();
    });
  const f = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    if (init?.method !== undefined && init.method !== 'GET') throw new TypeError('keepAliveFetch: GET only');
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((v, k) => (headers[k] = v));
    const signal = init?.signal ?? undefined;
    let url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    for (let hop = 0; ; hop++) {
      const res = await one(url, headers, signal);
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (status >= 300 && status < 400 && location !== undefined && hop < 5) {
        res.resume();
        url = new URL(location, url);
        continue;
      }
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      let body: Buffer = Buffer.concat(chunks);
      if (res.headers['content-encoding'] === 'gzip') body = await gunzipAsync(body);
      const h = new Headers();
      for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string' && k !== 'content-encoding' && k !== 'content-length') h.set(k, v);
      return new Response(status === 204 || status === 304 ? null : body, { status, headers: h });
    }
  };
  return f as typeof fetch;
}
