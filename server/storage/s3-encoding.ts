/**
 * How tiles and entry bundles are encoded as objects in the bucket, so that the bucket (or a CDN in front of it)
 * can serve c2sp.org/tlog-tiles directly: entry bundles gzip-compressed with `Content-Encoding: gzip` (as
 * Sunlight's S3 backend stores them), hash tiles as they are (32-byte hashes do not compress).
 *
 * Invariants:
 * - What is fixed by the tree is the DECODED content of a path. The gzip stream is deterministic for one Node
 *   build (fixed level, no file name, mtime 0 in the header), so a partial bundle rewritten by the same build is
 *   byte-identical; another zlib build may produce different compressed bytes of the same content, which is
 *   harmless (the content, and what every client decodes, is the same).
 * - Reading trusts only the object's `Content-Encoding` header, never the bytes: an uncompressed bundle may begin
 *   with 0x1f 0x8b. Objects without `Content-Encoding` (bundles written before compression, or with
 *   `--s3-uncompressed-bundles`) are returned as stored. A store that decompresses on the fly (GCS's decompressive
 *   transcoding) drops the header, and is read correctly too.
 * - Compression and decompression use zlib's asynchronous API (the libuv thread pool): a large batch does not
 *   block the event loop.
 */
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import type { TileRef } from '../core/tile.js';
import type { ObjectMeta, StoredObject } from './s3-objects.js';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** `Content-Type` of tiles and bundles in the bucket (c2sp.org/tlog-tiles). */
export const TILE_CONTENT_TYPE = 'application/octet-stream';
/** `Cache-Control` of tiles and bundles in the bucket (same as the server's own read API). */
export const TILE_CACHE_CONTROL = 'public, max-age=31536000, immutable';
/**
 * zlib level of entry bundles: the default (6). On a bundle of 256 JSON records of ~256 bytes, levels 1–9 all give
 * 20–23 % of the raw size, at a few milliseconds per full bundle on a loaded 2-core machine.
 */
export const BUNDLE_GZIP_LEVEL = 6;

/** The stored bytes and headers of a tile or bundle at its tlog-tiles path. */
export async function encodeTileObject(tile: TileRef, data: Uint8Array, compressBundles: boolean): Promise<{ body: Uint8Array; meta: ObjectMeta }> {
  if (tile.kind === 'entries' && compressBundles) {
    const body = await gzipAsync(data, { level: BUNDLE_GZIP_LEVEL });
    return { body, meta: { contentType: TILE_CONTENT_TYPE, cacheControl: TILE_CACHE_CONTROL, contentEncoding: 'gzip' } };
  }
  return { body: data, meta: { contentType: TILE_CONTENT_TYPE, cacheControl: TILE_CACHE_CONTROL } };
}

/**
 * The content of a stored tile or bundle: gunzipped when (and only when) the object says `Content-Encoding: gzip`.
 * Throws on an encoding this code never writes, or a corrupt gzip stream (the bucket's content is the log's own, so
 * either is corruption, not bad input).
 */
export async function decodeTileObject(o: StoredObject, key: string): Promise<Uint8Array> {
  const enc = o.contentEncoding?.trim().toLowerCase();
  if (enc === undefined || enc === '' || enc === 'identity') return o.body;
  if (enc !== 'gzip' && enc !== 'x-gzip') throw new Error(`storage: ${key} has Content-Encoding ${JSON.stringify(o.contentEncoding)}, which tilelog does not write`);
  try {
    const out = await gunzipAsync(o.body);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (err) {
    throw new Error(`storage: ${key} says Content-Encoding gzip but does not gunzip`, { cause: err });
  }
}
