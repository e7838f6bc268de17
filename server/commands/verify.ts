/**
 * `tilelog verify --vkey VKEY [--witness VKEY… --quorum K | --policy FILE] PROOF ENTRY`: verifies a tlog-proof
 * (c2sp.org/tlog-proof) for an entry offline — checkpoint signature, witness quorum, inclusion proof — and prints a
 * one-line verdict on stderr. Exit 0 / 1 / 2 (see common.ts).
 */
import { Command } from 'commander';
import { verifyTlogProof } from '../../clients/tlog/index.js';
import { addWitnessOptions, describeCheckpoint, readBytes, readText, runVerdict, usageExit, witnessPolicy, type WitnessOptions } from './common.js';

/** The `verify` subcommand. */
export function verifyCommand(): Command {
  const cmd = new Command('verify')
    .description('verify a tlog-proof for an entry offline (verdict on stderr; exit 0 ok, 1 failed, 2 error)')
    .argument('<proof>', 'the .tlog-proof file')
    .argument('<entry>', 'the entry, byte for byte (its leaf hash is SHA-256(0x00 || entry))');
  addWitnessOptions(cmd);
  usageExit(cmd);
  return cmd.action(async (proofFile: string, entryFile: string, o: WitnessOptions) => {
    await runVerdict(async () => {
      const { logVkeys, policy } = witnessPolicy(o);
      const proofText = readText(proofFile, 'PROOF');
      const entry = readBytes(entryFile, 'ENTRY');
      const v = verifyTlogProof(proofText, entry, logVkeys, policy, o.origin !== undefined ? { origin: o.origin } : {});
      return `entry ${v.index} is in checkpoint ${describeCheckpoint(v.checkpoint, policy)}`;
    });
  });
}
