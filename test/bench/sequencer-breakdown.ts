/**
 * Diagnostic (not part of `npm run bench`): the sequencer and LevelDB storage in-process, without HTTP, to split
 * the time of one batch into its serial steps — leaf-hash lookup (duplicate check, LevelDB getMany), in-memory
 * work (integration: leaf and node hashing, tile encoding), and the synced commit.
 *
 *   node dist/test/bench/sequencer-breakdown.js [SECONDS=10] [CLIENTS=4] [BATCH_SIZE=1000]
 *
 * Each of CLIENTS adds 1,000 unique 256-byte entries at a time, back to back; the sequencer runs with
 * batchSize BATCH_SIZE (the server's --batch-size), batchDelay 10 ms.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Sequencer } from '../../server/sequencer.js';
import { LevelStorage } from '../../server/storage/level-storage.js';
import { EntryFactory } from './entries.js';
import { fmt, mean, nowMs, quantile } from './stats.js';
import { timedStorage } from './timed-storage.js';

export interface Breakdown {
  readonly entriesPerS: number;
  readonly batches: number;
  readonly meanBatchEntries: number;
  readonly lookupMs: { mean: number; p99: number };
  readonly commitMs: { mean: number; p99: number };
  /** Wall time of the flush loop not spent waiting for lookup or commit (CPU on the main thread, mostly). */
  readonly otherMs: { mean: number };
  readonly cycleMs: { mean: number };
}

export async function sequencerBreakdown(seconds: number, clients: number, batchSize: number, parent = tmpdir()): Promise<Breakdown> {
  const dir = mkdtempSync(join(parent, 'tilelog-bench-seq-'));
  const storage = await LevelStorage.open(dir);
  const lookupMs: number[] = [];
  const commitMs: number[] = [];
  const commitAt: number[] = [];
  const batchEntries: number[] = [];
  const timed = timedStorage(storage, {
    lookup: (ms) => lookupMs.push(ms),
    commit: (c) => {
      const t = nowMs();
      return (e) => {
        commitMs.push(e - t);
        commitAt.push(e);
        batchEntries.push(c.leafIndexes.length);
      };
    },
  });
  try {
    const seq = await Sequencer.open(timed, { batchSize, batchDelayMs: 10, maxPending: 100_000 });
    const f = new EntryFactory();
    let acked = 0;
    const t0 = nowMs();
    const end = t0 + seconds * 1000;
    const worker = async () => {
      while (nowMs() < end) {
        const entries = Array.from({ length: 1000 }, () => f.octet(256));
        const r = await seq.add(entries);
        acked += r.length;
      }
    };
    await Promise.all(Array.from({ length: clients }, worker));
    const elapsed = nowMs() - t0;
    await seq.drain();
    const cycles = commitAt.slice(1).map((t, i) => t - (commitAt[i] as number));
    const cycle = mean(cycles);
    const look = mean(lookupMs);
    const com = mean(commitMs);
    return {
      entriesPerS: acked / (elapsed / 1000),
      batches: commitMs.length,
      meanBatchEntries: mean(batchEntries),
      lookupMs: { mean: look, p99: quantile(lookupMs, 0.99) },
      commitMs: { mean: com, p99: quantile(commitMs, 0.99) },
      otherMs: { mean: cycle - look - com },
      cycleMs: { mean: cycle },
    };
  } finally {
    await storage.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.env['NODE_TEST_CONTEXT'] === undefined) {
  const [s = '10', c = '4', b = '1000'] = process.argv.slice(2);
  const r = await sequencerBreakdown(Number(s), Number(c), Number(b));
  process.stdout.write(
    `sequencer + LevelStorage in-process, ${c} clients × 1,000 entries, batchSize ${b}: ${fmt(r.entriesPerS)} entries/s, ${r.batches} commits of ${fmt(r.meanBatchEntries)} entries\n` +
      `  per commit cycle ${r.cycleMs.mean.toFixed(1)} ms = lookup ${r.lookupMs.mean.toFixed(1)} ms (p99 ${r.lookupMs.p99.toFixed(1)}) + commit ${r.commitMs.mean.toFixed(1)} ms (p99 ${r.commitMs.p99.toFixed(1)}) + other ${r.otherMs.mean.toFixed(1)} ms\n`,
  );
}
