/**
 * Baselines of the machine, measured in the same run as the server so that ratios can be compared across runs
 * on noisy or different hardware:
 * - SHA-256 of 256-byte inputs with node:crypto on the main thread (hashes/s);
 * - raw LevelDB (`level`, the server's storage library, same options as server/storage/level-storage.ts):
 *   sequential write batches of 1,000 puts of ~300 bytes with `{ sync: true }` (entries/s).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { removeOnExit } from './server.js';
import { nowMs } from './stats.js';

/** SHA-256 hashes per second of `inputBytes`-byte inputs, one rate per repetition of `repMs`. */
export function sha256Rates(reps: number, repMs: number, inputBytes = 256): number[] {
  const input = randomBytes(inputBytes);
  const rates: number[] = [];
  // Short warm-up so the first repetition is not measuring JIT compilation.
  for (let i = 0; i < 20_000; i++) createHash('sha256').update(input).digest();
  for (let r = 0; r < reps; r++) {
    let n = 0;
    const t0 = nowMs();
    let t = t0;
    while (t - t0 < repMs) {
      for (let i = 0; i < 1000; i++) createHash('sha256').update(input).digest();
      n += 1000;
      t = nowMs();
    }
    rates.push(n / ((t - t0) / 1000));
  }
  return rates;
}

export interface LevelBaseline {
  /** Entries (puts) per second of each repetition. */
  readonly rates: number[];
  /** Mean milliseconds per synced batch write of each repetition. */
  readonly batchMs: number[];
}

/**
 * Sequential synced LevelDB write batches (one in flight at a time, like the sequencer): `batchPuts` puts each of
 * a 33-byte random key (like the leaf-hash index) and a `valueBytes`-byte value.
 */
export async function levelBatchRates(reps: number, repMs: number, batchPuts = 1000, valueBytes = 300, parentDir = tmpdir()): Promise<LevelBaseline> {
  const dir = mkdtempSync(join(parentDir, 'tilelog-bench-level-'));
  removeOnExit(dir);
  const db = new Level<Uint8Array, Uint8Array>(dir, {
    keyEncoding: 'view',
    valueEncoding: 'view',
    writeBufferSize: 16 * 1024 * 1024,
    cacheSize: 32 * 1024 * 1024,
  });
  try {
    await db.open();
    const pool = randomBytes(1 << 20);
    const writeBatch = async () => {
      const b = db.batch();
      for (let i = 0; i < batchPuts; i++) {
        const off = Math.floor(Math.random() * (pool.length - valueBytes - 33));
        b.put(randomBytes(33), pool.subarray(off, off + valueBytes));
      }
      await b.write({ sync: true });
    };
    for (let i = 0; i < 5; i++) await writeBatch(); // warm-up
    const rates: number[] = [];
    const batchMs: number[] = [];
    for (let r = 0; r < reps; r++) {
      let n = 0;
      const t0 = nowMs();
      let t = t0;
      while (t - t0 < repMs) {
        await writeBatch();
        n++;
        t = nowMs();
      }
      rates.push((n * batchPuts) / ((t - t0) / 1000));
      batchMs.push((t - t0) / n);
    }
    return { rates, batchMs };
  } finally {
    await db.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A minimal `node:http` server in a child process (answers every request with 200 "ok", keep-alive) — the
 * machine's ceiling for a Node HTTP server, against which the log's read rates are compared. Returns its URL and
 * a stop function.
 */
export async function minimalHttpServer(): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  const { spawn } = await import('node:child_process');
  const code = "const s=require('node:http').createServer((q,r)=>{r.writeHead(200,{'content-type':'text/plain','content-length':'2'});r.end('ok')});s.keepAliveTimeout=65000;s.listen(0,'127.0.0.1',()=>console.log(s.address().port))";
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('the minimal HTTP server did not start')), 10_000);
    child.stdout?.once('data', (d: Buffer) => {
      clearTimeout(t);
      resolve(Number(d.toString().trim()));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid as number,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
