/**
 * Runs `tilelog serve --storage s3://…` against a test RGW: the server options for one log prefix, with the
 * credentials passed through the environment the AWS SDK way.
 */
import { after, before } from 'node:test';
import { PutBucketPolicyCommand, S3Client } from '@aws-sdk/client-s3';
import { s3ClientConfig } from '../../server/storage/s3-storage.js';
import { skipMessage, startS3, type S3Server } from './s3-server.js';
import { cleanupAll, type ServerOptions } from './server-process.js';

/** Puts the RGW's credentials into this process's environment (inherited by every server the test spawns). */
export function exportS3Env(s3: S3Server): void {
  Object.assign(process.env, s3.env);
}

/** `extraArgs` that put a server's log at `s3://bucket/prefix` on `s3`. */
export function s3Args(s3: S3Server, bucket: string, prefix: string): string[] {
  return ['--storage', `s3://${bucket}/${prefix}`, '--s3-endpoint', s3.endpoint, '--s3-force-path-style', '--s3-create-bucket'];
}

/** Merges S3 storage arguments into server options. */
export function withS3(opts: ServerOptions, s3: S3Server, bucket: string, prefix: string): ServerOptions {
  return { ...opts, extraArgs: [...(opts.extraArgs ?? []), ...s3Args(s3, bucket, prefix)] };
}

/** An SDK client for the test RGW. */
export function testClient(s3: S3Server): S3Client {
  return new S3Client({ ...s3ClientConfig({ endpoint: s3.endpoint, forcePathStyle: true }, {}), region: s3.env.AWS_REGION, credentials: { accessKeyId: s3.env.AWS_ACCESS_KEY_ID, secretAccessKey: s3.env.AWS_SECRET_ACCESS_KEY } });
}

/** Lets anonymous clients GET everything in the bucket (the bucket serves the tlog-tiles API itself). */
export async function makePublic(client: S3Client, bucket: string): Promise<void> {
  const policy = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: ['s3:GetObject'], Resource: [`arn:aws:s3:::${bucket}/*`] }] };
  await client.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify(policy) }));
}

/** One RGW for the tests of a file: {@link useS3}. `s3` and `client` exist only inside tests (after `before`). */
export interface S3Fixture {
  /** The skip message when the Ceph binaries are missing (pass as the tests' `skip`), else false. */
  readonly skip: string | false;
  readonly s3: S3Server;
  readonly client: S3Client;
}

/**
 * Registers `before`/`after` hooks that start one RGW for this test file (credentials exported to the servers
 * the tests spawn, an SDK client for direct bucket access) and stop it, with every server the file started.
 */
export function useS3(): S3Fixture {
  const skip = skipMessage();
  let s3: S3Server | undefined;
  let client: S3Client | undefined;
  before(async () => {
    if (skip !== false) return;
    s3 = await startS3();
    exportS3Env(s3);
    client = testClient(s3);
  });
  after(async () => {
    await cleanupAll();
    client?.destroy();
    await s3?.stop();
  });
  return {
    skip,
    get s3() {
      return s3 as S3Server;
    },
    get client() {
      return client as S3Client;
    },
  };
}
