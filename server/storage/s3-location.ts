/**
 * `--storage s3://bucket/prefix`: where an S3-backed log lives.
 *
 * The prefix is the log's tlog-tiles prefix inside the bucket: the checkpoint is at `<prefix>checkpoint`, tiles at
 * `<prefix>tile/…` (c2sp.org/tlog-tiles), so the bucket (or a CDN in front of it) can serve the read API directly.
 * Invariant: `prefix` is empty or ends with exactly one `/`, and never starts with `/`.
 */
export interface S3Location {
  readonly bucket: string;
  readonly prefix: string;
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Parses `s3://bucket` or `s3://bucket/some/prefix` strictly; throws an Error naming what is wrong. */
export function parseS3Location(url: string): S3Location {
  if (!url.startsWith('s3://')) throw new Error(`want s3://bucket/prefix, got ${JSON.stringify(url)}`);
  const rest = url.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  let prefix = slash < 0 ? '' : rest.slice(slash + 1);
  if (!BUCKET.test(bucket)) throw new Error(`invalid S3 bucket name ${JSON.stringify(bucket)}`);
  if (prefix.startsWith('/') || prefix.includes('//')) throw new Error(`invalid S3 prefix ${JSON.stringify(prefix)}`);
  if (prefix !== '' && !prefix.endsWith('/')) prefix += '/';
  if (prefix.length > 512) throw new Error('S3 prefix too long');
  return { bucket, prefix };
}

/** True if `--storage` names an S3 location. */
export function isS3Url(s: string | undefined): s is string {
  return s !== undefined && s.startsWith('s3://');
}
