/**
 * Shared parts of the client subcommands (`tilelog checkpoint | proof | verify`): witness options, one-line
 * verdicts on stderr and the exit codes.
 *
 * Exit codes: 0 verified; 1 verification failed (a signature, quorum, proof or tile that does not check out, or
 * log data / a proof file that does not parse); 2 usage or network error (bad options, unreadable files, HTTP
 * failures, timeouts).
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { FetchError, TlogError, parseTlogPolicy, simplePolicy, type VerifiedCheckpoint, type WitnessPolicy } from '../../clients/tlog/index.js';
import { newVerifier } from '../core/keys.js';
import { encodeBase64 } from '../core/strict.js';

/** Exit code: everything verified. */
export const EXIT_OK = 0;
/** Exit code: something did not verify. */
export const EXIT_VERIFICATION_FAILED = 1;
/** Exit code: bad usage, unreadable input or a network/HTTP failure. */
export const EXIT_USAGE = 2;

/** A usage error (exit 2): bad option values, unreadable files. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Options shared by the commands that check witness cosignatures. */
export interface WitnessOptions {
  vkey?: string[];
  witness?: string[];
  quorum?: string;
  policy?: string;
  origin?: string;
}

const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

/** Adds --vkey (repeatable), --witness (repeatable), --quorum, --policy and --origin to `cmd`. */
export function addWitnessOptions(cmd: Command): Command {
  return cmd
    .option('--vkey <vkey>', "the log's verifier key (repeatable: any one must sign; default: the policy's log lines)", collect)
    .option('--witness <vkey>', 'a witness cosigner key (cosignature/v1, type 0x04); repeatable', collect)
    .option('--quorum <k>', 'how many of the --witness keys must cosign (default: all of them)')
    .option('--policy <file>', 'a C2SP tlog-policy file (log, witness, group, quorum lines) instead of --witness/--quorum')
    .option('--origin <origin>', 'the origin the checkpoint must carry');
}

/** Makes usage errors of `cmd` (unknown option, missing argument) exit with code 2 instead of commander's 1. */
export function usageExit(cmd: Command): Command {
  return cmd.exitOverride((err: CommanderError) => {
    process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE);
  });
}

/** The log vkeys and witness policy from the options. UsageError for anything wrong with them. */
export function witnessPolicy(o: WitnessOptions): { logVkeys: string[]; policy: WitnessPolicy | undefined } {
  return usage(() => {
    if (o.policy !== undefined && (o.witness !== undefined || o.quorum !== undefined)) throw new UsageError('give either --policy or --witness/--quorum, not both');
    if (o.quorum !== undefined && o.witness === undefined) throw new UsageError('--quorum needs --witness');
    let policy: WitnessPolicy | undefined;
    if (o.policy !== undefined) policy = parseTlogPolicy(readText(o.policy, '--policy'));
    else if (o.witness !== undefined) {
      const k = o.quorum === undefined ? o.witness.length : Number(o.quorum);
      if (o.quorum !== undefined && !/^(0|[1-9][0-9]*)$/.test(o.quorum)) throw new UsageError(`--quorum must be a number, got ${JSON.stringify(o.quorum)}`);
      policy = simplePolicy(o.witness, k);
    }
    const logVkeys = o.vkey ?? policy?.logs.map((l) => l.vkey) ?? [];
    if (logVkeys.length === 0) throw new UsageError('--vkey is required (or a --policy with log lines)');
    for (const v of logVkeys) newVerifier(v); // MALFORMED → usage error here, not a verification failure later
    return { logVkeys, policy };
  });
}

/** Runs `f`, turning any error into a UsageError (for parsing options and reading the user's files). */
export function usage<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError((err as Error).message);
  }
}

/** Reads a file as UTF-8 (UsageError if unreadable). */
export function readText(path: string, what: string): string {
  return readBytes(path, what).toString('utf8');
}

/** Reads a file (UsageError if unreadable). */
export function readBytes(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(`${what}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** "origin size N root B64, signed by K; W of the policy's witnesses cosigned: a (time), b (time)" */
export function describeCheckpoint(v: VerifiedCheckpoint, policy: WitnessPolicy | undefined): string {
  const c = v.checkpoint;
  let s = `${c.origin} size ${c.treeSize} root ${encodeBase64(c.rootHash)}, signed by ${v.logKeys.map((k) => k.split('+').slice(0, 2).join('+')).join(', ')}`;
  if (policy !== undefined) {
    const cos = v.cosignatures.map((x) => `${x.witness} at ${timeString(x.timestamp)}`);
    s += `; ${v.cosignatures.length} of ${policy.witnesses.length} witnesses cosigned${cos.length > 0 ? ` (${cos.join(', ')})` : ''}, quorum ${policy.quorum === null ? 'none' : 'met'}`;
  }
  return s;
}

function timeString(t: bigint): string {
  const ms = t * 1000n;
  return ms <= 8_640_000_000_000_000n ? new Date(Number(ms)).toISOString().replace('.000Z', 'Z') : `${t}`;
}

/**
 * Runs a command body: prints `tilelog: OK <verdict>` to stderr and exits 0 when it returns a verdict; on an error
 * prints one line `tilelog: FAILED …` (exit 1) or `tilelog: error: …` (exit 2).
 */
export async function runVerdict(body: () => Promise<string>): Promise<void> {
  try {
    const verdict = await body();
    process.stderr.write(`tilelog: OK ${verdict}\n`);
    process.exitCode = EXIT_OK;
  } catch (err) {
    const code = exitCodeFor(err);
    const msg = (err as Error).message.replace(/\s+/g, ' ');
    process.stderr.write(code === EXIT_VERIFICATION_FAILED ? `tilelog: FAILED ${msg}\n` : `tilelog: error: ${msg}\n`);
    process.exitCode = code;
  }
}

/**
 * 2 for usage errors, network/HTTP failures and unexpected errors; 1 for everything that failed to verify or to
 * parse (log data of the wrong shape included).
 */
export function exitCodeFor(err: unknown): number {
  if (err instanceof FetchError) return err.failure === 'bad-response' || err.failure === 'too-large' ? EXIT_VERIFICATION_FAILED : EXIT_USAGE;
  if (err instanceof UsageError) return EXIT_USAGE;
  if (err instanceof TlogError) return EXIT_VERIFICATION_FAILED;
  return EXIT_USAGE;
}
