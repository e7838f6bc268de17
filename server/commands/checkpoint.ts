/**
 * `tilelog checkpoint URL --vkey VKEY [--witness VKEY… --quorum K | --policy FILE]`: fetches `<URL>/checkpoint`
 * (c2sp.org/tlog-tiles), verifies the log signature and the witness quorum (c2sp.org/tlog-cosignature,
 * tlog-policy), prints the checkpoint on stdout and a one-line verdict on stderr. Exit 0 / 1 / 2 (see common.ts).
 */
import { Command } from 'commander';
import { TileFetcher, verifyCheckpoint } from '../../clients/tlog/index.js';
import { addWitnessOptions, describeCheckpoint, runVerdict, usage, usageExit, witnessPolicy, type WitnessOptions } from './common.js';

/** The `checkpoint` subcommand. */
export function checkpointCommand(): Command {
  const cmd = new Command('checkpoint')
    .description("fetch a log's checkpoint, verify its signature and witness cosignatures, print it (verdict on stderr; exit 0 ok, 1 failed, 2 error)")
    .argument('<url>', 'the log prefix (tlog-tiles), e.g. https://log.example/')
    .option('--timeout <ms>', 'HTTP timeout in ms', '10000');
  addWitnessOptions(cmd);
  usageExit(cmd);
  return cmd.action(async (url: string, o: WitnessOptions & { timeout: string }) => {
    await runVerdict(async () => {
      const { logVkeys, policy } = witnessPolicy(o);
      const fetcher = usage(() => new TileFetcher(url, { timeoutMs: Number(o.timeout) }));
      const note = await fetcher.checkpoint();
      const v = verifyCheckpoint(note, { logVkeys, ...(policy !== undefined ? { policy } : {}), ...(o.origin !== undefined ? { origin: o.origin } : {}) });
      process.stdout.write(note);
      return `checkpoint ${describeCheckpoint(v, policy)}`;
    });
  });
}
