/**
 * `tilelog fsck --data DIR`: verifies a stored log offline (see server/fsck.ts for what is checked) and says
 * exactly what is wrong. Exit status: 0 sound, 1 corrupt, 2 could not check (no database, locked, no key).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { newSigner, newVerifier } from '../core/keys.js';
import type { NoteVerifier } from '../core/note.js';
import { fsckLog, type FsckProblem } from '../fsck.js';

/** One problem as one line of text. */
export function formatProblem(p: FsckProblem): string {
  let s = `${p.where}: ${p.message}`;
  if (p.expected !== undefined) s += `; expected ${p.expected}`;
  if (p.found !== undefined) s += `; found ${p.found}`;
  return s;
}

function verifierFor(o: { data: string; key?: string; vkey?: string }): NoteVerifier {
  if (o.vkey !== undefined) return newVerifier(o.vkey);
  const keyFile = o.key ?? join(o.data, 'log.key');
  if (!existsSync(keyFile)) throw new Error(`cannot check the checkpoint signature: no key file ${keyFile}; give --vkey <vkey> or --key <file>`);
  return newVerifier(newSigner(readFileSync(keyFile, 'utf8').trim()).vkey);
}

/** The `fsck` subcommand. */
export function fsckCommand(): Command {
  return new Command('fsck')
    .description('verify a stored log offline: every tile and entry bundle against the latest checkpoint, the leaf-hash index against the entries (stop the server first, or run it on a copy)')
    .option('--data <dir>', 'data directory of the log', './data')
    .option('--key <file>', "the log's private key file, for its vkey (default: <data>/log.key)")
    .option('--vkey <vkey>', "the log's verifier key (instead of --key)")
    .option('--json', 'print the report as JSON')
    .action(async (o: { data: string; key?: string; vkey?: string; json?: boolean }) => {
      let report;
      try {
        report = await fsckLog(o.data, verifierFor(o));
      } catch (err) {
        process.stderr.write(`tilelog fsck: cannot check ${o.data}: ${(err as Error).message}${(err as { cause?: Error }).cause !== undefined ? ` (${(err as { cause: Error }).cause.message})` : ''}\n`);
        process.exitCode = 2;
        return;
      }
      if (o.json === true) {
        process.stdout.write(`${JSON.stringify(report, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`);
      } else {
        process.stdout.write(`${o.data}: origin ${report.origin ?? '(none)'}, checkpoint size ${report.checkpointSize ?? '(none)'}, tree size ${report.treeSize}, ${report.tiles} hash tiles, ${report.indexRows} index rows\n`);
        for (const p of report.problems) process.stdout.write(`CORRUPT ${formatProblem(p)}\n`);
        process.stdout.write(report.problems.length === 0 ? 'ok: the log is consistent\n' : `${report.problems.length} problem(s) found\n`);
      }
      process.exitCode = report.problems.length === 0 ? 0 : 1;
    });
}
