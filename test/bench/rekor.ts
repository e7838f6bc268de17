/**
 * `node dist/test/bench/rekor.js` (after `npm run build`): Rekor v2 submissions against a real `tilelog serve`
 * (default checkpoint interval 1 s): hashedrekord v0.0.2 requests, ECDSA P-256, pre-signed unique digests,
 * `concurrency` clients for `seconds` each round, 3 rounds → submissions/s and time to the reply (which comes once
 * a published checkpoint covers the entry: the bundle's latency). Targets (issue #5): p99 ≤ interval + 500 ms,
 * ≥ 2,000 submissions/s. Bounded in time; 127.0.0.1 only; the server is always stopped.
 */
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerProcess } from './server.js';

const SECONDS = Number(process.env['REKOR_SECONDS'] ?? 5);
const CONCURRENCY = Number(process.env['REKOR_CONCURRENCY'] ?? 64);

function post(agent: Agent, base: URL, body: string): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(new URL('/api/v2/log/entries', base), { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, timeout: 30_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function main(): Promise<void> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const der = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  let n = 0;
  const nextBody = () => {
    const artifact = Buffer.from(`artifact ${process.pid} ${n++}`);
    return JSON.stringify({
      hashedRekordRequestV002: {
        digest: createHash('sha256').update(artifact).digest('base64'),
        signature: { content: sign('sha256', artifact, privateKey).toString('base64'), verifier: { publicKey: { rawBytes: der }, keyDetails: 'PKIX_ECDSA_P256_SHA_256' } },
      },
    });
  };
  const dir = mkdtempSync(join(tmpdir(), 'tilelog-rekor-bench-'));
  const server = await ServerProcess.start({ dataDir: dir, args: [] });
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  try {
    const base = new URL(server.base);
    for (let round = 1; round <= 3; round++) {
      const lat: number[] = [];
      let errors = 0;
      const end = performance.now() + SECONDS * 1000;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (performance.now() < end) {
            const r = await post(agent, base, nextBody());
            if (r.status === 201 || r.status === 200) lat.push(r.ms);
            else errors++;
          }
        }),
      );
      lat.sort((a, b) => a - b);
      const q = (p: number) => Math.round(lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? NaN);
      process.stdout.write(`round ${round}: ${Math.round(lat.length / SECONDS)} submissions/s (${CONCURRENCY} clients), reply p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, errors ${errors}\n`);
    }
  } finally {
    agent.destroy();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// Not a test: do nothing when the test runner imports every file under dist/test.
if (process.argv[1]?.endsWith('rekor.js') === true && process.env['NODE_TEST_CONTEXT'] === undefined) {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
