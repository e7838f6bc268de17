/**
 * Witnessing configuration of `tilelog serve`: either a C2SP tlog-policy file (`--witness-policy`), or witnesses
 * on the command line (`--witness NAME=URL=VKEY`, repeatable) with `--witness-quorum K` (default: all of them).
 */
import { readFileSync } from 'node:fs';
import { newCosignatureVerifier } from '../core/cosignature.js';
import { parsePolicy, thresholdPolicy, type Policy } from '../core/policy.js';
import { parseWitnessFlag } from './cosigning.js';

export interface WitnessingConfig {
  readonly policy: Policy;
  readonly failOpen: boolean;
  readonly timeoutMs: number;
}

/** The witnessing config from the serve flags, or undefined when no witness is configured. Throws on bad input. */
export function witnessingConfig(o: { witness: string[]; witnessPolicy?: string; witnessQuorum?: number; witnessFailOpen?: boolean; witnessTimeout: number }): WitnessingConfig | undefined {
  if (o.witnessPolicy !== undefined && o.witness.length > 0) throw new Error('give either --witness-policy or --witness flags, not both');
  let policy: Policy;
  if (o.witnessPolicy !== undefined) {
    if (o.witnessQuorum !== undefined) throw new Error('--witness-quorum applies to --witness flags; a policy file has its own quorum line');
    policy = parsePolicy(readFileSync(o.witnessPolicy));
  } else if (o.witness.length > 0) {
    const witnesses = o.witness.map((s) => {
      const { name, url, vkey } = parseWitnessFlag(s);
      return { name, url, vkey, verifier: newCosignatureVerifier(vkey) };
    });
    policy = thresholdPolicy(witnesses, o.witnessQuorum ?? witnesses.length);
  } else {
    if (o.witnessQuorum !== undefined || o.witnessFailOpen === true) throw new Error('--witness-quorum and --witness-fail-open need witnesses');
    return undefined;
  }
  return { policy, failOpen: o.witnessFailOpen === true, timeoutMs: o.witnessTimeout };
}
