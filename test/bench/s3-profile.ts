/**
 * Where the time of an S3 commit goes (issue #11, "Benchmark": what limits durable ingest on S3). Part of
 * `npm run bench:s3` (BENCH_S3_PROFILE=0 skips it): the real Sequencer and S3Storage in-process, without HTTP,
 * against the bench's RGW, with
 *   - every S3 request timed by an SDK middleware and classified by key (staging, tree, done marker, tile, bundle,
 *     leaf index, checkpoint) — nothing in server/ is changed or instrumented;
 *   - each commit split by its afterStep hook: stage (staging PUT), settle (waiting for the previous commit's
 *     background step 3 before the swap), swap (the tree PUT), and the background final step (tiles, bundles,
 *     leaf index objects, .done marker);
 *   - the sequencer's duplicate lookups (lookupLeafHashes: one GET per new entry with the leaf index).
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { Sequencer } from '../../server/sequencer.js';
import { S3Storage, type CommitStep } from '../../server/storage/s3-storage.js';
import { EntryFactory } from './entries.js';
import { fmt, mean, nowMs, quantile } from './stats.js';
import { timedStorage } from './timed-storage.js';

/** Request timings by class ("PUT tile", "GET leaf", …). */
export class RequestTimes {
  readonly byClass = new Map<string, number[]>();
  /** Start time of the latest tree PUT (the swap). */
  lastTreePutStart = 0;

  record(cls: string, ms: number): void {
    let a = this.byClass.get(cls);
    if (a === undefined) this.byClass.set(cls, (a = []));
    a.push(ms);
  }
}

function classify(command: string, key: string | undefined, prefix: string): string {
  const verb = command.replace(/Object(Command)?$/, '').replace(/Command$/, '').toUpperCase();
  const k = key?.startsWith(prefix) === true ? key.slice(prefix.length) : (key ?? '');
  const what =
    k === '.tilelog/tree' ? 'tree' : k.startsWith('.tilelog/staging/') ? (k.endsWith('.done') ? 'done marker' : 'staging') : k.startsWith('.tilelog/leaf/') ? 'leaf index' : k.startsWith('tile/entries/') ? 'bundle' : k.startsWith('tile/') ? 'tile' : k === 'checkpoint' ? 'checkpoint' : k === '' ? 'bucket' : 'other';
  return `${verb} ${what}`;
}

/** Adds a timing middleware to `client` (idempotent per name). */
export function instrument(client: S3Client, prefix: string, times: RequestTimes): void {
  type Next = (args: { input: { Key?: string } }) => Promise<unknown>;
  const mw = (next: Next, context: { commandName?: string }) => async (args: { input: { Key?: string } }) => {
    const cls = classify(context.commandName ?? '?', args.input.Key, prefix);
    const t = nowMs();
    if (cls === 'PUT tree') times.lastTreePutStart = t;
    try {
      return await next(args);
    } finally {
      times.record(cls, nowMs() - t);
    }
  };
  (client.middlewareStack as unknown as { add(m: unknown, o: { step: string; name: string }): void }).add(mw, { step: 'initialize', name: 'tilelogBenchTiming' });
}

export interface CommitProfile {
  readonly name: string;
  readonly seconds: number;
  readonly entriesPerS: number;
  readonly commits: number;
  readonly meanBatchEntries: number;
  /** Mean ms of each serial part of a commit cycle, and the background final step. */
  readonly ms: { lookup: number; stage: number; settle: number; swap: number; commit: number; cycle: number; other: number; finalBg: number; commitP99: number };
  /** Requests per commit and mean/p99 latency, by class. */
  readonly requests: { readonly cls: string; readonly perCommit: number; readonly meanMs: number; readonly p99Ms: number }[];
}

/**
 * Runs the sequencer on S3 for `seconds`: `clients` callers each adding `batch` unique 256-byte entries at a time,
 * back to back, with the server's `--batch-size` `batchSize` and `--batch-delay` `batchDelayMs`.
 */
export async function profileS3Commits(o: { name: string; client: S3Client; bucket: string; prefix: string; leafIndex: boolean; seconds: number; clients: number; batch: number; batchSize: number; batchDelayMs: number }): Promise<CommitProfile> {
  const times = new RequestTimes();
  instrument(o.client, o.prefix, times);
  interface C {
    start: number;
    staged?: number;
    swapStart?: number;
    swapped?: number;
    end?: number;
    final?: number;
    entries: number;
  }
  const commits: C[] = [];
  let finalIdx = 0;
  const afterStep = (s: CommitStep) => {
    const t = nowMs();
    if (s === 'final') {
      const c = commits[finalIdx++];
      if (c !== undefined) c.final = t;
      return;
    }
    const c = commits[commits.length - 1];
    if (c === undefined) return;
    if (s === 'staged') c.staged = t;
    if (s === 'swapped') {
      c.swapped = t;
      c.swapStart = times.lastTreePutStart;
    }
  };
  const storage = await S3Storage.open({ bucket: o.bucket, prefix: o.prefix, client: o.client, leafIndex: o.leafIndex, afterStep });
  const lookupMs: number[] = [];
  const timed = timedStorage(storage, {
    lookup: (ms) => lookupMs.push(ms),
    commit: (c) => {
      const rec: C = { start: nowMs(), entries: c.leafIndexes.length };
      commits.push(rec);
      return (end) => {
        rec.end = end;
      };
    },
  });
  try {
    const seq = await Sequencer.open(timed, { batchSize: o.batchSize, batchDelayMs: o.batchDelayMs, maxPending: 1_000_000 });
    const f = new EntryFactory();
    let acked = 0;
    const t0 = nowMs();
    const end = t0 + o.seconds * 1000;
    await Promise.all(
      Array.from({ length: o.clients }, async () => {
        while (nowMs() < end) {
          const body = f.batchBody('ndjson', o.batch, 256);
          const entries: Uint8Array[] = [];
          let from = 0;
          for (let i = 0; i <= body.length; i++) {
            if (i === body.length || body[i] === 0x0a) {
              if (i > from) entries.push(body.subarray(from, i));
              from = i + 1;
            }
          }
          const added = await seq.add(entries); // (not `acked += await …`: that reads acked before awaiting)
          acked += added.length;
        }
      }),
    );
    const elapsed = nowMs() - t0;
    await seq.drain();
    await storage.close(); // waits for the last background step 3
    const done = commits.filter((c) => c.end !== undefined && c.staged !== undefined && c.swapped !== undefined && c.swapStart !== undefined);
    const cycles = done.slice(1).map((c, i) => (c.end as number) - ((done[i] as C).end as number));
    const commitMs = done.map((c) => (c.end as number) - c.start);
    const m = {
      lookup: mean(lookupMs),
      stage: mean(done.map((c) => (c.staged as number) - c.start)),
      settle: mean(done.map((c) => (c.swapStart as number) - (c.staged as number))),
      swap: mean(done.map((c) => (c.swapped as number) - (c.swapStart as number))),
      commit: mean(commitMs),
      cycle: mean(cycles),
      other: 0,
      finalBg: mean(done.filter((c) => c.final !== undefined).map((c) => (c.final as number) - (c.swapped as number))),
      commitP99: quantile(commitMs, 0.99),
    };
    m.other = m.cycle - m.lookup - m.commit;
    const n = Math.max(1, commits.length);
    return {
      name: o.name,
      seconds: elapsed / 1000,
      entriesPerS: acked / (elapsed / 1000),
      commits: commits.length,
      meanBatchEntries: mean(commits.map((c) => c.entries)),
      ms: m,
      requests: [...times.byClass.entries()].sort((a, b) => b[1].length - a[1].length).map(([cls, xs]) => ({ cls, perCommit: xs.length / n, meanMs: mean(xs), p99Ms: quantile(xs, 0.99) })),
    };
  } finally {
    await storage.close().catch(() => {});
  }
}

/** Markdown of the profiles. */
export function renderProfiles(ps: readonly CommitProfile[]): string {
  const lines: string[] = [];
  lines.push('| in-process (no HTTP) | entries/s | commits | entries/commit | lookup ms | stage ms | settle ms | swap ms | commit ms (p99) | cycle ms | other ms | final (background) ms |');
  lines.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const p of ps) {
    const m = p.ms;
    lines.push(`| ${p.name} | ${Math.round(p.entriesPerS)} | ${p.commits} | ${Math.round(p.meanBatchEntries)} | ${fmt(m.lookup)} | ${fmt(m.stage)} | ${fmt(m.settle)} | ${fmt(m.swap)} | ${fmt(m.commit)} (${fmt(m.commitP99)}) | ${fmt(m.cycle)} | ${fmt(m.other)} | ${fmt(m.finalBg)} |`);
  }
  for (const p of ps) {
    lines.push('', `Requests of "${p.name}" (per commit, mean / p99 latency):`, '', '| request | per commit | mean ms | p99 ms |', '| --- | --- | --- | --- |');
    for (const r of p.requests) lines.push(`| ${r.cls} | ${fmt(r.perCommit)} | ${fmt(r.meanMs)} | ${fmt(r.p99Ms)} |`);
  }
  return lines.join('\n');
}
