/**
 * The `tilelog` command (commander): `serve` runs the log, `keygen` makes a log key.
 */
import { Command, InvalidArgumentError, Option } from 'commander';

import { parseBytes, parseDuration, parseListenAddress, parsePositiveInt } from './config.js';
import { withConfigFile } from './config-file.js';
import { fsckCommand } from './commands/fsck.js';
import { writeKeyFile } from './key-file.js';
import { generateKey } from './keygen.js';
import { readFileSync } from 'node:fs';
import { createPublicKey } from 'node:crypto';
import { newSigner } from './core/keys.js';
import { trustedRoot } from './trusted-root.js';
import { DEFAULT_ORIGIN, serve } from './serve.js';
import type { AuthConfig } from './auth.js';
import { collectCommand } from './commands/collect.js';
import { checkpointCommand } from './commands/checkpoint.js';
import { proofCommand } from './commands/proof.js';
import { verifyCommand } from './commands/verify.js';
import { auditCommand } from './commands/audit.js';
import { witnessCommand } from './commands/witness.js';
import { witnessingConfig } from './witnessing/config.js';
import { parseS3Location } from './storage/s3-location.js';
import { migrateCommand } from './commands/migrate.js';

function wrap<T>(parse: (s: string) => T): (s: string) => T {
  return (s) => {
    try {
      return parse(s);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };
}

/** Checks a listen address at start (so a bad one fails naming the option) and keeps its text. */
function listenAddress(s: string): string {
  parseListenAddress(s);
  return s;
}

/** Checks an http(s) URL at start and keeps its text. */
function httpUrl(s: string): string {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new Error(`invalid URL ${JSON.stringify(s)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`want an http(s) URL, got ${JSON.stringify(s)}`);
  return s;
}

function authConfig(o: Record<string, unknown>): AuthConfig | undefined {
  if (o['authIssuer'] === undefined) {
    for (const k of ['authAudience', 'authJwksUrl', 'authJwksFile', 'readAuth']) if (o[k] !== undefined) throw new Error('--auth-* and --read-auth need --auth-issuer');
    return undefined;
  }
  if (o['authAudience'] === undefined) throw new Error('--auth-issuer needs --auth-audience');
  if ((o['authJwksUrl'] === undefined) === (o['authJwksFile'] === undefined)) throw new Error('--auth-issuer needs exactly one of --auth-jwks-url and --auth-jwks-file');
  return {
    issuer: o['authIssuer'] as string,
    audience: o['authAudience'] as string,
    ...(o['authJwksUrl'] !== undefined ? { jwksUrl: o['authJwksUrl'] as string } : {}),
    ...(o['authJwksFile'] !== undefined ? { jwksFile: o['authJwksFile'] as string } : {}),
    subjects: o['authSubject'] as string[],
    algorithms: (o['authAlgorithms'] as string).split(',').map((a) => a.trim()),
    clockToleranceSeconds: (o['authClockSkew'] as number) / 1000,
    requireReadToken: o['readAuth'] === true,
    readScope: o['readScope'] as string,
  };
}

const program = new Command();
program.name('tilelog').description('A tamper-evident, tile-based transparency log (C2SP tlog-tiles, signed checkpoints).').showHelpAfterError();

withConfigFile(program.command('serve'))
  .description('run the log server')
  .option('--data <dir>', 'data directory (LevelDB and, by default, the key)', './data')
  .option('--origin <name>', `log origin and key name (default: the key file's name, else ${DEFAULT_ORIGIN})`)
  .option('--key <file>', 'private key file (Go note signer key); created if missing (default: <data>/log.key)')
  .option('--additional-key <file>', 'a further key (same origin) that signs every checkpoint too, for a key rotation (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
  .option('--http <host:port>', 'HTTP listen address (port 0 = any free port)', wrap(listenAddress), '127.0.0.1:8080')
  .option('--grpc <host:port>', 'gRPC listen address (port 0 = any free port); no gRPC unless given', wrap(listenAddress))
  .option('--checkpoint-interval <duration>', 'how often to sign and publish a checkpoint when the tree grew', wrap(parseDuration), 1000)
  .option('--batch-size <n>', 'commit as soon as this many entries are pooled', wrap(parsePositiveInt), 1000)
  .option('--batch-delay <duration>', 'commit at most this long after the first pooled entry', wrap(parseDuration), 10)
  .option('--max-pending <n>', 'entries that may wait to be sequenced before writes get 503', wrap(parsePositiveInt), 100_000)
  .option('--max-body <size>', 'largest request body after decompression', wrap(parseBytes), 64 * 1024 * 1024)
  .option('--request-timeout <duration>', 'a request whose body has not arrived within this long gets 408', wrap(parseDuration), 30_000)
  .addOption(new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'))
  .option('--public-url <url>', 'public base URL of the log, for the Sigstore trusted root (default: https://<origin>)', wrap(httpUrl))
  .option('--storage <url>', 'where the log lives: s3://bucket/prefix for an S3 bucket (default: LevelDB under --data)', wrap((s: string) => (parseS3Location(s), s)))
  .option('--s3-endpoint <url>', 'S3 endpoint URL (default: $S3_ENDPOINT, else the AWS SDK\'s: $AWS_ENDPOINT_URL, shared config)', wrap(httpUrl))
  .option('--s3-force-path-style', 'path-style S3 requests (Ceph RGW, MinIO)')
  .option('--s3-create-bucket', 'create the bucket if it does not exist')
  .option('--s3-skip-leaf-index', 'S3: no leaf-hash index objects (saves a GET and a PUT per entry; no duplicate detection, no lookup by hash)')
  .option('--s3-uncompressed-bundles', 'S3: store entry bundles uncompressed, without Content-Encoding (default: gzip, Content-Encoding: gzip)')
  .option('--coordination <url>', 'several frontends on one S3 log: postgres://… keeps the leader lease and the duplicate index in PostgreSQL (default: objects in the bucket)')
  .option('--advertise-url <url>', 'several frontends: the base URL the others forward writes to (default: http://<--http address>; wildcard hosts use the hostname)', wrap(httpUrl))
  .option('--lease-ttl <duration>', 'several frontends: the leader lease\'s duration; a dead leader is replaced after about 1.25 × this', wrap(parseDuration), 2000)
  .option('--leveldb-open-files <n>', 'LevelDB table files kept open and memory-mapped (bounds file-backed RSS, ~2 MiB each)', wrap(parsePositiveInt), 256)
  .option('--auth-issuer <iss>', 'require writers to present a JWT from this issuer (turns authentication on)')
  .option('--auth-audience <aud>', 'the audience writers\' tokens must carry')
  .option('--auth-jwks-url <url>', 'JWKS of the issuer (e.g. https://kubernetes.default.svc/openid/v1/jwks)', wrap(httpUrl))
  .option('--auth-jwks-file <file>', 'local JWKS file, re-read when it changes')
  .option('--auth-subject <sub>', 'a subject allowed to write (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
  .option('--auth-algorithms <list>', 'allowed JWS algorithms', 'RS256,ES256,EdDSA')
  .option('--auth-clock-skew <duration>', 'tolerated clock skew for exp/nbf', wrap(parseDuration), 30_000)
  .option('--read-auth', 'require a token with the read scope to read entry contents (hash tiles and checkpoints stay public)')
  .option('--read-scope <scope>', 'scope that grants reading entries', 'tilelog:read')
  .option('--rate-limit <entries/s>', 'per-subject write limit in entries per second', wrap(parsePositiveInt))
  .option('--rate-burst <entries>', 'per-subject burst (at least the largest batch; default: max(rate, 10000))', wrap(parsePositiveInt))
  .option('--witness <name=url=vkey>', 'a tlog-witness to ask for cosignatures: NAME=SUBMISSION_URL=COSIGNER_VKEY (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
  .option('--witness-quorum <k>', 'publish only checkpoints cosigned by at least k of the --witness witnesses (default: all)', wrap(parsePositiveInt))
  .option('--witness-policy <file>', 'C2SP tlog-policy file (witness lines with URLs, groups, quorum) instead of --witness flags')
  .option('--witness-fail-open', 'publish checkpoints even when the witness policy is not met (warning + metric)')
  .option('--witness-timeout <duration>', 'deadline for each witness per checkpoint', wrap(parseDuration), 2000)
  .action(async (o: Record<string, unknown>) => {
    await serve({
      witnessing: witnessingConfig(o as Parameters<typeof witnessingConfig>[0]),
      data: o['data'] as string,
      origin: o['origin'] as string | undefined,
      key: o['key'] as string | undefined,
      additionalKeys: o['additionalKey'] as string[],
      http: o['http'] as string,
      grpc: o['grpc'] as string | undefined,
      auth: authConfig(o),
      rateLimit: o['rateLimit'] === undefined ? undefined : { entriesPerSecond: o['rateLimit'] as number, burst: (o['rateBurst'] as number | undefined) ?? Math.max(o['rateLimit'] as number, 10_000) },
      checkpointIntervalMs: o['checkpointInterval'] as number,
      batchSize: o['batchSize'] as number,
      batchDelayMs: o['batchDelay'] as number,
      maxPending: o['maxPending'] as number,
      maxBodyBytes: o['maxBody'] as number,
      requestTimeoutMs: o['requestTimeout'] as number,
      logLevel: o['logLevel'] as string,
      leveldbOpenFiles: o['leveldbOpenFiles'] as number,
      publicUrl: o['publicUrl'] as string | undefined,
      storage: o['storage'] as string | undefined,
      s3Endpoint: o['s3Endpoint'] as string | undefined,
      s3ForcePathStyle: o['s3ForcePathStyle'] === true,
      s3CreateBucket: o['s3CreateBucket'] === true,
      s3LeafIndex: o['s3SkipLeafIndex'] !== true,
      s3UncompressedBundles: o['s3UncompressedBundles'] === true,
      coordination: o['coordination'] as string | undefined,
      advertiseUrl: o['advertiseUrl'] as string | undefined,
      leaseTtlMs: o['leaseTtl'] as number,
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

program
  .command('trusted-root')
  .description('print a Sigstore TrustedRoot (JSON) listing the log whose key is in --key')
  .requiredOption('--key <file>', 'the log\'s private key file (Go note signer key)')
  .option('--url <url>', 'public base URL of the log (must contain the origin; default: https://<origin>)')
  .option('--valid-from <time>', 'start of the key\'s validity, RFC 3339', '1970-01-01T00:00:00Z')
  .action((o: { key: string; url?: string; validFrom: string }) => {
    const signer = newSigner(readFileSync(o.key, 'utf8').trim());
    const root = trustedRoot(signer, { ...(o.url !== undefined ? { baseUrl: o.url } : {}), validFrom: o.validFrom });
    process.stdout.write(`${JSON.stringify(root, null, 2)}\n`);
  });

program
  .command('verify-bundle')
  .description('verify a Sigstore bundle logged in a Tilelog with @sigstore/verify (signature, entry, inclusion proof, checkpoint)')
  .requiredOption('--bundle <file>', 'the bundle (JSON)')
  .requiredOption('--public-key <file>', "the signer's public key (PEM)")
  .option('--artifact <file>', 'the signed artifact (message-signature bundles)')
  .option('--trusted-root <file>', 'a Sigstore TrustedRoot listing the log (from `tilelog trusted-root`)')
  .option('--log <url>', 'fetch the TrustedRoot from <url>/v1/trusted-root.json instead')
  .action(async (o: { bundle: string; publicKey: string; artifact?: string; trustedRoot?: string; log?: string }) => {
    if ((o.trustedRoot === undefined) === (o.log === undefined)) throw new Error('give exactly one of --trusted-root and --log');
    const trustedRoot: unknown =
      o.trustedRoot !== undefined
        ? JSON.parse(readFileSync(o.trustedRoot, 'utf8'))
        : await (await fetch(new URL('/v1/trusted-root.json', o.log), { signal: AbortSignal.timeout(10_000) })).json();
    const { verifyBundle } = await import('../clients/sigstore/bundles.js');
    const bundle = JSON.parse(readFileSync(o.bundle, 'utf8')) as { verificationMaterial?: { tlogEntries?: { logIndex?: string }[] } };
    verifyBundle({ bundle, trustedRoot, publicKey: createPublicKey(readFileSync(o.publicKey)), ...(o.artifact !== undefined ? { artifact: readFileSync(o.artifact) } : {}) });
    process.stdout.write(`${JSON.stringify({ verified: true, logIndex: bundle.verificationMaterial?.tlogEntries?.[0]?.logIndex })}\n`);
  });

program.addCommand(collectCommand());
program.addCommand(checkpointCommand());
program.addCommand(proofCommand());
program.addCommand(verifyCommand());
program.addCommand(witnessCommand());
program.addCommand(fsckCommand());
program.addCommand(auditCommand());
program.addCommand(migrateCommand());

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`tilelog: ${(err as Error).message}\n`);
  process.exit(1);
});
