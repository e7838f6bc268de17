/**
 * Shared pieces of the web explorer's browser tests (issue #10): test/e2e/explorer.test.ts (Chromium via
 * playwright-core) and test/e2e/explorer-firefox.test.ts (Firefox ESR via puppeteer-core / WebDriver BiDi).
 * Collector-style entries, posting them, reading the checkpoint, and a proxy that tampers with tiles.
 */
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { REPO_ROOT } from './server-process.js';

/** Where screenshots of each view are written (gitignored). */
export const ARTIFACTS = join(REPO_ROOT, 'test-artifacts');

/** The bound on every wait for the page. */
export const WAIT_MS = 15_000;

/** The one error the browser logs by design: the 404 of a look-up of a leaf hash that is not in the log. */
export const NOT_FOUND_HASH = 'ab'.repeat(32);

/** Collector-style entries (type collector.record/v1 with a normalised ingress event). */
export function collectorEntry(i: number, kind: string, status: number): unknown {
  return {
    type: 'collector.record/v1',
    collector: 'e2e',
    input: 'nginx',
    origin: { file: '/var/log/nginx/access.log', line: i + 1 },
    event: {
      kind,
      time: `2026-11-25T10:00:${String(i).padStart(2, '0')}Z`,
      source: { type: 'ingress-nginx', format: 'json' },
      client: { address: `10.1.0.${i}`, ...(i % 2 === 0 ? { user: `user${i}` } : {}) },
      request: { method: i % 3 === 0 ? 'POST' : 'GET', host: 'shop.example', path: `/cart/${i}?q=${i}`, protocol: 'HTTP/1.1' },
      response: { status },
      ingress: { namespace: 'shop', name: 'web' },
    },
  };
}

export const ENTRIES = [
  collectorEntry(0, 'access', 200),
  collectorEntry(1, 'access', 302),
  collectorEntry(2, 'denied', 403),
  collectorEntry(3, 'error', 502),
  collectorEntry(4, 'access', 200),
];

export interface Posted {
  index: number;
  leafHash: string;
}

export async function post(base: string, body: unknown, token?: string): Promise<Posted[]> {
  const res = await fetch(`${base}/v1/entries?wait=published`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(res.status, 200, await res.clone().text());
  return ((await res.json()) as { entries: Posted[] }).entries;
}

export async function checkpointOf(base: string): Promise<{ treeSize: string; rootHash: string }> {
  const text = await (await fetch(`${base}/checkpoint`, { signal: AbortSignal.timeout(5_000) })).text();
  const [, treeSize, rootHash] = text.split('\n');
  return { treeSize: treeSize!, rootHash: rootHash! };
}

/**
 * A proxy to `target` that flips one byte (the last) of every resource whose path matches `victim` (level-0 hash
 * tiles by default). Those are fetched uncompressed so that the flipped byte lands in the data.
 */
export async function tamperingProxy(target: string, victim = /^\/tile\/0\/[0-9x/]+(\.p\/\d+)?$/): Promise<{ url: string; server: Server; tampered: string[] }> {
  const tampered: string[] = [];
  const upstream = new URL(target);
  const server = createServer((req, res) => {
    const hit = victim.test(req.url ?? '');
    const headers = { ...req.headers, host: upstream.host };
    if (hit) delete headers['accept-encoding'];
    const up = httpRequest({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => {
        let body = Buffer.concat(chunks);
        const replyHeaders = { ...r.headers };
        if (hit && r.statusCode === 200 && body.length > 0) {
          body = Buffer.from(body);
          body[body.length - 1] = (body[body.length - 1] ?? 0) ^ 0x01;
          tampered.push(req.url ?? '');
        }
        replyHeaders['content-length'] = String(body.length);
        res.writeHead(r.statusCode ?? 502, replyHeaders);
        res.end(body);
      });
    });
    up.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, tampered };
}
