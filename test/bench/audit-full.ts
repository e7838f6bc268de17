/**
 * Full-audit throughput: starts `tilelog serve` (or uses --url/--vkey/--origin of a running log), loads N entries
 * (POST /v1/entries, batches of 1000, default 210,000), then runs the full audit in-process (clients/auditor) from an
 * empty state and prints entries/s. Then again with every response replayed from memory (recorded during the first
 * run), which measures the auditor's own verification throughput without the log server.
 * Not a test: run `node dist/test/bench/audit-full.js [N]`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Auditor } from '../../clients/auditor/index.js';
import { cleanupAll, startServer } from '../support/server-process.js';
import { postEntries } from '../support/http-tiles.js';

// `npm test` runs every file under dist/test with node --test: the benchmark only runs when invoked directly.
if (process.env['NODE_TEST_CONTEXT'] === undefined) {
  const n = Number(process.argv[2] ?? 210_000);
  const server = await startServer({ checkpointInterval: '500ms', batchDelay: '5ms' });
  const t0 = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < n) {
        const base = next;
        next += 1000;
        const body = JSON.stringify(Array.from({ length: Math.min(1000, n - base) }, (_, i) => ({ event: 'bench', i: base + i, pad: 'x'.repeat(40) })));
        for (;;) {
          const r = await postEntries(server.baseUrl, body, { 'Content-Type': 'application/json' }, next >= n ? '?wait=published' : '');
          if (r.status === 200) break;
          await new Promise((res) => setTimeout(res, 50));
        }
      }
    }),
  );
  await new Promise((r) => setTimeout(r, 1500));
  console.log(`loaded ${n} entries in ${(Date.now() - t0) / 1000} s`);
  const recorded = new Map<string, { status: number; body: Uint8Array }>();
  const recording: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    const body = new Uint8Array(await res.arrayBuffer());
    recorded.set(String(input), { status: res.status, body });
    return new Response(body, { status: res.status });
  };
  const replaying: typeof fetch = async (input) => {
    const r = recorded.get(String(input));
    if (r === undefined) return new Response(null, { status: 404 });
    return new Response(r.body.slice(), { status: r.status });
  };

  async function run(label: string, fetchImpl: typeof fetch | undefined): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), 'tilelog-audit-bench-'));
    const auditor = await Auditor.open({
      logs: [{ origin: server.origin, url: server.baseUrl + '/', vkey: server.vkey }],
      peers: [],
      stateDir: join(dir, 'state'),
      evidenceDir: join(dir, 'evidence'),
      full: true,
      intervalMs: 1000,
      timeoutMs: 10_000,
      logger: pino({ level: 'warn' }),
      ...(fetchImpl !== undefined ? { fetcherOptions: { fetch: fetchImpl } } : {}),
    });
    const view = [...auditor.views.values()][0]!;
    await view.poll();
    const N = view.latest!.checkpoint.treeSize;
    const cpu0 = process.cpuUsage();
    const t1 = performance.now();
    const ok = await view.runFull();
    const s = (performance.now() - t1) / 1000;
    const cpu = process.cpuUsage(cpu0);
    console.log(JSON.stringify({ run: label, ok, treeSize: N.toString(), seconds: s.toFixed(2), entriesPerSecond: Math.round(Number(N) / s), auditorCpuSeconds: ((cpu.user + cpu.system) / 1e6).toFixed(2), requests: view.fetcher.requests }));
    await auditor.close();
    rmSync(dir, { recursive: true, force: true });
  }

  await run('from the local log (node:http keep-alive)', undefined);
  await run('from the local log (recording, global fetch)', recording);
  await run('replayed from memory (no log server)', replaying);
  await run('replayed from memory (no log server)', replaying);
  await cleanupAll();
}
