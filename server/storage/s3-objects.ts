/**
 * A thin layer over `@aws-sdk/client-s3` for the S3 backend: whole-object GET and PUT, create-only and
 * compare-and-swap PUTs, with the quirks of real stores handled in one place.
 *
 * Quirks (tested against Ceph RGW 16.2 by test/e2e/s3-*.test.ts; docs/scale-out.md lists them):
 * - ETags come back quoted (`"abc"`); RGW compares `If-Match` byte for byte with the *unquoted* stored ETag, so a
 *   quoted `If-Match` always fails there. We send unquoted ETags first; if a store answers 412 while the object
 *   still has the ETag we sent, the caller may retry with {@link ObjectStore.flipIfMatchQuoting} (AWS accepts both).
 * - A losing conditional PUT may come back as 500 (RGW: RADOS -ECANCELED) or 409 (AWS ConditionalRequestConflict)
 *   instead of 412, and the SDK's retry of a 500 may then see 412 for the caller's OWN earlier success. So every
 *   failed conditional PUT is {@link MaybeLost}: the caller re-reads the object and compares content.
 */
import { DeleteObjectCommand, GetObjectCommand, HeadBucketCommand, CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';

/** A conditional PUT whose outcome is unknown (412, 409, 500 or a network error): re-read to decide. */
export class MaybeLost extends Error {
  constructor(
    readonly key: string,
    readonly status: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(`conditional PUT of ${key} may have lost (status ${status ?? 'none'})`, options);
    this.name = 'MaybeLost';
  }
}

/** Headers of an object as the bucket serves it. */
export interface ObjectMeta {
  readonly contentType: string;
  readonly cacheControl?: string;
  /** `Content-Encoding` of the stored bytes (e.g. `gzip`); none: the body is the content itself. */
  readonly contentEncoding?: string;
}

/** The body (the stored bytes, NOT decoded), ETag (unquoted) and `Content-Encoding` of an object. */
export interface StoredObject {
  readonly body: Uint8Array;
  readonly etag: string;
  /** The object's `Content-Encoding` as the store returned it (undefined: none). */
  readonly contentEncoding?: string;
}

/** The PutObject fields of `meta`. */
function metaFields(meta: ObjectMeta): { ContentType: string; CacheControl?: string; ContentEncoding?: string } {
  return {
    ContentType: meta.contentType,
    ...(meta.cacheControl !== undefined ? { CacheControl: meta.cacheControl } : {}),
    ...(meta.contentEncoding !== undefined ? { ContentEncoding: meta.contentEncoding } : {}),
  };
}

/** Removes the quotes S3 puts around an ETag (and a weak `W/` prefix). */
export function unquoteEtag(etag: string): string {
  let e = etag.startsWith('W/') ? etag.slice(2) : etag;
  if (e.length >= 2 && e.startsWith('"') && e.endsWith('"')) e = e.slice(1, -1);
  return e;
}

function status(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

function isNotFound(err: unknown): boolean {
  const name = (err as { name?: string } | null)?.name;
  return name === 'NoSuchKey' || name === 'NotFound' || status(err) === 404;
}

/** One bucket, through one S3 client. */
export class ObjectStore {
  private quoteIfMatch = false;

  constructor(
    readonly client: S3Client,
    readonly bucket: string,
  ) {}

  /** Switches between sending `If-Match` ETags unquoted (default, for Ceph RGW) and quoted. */
  flipIfMatchQuoting(): void {
    this.quoteIfMatch = !this.quoteIfMatch;
  }

  /** Creates the bucket if it does not exist (tests and first runs; production buckets are made by the operator). */
  async ensureBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
    }
  }

  /** The object, or undefined if there is none. */
  async get(key: string): Promise<StoredObject | undefined> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const body = r.Body === undefined ? new Uint8Array(0) : await r.Body.transformToByteArray();
      return { body, etag: unquoteEtag(r.ETag ?? ''), ...(r.ContentEncoding !== undefined && r.ContentEncoding !== '' ? { contentEncoding: r.ContentEncoding } : {}) };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Unconditional PUT. Returns the new (unquoted) ETag. */
  async put(key: string, body: Uint8Array, meta: ObjectMeta): Promise<string> {
    const r = await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ...metaFields(meta) }));
    return unquoteEtag(r.ETag ?? '');
  }

  /**
   * Create-only PUT (`If-None-Match: *`). Resolves true if this call created the object, false if an object was
   * already there (412). Other failures reject; the object may or may not exist then.
   */
  async create(key: string, body: Uint8Array, meta: ObjectMeta): Promise<boolean> {
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ...metaFields(meta), IfNoneMatch: '*' }));
      return true;
    } catch (err) {
      if (status(err) === 412) return false;
      throw err;
    }
  }

  /**
   * Compare-and-swap PUT: replaces the object only if its ETag is `ifMatch`, or creates it only if absent when
   * `ifMatch` is undefined. Returns the new ETag; rejects with {@link MaybeLost} when the outcome is unknown.
   */
  async swap(key: string, body: Uint8Array, meta: ObjectMeta, ifMatch: string | undefined): Promise<string> {
    const cond = ifMatch === undefined ? { IfNoneMatch: '*' } : { IfMatch: this.quoteIfMatch ? `"${ifMatch}"` : ifMatch };
    try {
      const r = await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ...metaFields(meta), ...cond }));
      return unquoteEtag(r.ETag ?? '');
    } catch (err) {
      throw new MaybeLost(key, status(err), { cause: err });
    }
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }
}
