/**
 * `tilelog migrate --from A --to B`: copies a log between storages (a data directory's LevelDB, or
 * `s3://bucket/prefix`), resumable and verifying as it copies (server/migrate.ts). Stop the server of a LevelDB
 * source first (LevelDB allows one process); an S3 source may stay live: the copy is of the tree at the start.
 */
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { parsePositiveInt } from '../config.js';
import { migrateLog } from '../migrate.js';
import { LevelStorage } from '../storage/level-storage.js';
import { isS3Url, parseS3Location } from '../storage/s3-location.js';
import type { LogStorage } from '../storage/storage.js';
import type { LeafIndexStore } from '../coordination/leaf-index.js';

interface Opts {
  from: string;
  to: string;
  s3Endpoint?: string;
  s3ForcePathStyle?: boolean;
  s3CreateBucket?: boolean;
  s3UncompressedBundles?: boolean;
  coordination?: string;
  chunk: number;
  maxEntries?: number;
}

/** Opens one side; `closers` collects what must be closed after the storage (the PostgreSQL pool). */
async function openLocation(where: string, o: Opts, create: boolean, closers: (() => Promise<void>)[]): Promise<LogStorage> {
  if (isS3Url(where)) {
    const { bucket, prefix } = parseS3Location(where);
    const { S3Storage, s3ClientConfig } = await import('../storage/s3-storage.js');
    let leafIndexStore: LeafIndexStore | undefined;
    if (o.coordination !== undefined) {
      // The same duplicate table `tilelog serve --coordination` uses for this bucket/prefix.
      const { openPostgresCoordination } = await import('../coordination/postgres.js');
      const pg = await openPostgresCoordination(o.coordination, `${bucket}/${prefix}`);
      closers.push(() => pg.close());
      leafIndexStore = pg.leafIndex;
    }
    return S3Storage.open({
      bucket, prefix, clientConfig: s3ClientConfig({ endpoint: o.s3Endpoint, forcePathStyle: o.s3ForcePathStyle }), createBucket: create && o.s3CreateBucket === true,
      uncompressedBundles: o.s3UncompressedBundles === true, ...(leafIndexStore !== undefined ? { leafIndexStore } : {}),
    });
  }
  return LevelStorage.open(join(where, 'leveldb'));
}

/** The `migrate` subcommand. */
export function migrateCommand(): Command {
  const positive = (s: string) => {
    try {
      return parsePositiveInt(s);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };
  return new Command('migrate')
    .description('copy a log between storages (data directory ↔ s3://bucket/prefix), resumable, verifying every chunk against the source\'s tree')
    .requiredOption('--from <dir|s3://bucket/prefix>', 'the source log')
    .requiredOption('--to <dir|s3://bucket/prefix>', 'the destination (empty, or a previous partial copy of the same log)')
    .option('--s3-endpoint <url>', 'S3 endpoint URL (default: $S3_ENDPOINT, else the AWS SDK\'s)')
    .option('--s3-force-path-style', 'path-style S3 requests (Ceph RGW, MinIO)')
    .option('--s3-create-bucket', 'create the destination bucket if it does not exist')
    .option('--s3-uncompressed-bundles', 'store the destination\'s entry bundles uncompressed (default: gzip, Content-Encoding: gzip)')
    .option('--coordination <postgres://…>', 'the S3 side\'s duplicate index is the PostgreSQL table of `serve --coordination` (default: index objects in the bucket)', (v: string) => {
      if (!/^postgres(ql)?:\/\//.test(v)) throw new InvalidArgumentError('want postgres://…');
      return v;
    })
    .option('--chunk <entries>', 'entries per destination commit', positive, 4096)
    .option('--max-entries <n>', 'copy at most n entries in this run (run again to resume)', positive)
    .action(async (o: Opts) => {
      const closers: (() => Promise<void>)[] = [];
      const src = await openLocation(o.from, o, false, closers);
      const dst = await openLocation(o.to, o, true, closers);
      const bar = process.stderr.isTTY ? new SingleBar({ format: 'migrate [{bar}] {value}/{total} entries', stream: process.stderr, hideCursor: true }, Presets.shades_classic) : undefined;
      try {
        const r = await migrateLog(src, dst, {
          chunk: o.chunk,
          ...(o.maxEntries !== undefined ? { maxEntries: BigInt(o.maxEntries) } : {}),
          onProgress: (p) => {
            if (bar === undefined) return;
            bar.setTotal(Number(p.sourceSize));
            bar.update(Number(p.treeSize));
          },
        });
        bar?.stop();
        process.stdout.write(`${JSON.stringify({ sourceSize: r.sourceSize.toString(), resumedAt: r.resumedAt.toString(), treeSize: r.treeSize.toString(), complete: r.treeSize === r.sourceSize, checkpointCopied: r.checkpointCopied })}\n`);
      } finally {
        bar?.stop();
        await src.close();
        await dst.close();
        for (const c of closers) await c();
      }
    });
}
