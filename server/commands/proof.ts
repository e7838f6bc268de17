/**
 * `tilelog proof URL --vkey VKEY (--index N | --entry FILE)`: computes the inclusion proof of an entry from the
 * log's tiles itself (every tile authenticated against the verified checkpoint; c2sp.org/tlog-tiles), verifies it,
 * and prints it as a tlog-proof (c2sp.org/tlog-proof) with the checkpoint verbatim. For --entry, the entry's index
 * is asked from the server (`GET /v1/proof/inclusion?leafHash=…&treeSize=…`, untrusted: the leaf hash at that index
 * is then checked against the authenticated level-0 tile). One-line verdict on stderr; exit 0 / 1 / 2 (common.ts).
 */
import { writeFileSync } from 'node:fs';
import { Command } from 'commander';
import {
  FetchError,
  ProofBuilder,
  TileFetcher,
  TlogError,
  buildTlogProof,
  checkInclusion,
  leafHash,
  parseTlogProof,
  verifyCheckpoint,
  verifyTlogProof,
} from '../../clients/tlog/index.js';
import { bytesEqual, encodeHex, parseDecimal } from '../core/strict.js';
import { UsageError, addWitnessOptions, describeCheckpoint, readBytes, runVerdict, usage, usageExit, witnessPolicy, type WitnessOptions } from './common.js';

interface ProofOptions extends WitnessOptions {
  index?: string;
  entry?: string;
  out?: string;
  timeout: string;
}

/** The `proof` subcommand. */
export function proofCommand(): Command {
  const cmd = new Command('proof')
    .description('compute an inclusion proof from the log\'s tiles, verify it, print it as a tlog-proof (verdict on stderr; exit 0 ok, 1 failed, 2 error)')
    .argument('<url>', 'the log prefix (tlog-tiles), e.g. https://log.example/')
    .option('--index <n>', 'the entry\'s index in the log')
    .option('--entry <file>', 'the entry, byte for byte (its index is looked up by leaf hash)')
    .option('--out <file>', 'write the tlog-proof to this file instead of stdout')
    .option('--timeout <ms>', 'HTTP timeout in ms', '10000');
  addWitnessOptions(cmd);
  usageExit(cmd);
  return cmd.action(async (url: string, o: ProofOptions) => {
    await runVerdict(async () => {
      const { logVkeys, policy } = witnessPolicy(o);
      if ((o.index === undefined) === (o.entry === undefined)) throw new UsageError('give exactly one of --index and --entry');
      const index0 = o.index === undefined ? undefined : usage(() => parseDecimal(o.index as string, '--index'));
      const entry = o.entry === undefined ? undefined : readBytes(o.entry, '--entry');
      const timeoutMs = usage(() => {
        const t = Number(o.timeout);
        if (!Number.isInteger(t) || t <= 0) throw new UsageError('--timeout must be a positive number of ms');
        return t;
      });
      const fetcher = usage(() => new TileFetcher(url, { timeoutMs }));

      const note = await fetcher.checkpoint();
      const v = verifyCheckpoint(note, { logVkeys, ...(policy !== undefined ? { policy } : {}), ...(o.origin !== undefined ? { origin: o.origin } : {}) });
      const tree = v.checkpoint;
      const builder = new ProofBuilder(tree, fetcher.readTiles);

      let index: bigint;
      if (entry !== undefined) {
        const lh = leafHash(entry);
        index = await lookupIndex(fetcher, lh, tree.treeSize, timeoutMs);
        if (index >= tree.treeSize) throw new TlogError('VERIFICATION_FAILED', `the server placed the entry at index ${index}, outside the checkpoint's tree of size ${tree.treeSize}`);
        if (!bytesEqual(await builder.leafHash(index), lh)) throw new TlogError('VERIFICATION_FAILED', `the server placed the entry at index ${index}, but the leaf hash there is another entry's`);
      } else {
        index = index0 as bigint;
        if (index >= tree.treeSize) throw new TlogError('OUT_OF_RANGE', `index ${index} is not in the checkpoint's tree of size ${tree.treeSize}`);
      }

      const proofText = await buildTlogProof(builder, note, index);
      // Verify what is printed, from the printed text.
      if (entry !== undefined) verifyTlogProof(proofText, entry, logVkeys, policy);
      else {
        const p = parseTlogProof(proofText);
        checkInclusion(await builder.leafHash(index), p.index, tree, p.proof);
      }
      if (o.out !== undefined) {
        try {
          writeFileSync(o.out, proofText);
        } catch (err) {
          throw new UsageError(`--out: cannot write ${o.out}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        }
      } else process.stdout.write(proofText);
      return `entry ${index} is in checkpoint ${describeCheckpoint(v, policy)} (proof computed from authenticated tiles)`;
    });
  });
}

/**
 * The index of the entry with `lh` in the tree of `treeSize`, asked from a Tilelog server's JSON API (untrusted).
 * NOT_FOUND (exit 1) if the server does not know the entry at that size; FetchError for transport problems.
 */
async function lookupIndex(fetcher: TileFetcher, lh: Uint8Array, treeSize: bigint, timeoutMs: number): Promise<bigint> {
  const url = new URL(`v1/proof/inclusion?leafHash=${encodeHex(lh)}&treeSize=${treeSize}`, fetcher.baseUrl).href;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { Accept: 'application/json' } });
  } catch (err) {
    throw new FetchError((err as Error).name === 'TimeoutError' ? 'timeout' : 'network', url, `looking up the entry's index failed: ${(err as Error).message}`);
  }
  const text = await res.text().catch(() => '');
  if (res.status === 404) throw new TlogError('NOT_FOUND', `the log does not have this entry (leaf hash ${encodeHex(lh)}) at tree size ${treeSize}`);
  if (res.status !== 200) throw new FetchError('http', url, `HTTP ${res.status} looking up the entry's index: ${text.slice(0, 200)}`, res.status);
  const m = /"index"\s*:\s*"?([0-9]+)"?/.exec(text);
  if (m === null) throw new FetchError('bad-response', url, 'no index in the reply');
  return parseDecimal(m[1] as string, 'index');
}
