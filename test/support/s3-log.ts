/**
 * Runs `tilelog serve --storage s3://…` against a test RGW: the server options for one log prefix, with the
 * credentials passed through the environment the AWS SDK way.
 */
import { PutBucketPolicyCommand, S3Client } from '@aws-sdk/client-s3';
import { s3ClientConfig } from '../../server/storage/s3-storage.js';
import type { S3Server } from './s3-server.js';
import type { ServerOptions } from './server-process.js';

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
