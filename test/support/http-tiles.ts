/**
 * The "client" view of a running log, over HTTP with global fetch: a {@link TileReader} that GETs `/tile/<L>/<N>[.p/<W>]`
 * and insists on exactly width·32 bytes, entry bundles, and a checkpoint fetcher that verifies the signed note with
 * the log's vkey. Nothing the server computed (proofs, sizes in JSON) is trusted here: roots are rebuilt from
 * tiles and compared with verified checkpoints, and only tiles implied by a verified checkpoint are fetched.
 */
import { openCheckpoint } from '../../server/core/checkpoint.js';
import { decodeEntryBundle } from '../../server/core/entry-bundle.js';
import { HASH_SIZE, leafHash, type Hash } from '../../server/core/hash.js';
import { newVerifier } from '../../server/core/keys.js';
import { bytesEqual, encodeHex } from '../../server/core/strict.js';
import { TILE_WIDTH, tilePath, tilesForSize, tileWidth, type TileRef } from '../../server/core/tile.js';
import { hashFromTile, treeHash, type TileReader } from '../../server/core/tile-proof.js';

/** Default bound of every HTTP request made here (ms). */
export const REQUEST_TIMEOUT_MS = 10_000;

/** What a tile or entry bundle must be served with (c2sp.org/tlog-tiles). */
export const TILE_CACHE_CONTROL = 'public, max-age=31536000, immutable';
export const TILE_CONTENT_TYPE = 'application/octet-stream';
export const CHECKPOINT_CONTENT_TYPE = 'text/plain; charset=utf-8';

/** A response with its whole body read. */
export interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Buffer;
}

/** fetch + read the body, bounded by a timeout. Network errors reject (fetch's TypeError). */
export async function request(url: string, init: RequestInit = {}, timeoutMs = REQUEST_TIMEOUT_MS): Promise<Reply> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body };
}

/** GET `url` and parse a JSON body (any status). */
export async function getJson(url: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; json: unknown; text: string }> {
  const r = await request(url, init);
  const text = r.body.toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${init.method ?? 'GET'} ${url}: status ${r.status}, body is not JSON: ${text.slice(0, 300)}`);
  }
  return { status: r.status, headers: r.headers, json, text };
}

/** A verified checkpoint. */
export interface VerifiedCheckpoint {
  /** The signed note, verbatim. */
  readonly note: string;
  readonly origin: string;
  readonly treeSize: bigint;
  readonly rootHash: Hash;
}

/**
 * Opens a signed checkpoint with the log's vkey (and, when given, checks the origin). Throws unless the log's
 * signature verifies.
 */
export function verifyCheckpoint(note: string, vkey: string, origin?: string): VerifiedCheckpoint {
  const { checkpoint } = openCheckpoint(note, [newVerifier(vkey)], origin);
  return { note, origin: checkpoint.origin, treeSize: checkpoint.treeSize, rootHash: checkpoint.rootHash };
}

/** GETs `/checkpoint`, checks status and headers, and verifies it with `vkey`. */
export async function fetchCheckpoint(baseUrl: string, vkey: string, origin?: string): Promise<VerifiedCheckpoint & { headers: Headers }> {
  const r = await request(`${baseUrl}/checkpoint`);
  if (r.status !== 200) throw new Error(`GET /checkpoint: status ${r.status}: ${r.body.toString('utf8').slice(0, 300)}`);
  return { ...verifyCheckpoint(r.body.toString('utf8'), vkey, origin), headers: r.headers };
}

/** Options of {@link HttpTiles}. */
export interface HttpTilesOptions {
  /** Check Content-Type and Cache-Control of every tile (default true). */
  readonly checkHeaders?: boolean;
  /** Most requests in flight at once (default 16). */
  readonly concurrency?: number;
}

/** Runs `fn` over `items` with at most `limit` calls in flight; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Tiles and entry bundles of one log, fetched over HTTP. */
export class HttpTiles {
  /** Every tile path fetched, in order (for asserting what a client touched). */
  readonly fetched: string[] = [];
  private readonly checkHeaders: boolean;
  private readonly concurrency: number;

  constructor(
    readonly baseUrl: string,
    opts: HttpTilesOptions = {},
  ) {
    this.checkHeaders = opts.checkHeaders ?? true;
    this.concurrency = opts.concurrency ?? 16;
  }

  /** The TileReader (hash tiles only) for server/core/tile-proof.ts. */
  readonly reader: TileReader = (tiles) => mapLimit(tiles, this.concurrency, (t) => this.hashTile(t));

  /** One hash tile: status 200 and exactly width·32 bytes, else throws. */
  async hashTile(t: TileRef): Promise<Uint8Array> {
    if (t.kind !== 'hash') throw new Error(`not a hash tile: ${tilePath(t)}`);
    const path = tilePath(t);
    this.fetched.push(path);
    const r = await request(`${this.baseUrl}/${path}`);
    if (r.status !== 200) throw new Error(`GET /${path}: status ${r.status}: ${r.body.toString('utf8').slice(0, 300)}`);
    if (r.body.length !== t.width * HASH_SIZE) throw new Error(`GET /${path}: ${r.body.length} bytes, want exactly ${t.width * HASH_SIZE}`);
    this.checkTileHeaders(path, r.headers);
    return new Uint8Array(r.body.buffer, r.body.byteOffset, r.body.byteLength);
  }

  /**
   * One entry bundle, decoded: exactly `width` entries. With `gzip` the request says `Accept-Encoding: gzip` and the
   * response must be gzip-encoded; otherwise it says `identity` and the response must not be encoded.
   */
  async entryBundle(index: bigint, width: number, gzip = true): Promise<{ entries: Uint8Array[]; headers: Headers }> {
    const t: TileRef = { kind: 'entries', level: 0, index, width };
    const path = tilePath(t);
    this.fetched.push(path);
    const r = await request(`${this.baseUrl}/${path}`, { headers: { 'accept-encoding': gzip ? 'gzip' : 'identity' } });
    if (r.status !== 200) throw new Error(`GET /${path}: status ${r.status}: ${r.body.toString('utf8').slice(0, 300)}`);
    const enc = r.headers.get('content-encoding');
    if (gzip && enc !== 'gzip') throw new Error(`GET /${path} with Accept-Encoding: gzip: Content-Encoding is ${enc}`);
    if (!gzip && enc !== null && enc !== 'identity') throw new Error(`GET /${path} with Accept-Encoding: identity: Content-Encoding is ${enc}`);
    this.checkTileHeaders(path, r.headers);
    return { entries: decodeEntryBundle(new Uint8Array(r.body.buffer, r.body.byteOffset, r.body.byteLength), width), headers: r.headers };
  }

  private checkTileHeaders(path: string, h: Headers): void {
    if (!this.checkHeaders) return;
    if (h.get('content-type') !== TILE_CONTENT_TYPE) throw new Error(`GET /${path}: Content-Type ${h.get('content-type')}, want ${TILE_CONTENT_TYPE}`);
    if (h.get('cache-control') !== TILE_CACHE_CONTROL) throw new Error(`GET /${path}: Cache-Control ${h.get('cache-control')}, want ${TILE_CACHE_CONTROL}`);
  }

  /** MTH of the tree of `treeSize` leaves rebuilt from the served hash tiles alone. */
  rootFromTiles(treeSize: bigint): Promise<Hash> {
    return treeHash(treeSize, this.reader);
  }

  /**
   * Audits the whole tree of a verified checkpoint from tiles alone: fetches every hash tile and (with `entries`)
   * every entry bundle implied by its size; checks every level-0 hash is the leaf hash of its entry, every
   * higher-level hash is the MTH of the full tile below, and the root rebuilt from tiles is the checkpoint's root.
   * Returns the leaf hashes (level 0, in index order) and, with `entries`, the entries.
   */
  async audit(cp: VerifiedCheckpoint, opts: { entries?: boolean; gzip?: boolean } = {}): Promise<{ leafHashes: Hash[]; entries: Uint8Array[] }> {
    const withEntries = opts.entries ?? true;
    const refs = tilesForSize(0n, cp.treeSize, withEntries);
    const hashRefs = refs.filter((t) => t.kind === 'hash');
    const bundleRefs = refs.filter((t) => t.kind === 'entries');
    const hashData = await mapLimit(hashRefs, this.concurrency, (t) => this.hashTile(t));
    const tiles = new Map<string, Uint8Array>();
    hashRefs.forEach((t, i) => tiles.set(`${t.level}/${t.index}`, hashData[i] as Uint8Array));

    // Level 0 → leaf hashes.
    const leafHashes: Hash[] = [];
    const level0 = hashRefs.filter((t) => t.level === 0);
    for (const t of level0) {
      const d = tiles.get(`0/${t.index}`) as Uint8Array;
      for (let i = 0; i < t.width; i++) leafHashes.push(d.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE));
    }
    if (BigInt(leafHashes.length) !== cp.treeSize) throw new Error(`audit: ${leafHashes.length} leaf hashes in level-0 tiles, want ${cp.treeSize}`);

    // Higher levels: hash i of tile (l, N) = MTH of the full tile (l-1, N·256+i).
    for (const t of hashRefs) {
      if (t.level === 0) continue;
      const d = tiles.get(`${t.level}/${t.index}`) as Uint8Array;
      for (let i = 0; i < t.width; i++) {
        const below = tiles.get(`${t.level - 1}/${t.index * BigInt(TILE_WIDTH) + BigInt(i)}`);
        if (below === undefined || below.length !== TILE_WIDTH * HASH_SIZE) throw new Error(`audit: tile ${t.level - 1}/${t.index * 256n + BigInt(i)} is not full below ${tilePath(t)}`);
        const want = hashFromTile(below, 0, TILE_WIDTH);
        if (!bytesEqual(d.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE), want)) throw new Error(`audit: hash ${i} of ${tilePath(t)} is not the MTH of the tile below`);
      }
    }

    // Entries → leaf hashes.
    const entries: Uint8Array[] = [];
    if (withEntries) {
      const bundles = await mapLimit(bundleRefs, this.concurrency, (t) => this.entryBundle(t.index, t.width, opts.gzip ?? true));
      bundles.forEach((b, j) => {
        const t = bundleRefs[j] as TileRef;
        b.entries.forEach((e, i) => {
          const idx = Number(t.index) * TILE_WIDTH + i;
          const lh = leafHashes[idx] as Hash;
          if (!bytesEqual(leafHash(e), lh)) throw new Error(`audit: entry ${idx} hashes to ${encodeHex(leafHash(e))}, level-0 tile says ${encodeHex(lh)}`);
          entries.push(e);
        });
      });
    }

    const root = await this.rootFromTiles(cp.treeSize);
    if (!bytesEqual(root, cp.rootHash)) throw new Error(`audit: root from tiles ${encodeHex(root)} is not the checkpoint's ${encodeHex(cp.rootHash)} at size ${cp.treeSize}`);
    return { leafHashes, entries };
  }

  /**
   * The leaf hashes at `indexes` in the tree of a verified checkpoint of `treeSize`, read from the level-0 tiles
   * that size implies (each distinct tile fetched once). Throws for an index outside the tree.
   */
  async leafHashesAt(indexes: readonly bigint[], treeSize: bigint): Promise<Map<bigint, Hash>> {
    const W = BigInt(TILE_WIDTH);
    const tileIdx = new Set<bigint>();
    for (const i of indexes) {
      if (i < 0n || i >= treeSize) throw new Error(`leafHashesAt: ${i} is not in a tree of size ${treeSize}`);
      tileIdx.add(i / W);
    }
    const refs: TileRef[] = [...tileIdx].map((n) => ({ kind: 'hash', level: 0, index: n, width: tileWidth(0, n, treeSize) }));
    const data = await this.reader(refs);
    const byIndex = new Map<bigint, Uint8Array>();
    refs.forEach((t, j) => byIndex.set(t.index, data[j] as Uint8Array));
    const out = new Map<bigint, Hash>();
    for (const i of indexes) {
      const off = Number(i % W) * HASH_SIZE;
      out.set(i, (byIndex.get(i / W) as Uint8Array).slice(off, off + HASH_SIZE));
    }
    return out;
  }
}

/** One entry of a `POST /v1/entries` reply, decoded (`proof` only with `?wait=published`). */
export interface AddedEntry {
  readonly index: bigint;
  readonly leafHash: Hash;
  readonly duplicate: boolean;
  readonly proof?: Hash[];
}

/** A `POST /v1/entries` reply: on 200 the decoded entries (and checkpoint/treeSize with `?wait=published`). */
export interface PostReply {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly json: unknown;
  readonly entries: AddedEntry[];
  readonly checkpoint?: string;
  readonly treeSize?: bigint;
}

function b64Hash(v: unknown, what: string): Hash {
  if (typeof v !== 'string') throw new Error(`${what}: not a string`);
  const b = Buffer.from(v, 'base64');
  if (b.length !== HASH_SIZE || b.toString('base64') !== v) throw new Error(`${what}: not canonical base64 of 32 bytes: ${v}`);
  return new Uint8Array(b);
}

function nonNegInt(v: unknown, what: string): bigint {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new Error(`${what}: not a non-negative integer: ${String(v)}`);
  return BigInt(v);
}

/**
 * POSTs `body` to `/v1/entries[query]` with `headers`. On 200 the reply's shape is checked strictly and decoded;
 * any other status returns the raw reply with no entries.
 */
export async function postEntries(baseUrl: string, body: Uint8Array | string, headers: Record<string, string>, query = '', timeoutMs = REQUEST_TIMEOUT_MS): Promise<PostReply> {
  const r = await request(`${baseUrl}/v1/entries${query}`, { method: 'POST', headers, body }, timeoutMs);
  const text = r.body.toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`POST /v1/entries${query}: status ${r.status}, body is not JSON: ${text.slice(0, 300)}`);
  }
  if (r.status !== 200) return { status: r.status, headers: r.headers, text, json, entries: [] };
  const o = json as Record<string, unknown>;
  if (!Array.isArray(o['entries'])) throw new Error(`POST /v1/entries: no entries array: ${text.slice(0, 300)}`);
  const entries = (o['entries'] as unknown[]).map((e, i): AddedEntry => {
    const x = e as Record<string, unknown>;
    if (typeof x['duplicate'] !== 'boolean') throw new Error(`entry ${i}: duplicate is not a boolean`);
    const base = { index: nonNegInt(x['index'], `entry ${i} index`), leafHash: b64Hash(x['leafHash'], `entry ${i} leafHash`), duplicate: x['duplicate'] };
    if (x['proof'] === undefined) return base;
    if (!Array.isArray(x['proof'])) throw new Error(`entry ${i}: proof is not an array`);
    return { ...base, proof: (x['proof'] as unknown[]).map((p, j) => b64Hash(p, `entry ${i} proof ${j}`)) };
  });
  const out: PostReply = { status: r.status, headers: r.headers, text, json, entries };
  if (o['checkpoint'] === undefined) return out;
  if (typeof o['checkpoint'] !== 'string') throw new Error('POST /v1/entries: checkpoint is not a string');
  return { ...out, checkpoint: o['checkpoint'], treeSize: nonNegInt(o['treeSize'], 'treeSize') };
}

/** Polls `/checkpoint` (verified) until its size is at least `treeSize`; bounded in time. */
export async function waitForCheckpoint(baseUrl: string, vkey: string, treeSize: bigint, timeoutMs = 10_000): Promise<VerifiedCheckpoint> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const cp = await fetchCheckpoint(baseUrl, vkey);
    if (cp.treeSize >= treeSize) return cp;
    if (Date.now() > deadline) throw new Error(`no checkpoint of size ≥ ${treeSize} within ${timeoutMs} ms (latest ${cp.treeSize})`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
