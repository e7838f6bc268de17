/**
 * The `tilelog` command (commander): `serve` runs the log, `keygen` makes a log key.
 */
import { Command, InvalidArgumentError } from 'commander';

import { parseBytes, parseDuration, parsePositiveInt } from './config.js';
import { writeKeyFile } from './key-file.js';
import { generateKey } from './keygen.js';
import { DEFAULT_ORIGIN, serve } from './serve.js';

function wrap<T>(parse: (s: string) => T): (s: string) => T {
  return (s) => {
    try {
      return parse(s);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };
}

const program = new Command();
program.name('tilelog').description('A tamper-evident, tile-based transparency log (C2SP tlog-tiles, signed checkpoints).').showHelpAfterError();

program
  .command('serve')
  .description('run the log server')
  .option('--data <dir>', 'data directory (LevelDB and, by default, the key)', './data')
  .option('--origin <name>', `log origin and key name (default: the key file's name, else ${DEFAULT_ORIGIN})`)
  .option('--key <file>', 'private key file (Go note signer key); created if missing (default: <data>/log.key)')
  .option('--http <host:port>', 'HTTP listen address (port 0 = any free port)', '127.0.0.1:8080')
  .option('--checkpoint-interval <duration>', 'how often to sign and publish a checkpoint when the tree grew', wrap(parseDuration), 1000)
  .option('--batch-size <n>', 'commit as soon as this many entries are pooled', wrap(parsePositiveInt), 1000)
  .option('--batch-delay <duration>', 'commit at most this long after the first pooled entry', wrap(parseDuration), 10)
  .option('--max-pending <n>', 'entries that may wait to be sequenced before writes get 503', wrap(parsePositiveInt), 100_000)
  .option('--max-body <size>', 'largest request body after decompression', wrap(parseBytes), 64 * 1024 * 1024)
  .option('--log-level <level>', 'log level (fatal, error, warn, info, debug)', 'info')
  .action(async (o: Record<string, unknown>) => {
    await serve({
      data: o['data'] as string,
      origin: o['origin'] as string | undefined,
      key: o['key'] as string | undefined,
      http: o['http'] as string,
      checkpointIntervalMs: o['checkpointInterval'] as number,
      batchSize: o['batchSize'] as number,
      batchDelayMs: o['batchDelay'] as number,
      maxPending: o['maxPending'] as number,
      maxBodyBytes: o['maxBody'] as number,
      logLevel: o['logLevel'] as string,
    });
  });

program
  .command('keygen')
  .description('generate an Ed25519 log key; prints the private key (or writes it to --out) and the vkey')
  .requiredOption('--origin <name>', 'log origin (the key name)')
  .option('--out <file>', 'write the private key to this file (mode 0600) instead of stdout')
  .action((o: { origin: string; out?: string }) => {
    const { skey, vkey } = generateKey(o.origin);
    if (o.out !== undefined) writeKeyFile(o.out, skey);
    else process.stdout.write(`${skey}\n`);
    process.stdout.write(`${vkey}\n`);
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`tilelog: ${(err as Error).message}\n`);
  process.exit(1);
});
