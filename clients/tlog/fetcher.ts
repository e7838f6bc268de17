// SPEC: c2sp.org/tlog-tiles §Checkpoints, §Merkle Tree, §Partial Tiles, §Log entries.
/**
 * Fetches the static resources of a tlog-tiles log over HTTP (the global `fetch`, injectable):
 * `<prefix>/checkpoint`, `<prefix>/tile/<L>/<N>[.p/<W>]` and `<prefix>/tile/entries/<N>[.p/<W>]`.
 *
 * - Nothing fetched here is trusted: wrap {@link TileFetcher.readTiles} in an AuthenticatedTileReader before use.
 * - Full tiles and full entry bundles are immutable and kept in a bounded LRU (by bytes); partial tiles and the
 *   checkpoint are never cached (a partial's path is immutable too, but it is superseded and may be deleted).
 * - A partial tile or bundle that 404s is fetched as the full tile and cut to the requested width: logs MAY delete
 *   a partial once the full tile exists (spec §Partial Tiles; the fallback the spec suggests to clients).
 * - Every request has a timeout (AbortSignal.timeout) and asks for `Accept-Encoding: gzip, identity`; fetch
 *   decodes gzip. Response sizes are bounded. Failures throw a {@link FetchError} naming the URL.
 */
import { LRUCache } from 'lru-cache';
import { TlogError, type ErrorCode } from '../../server/core/errors.js';
import { HASH_SIZE } from '../../server/core/hash.js';
import { MAX_ENTRY_SIZE, decodeEntryBundle, entryBundlePrefixLength } from '../../server/core/entry-bundle.js';
import { MAX_NOTE_SIZE } from '../../server/core/note.js';
import { MAX_TILE_LEVEL, TILE_WIDTH, tilePath, type TileRef } from '../../server/core/tile.js';
import type { TileReader } from '../../server/core/tile-proof.js';

/** Why a fetch failed: an HTTP status, the network (or timeout), or a response that breaks the spec's shape. */
export type FetchFailure = 'http' | 'network' | 'timeout' | 'too-large' | 'bad-response';

/**
 * A request to the log failed. `url` is the URL that failed; `status` the HTTP status when there was one.
 * Code: NOT_FOUND for 404, RATE_LIMITED for 429, PUSHBACK for 503, MALFORMED for a bad response shape (e.g. a
 * tile of the wrong length), INTERNAL otherwise (network, timeout, other statuses).
 */
export class FetchError extends TlogError {
  readonly url: string;
  readonly status: number | undefined;
  readonly failure: FetchFailure;
  constructor(failure: FetchFailure, url: string, message: string, status?: number, cause?: unknown) {
    super(codeFor(failure, status), `${message} (${url})`, cause === undefined ? undefined : { cause });
    this.name = 'FetchError';
    this.url = url;
    this.status = status;
    this.failure = failure;
  }
}

function codeFor(failure: FetchFailure, status: number | undefined): ErrorCode {
  if (failure === 'bad-response' || failure === 'too-large') return 'MALFORMED';
  if (status === 404) return 'NOT_FOUND';
  if (status === 429) return 'RATE_LIMITED';
  if (status === 503) return 'PUSHBACK';
  return 'INTERNAL';
}

/** Options of {@link TileFetcher}. */
export interface TileFetcherOptions {
  /** Per-request timeout in ms (default 10,000). */
  readonly timeoutMs?: number;
  /** Bytes of full tiles and bundles kept in the LRU (default 64 MiB; 0 disables caching). */
  readonly cacheMaxBytes?: number;
  /** Requests in flight at once for {@link TileFetcher.readTiles} (default 8). */
  readonly concurrency?: number;
  /** The fetch implementation (default: the global fetch). */
  readonly fetch?: typeof fetch;
  /** Extra request headers (e.g. Authorization for read-protected entry bundles). */
  readonly headers?: Readonly<Record<string, string>>;
}

/** Largest entry bundle: 256 entries of 65,535 bytes plus their length prefixes. */
const MAX_BUNDLE_SIZE = TILE_WIDTH * (2 + MAX_ENTRY_SIZE);

/** A tlog-tiles client for one log prefix. Stateless but for the LRU of immutable resources. */
export class TileFetcher {
  /** The log prefix, always ending in "/". */
  readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly concurrency: number;
  private readonly doFetch: typeof fetch;
  private readonly headers: Record<string, string>;
  private readonly cache: LRUCache<string, Uint8Array> | undefined;
  /** Requests made (for tests and metrics): every URL fetched, cache hits excluded. */
  requests = 0;

  constructor(baseUrl: string | URL, opts: TileFetcherOptions = {}) {
    const u = new URL(baseUrl);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TlogError('MALFORMED', `log URL must be http(s): ${String(baseUrl)}`);
    u.search = '';
    u.hash = '';
    this.baseUrl = u.href.endsWith('/') ? u.href : u.href + '/';
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.concurrency = Math.max(1, opts.concurrency ?? 8);
    this.doFetch = opts.fetch ?? fetch;
    this.headers = { 'Accept-Encoding': 'gzip, identity', ...(opts.headers ?? {}) };
    const max = opts.cacheMaxBytes ?? 64 * 1024 * 1024;
    this.cache = max > 0 ? new LRUCache<string, Uint8Array>({ maxSize: max, sizeCalculation: (v) => Math.max(1, v.length) }) : undefined;
  }

  /** The absolute URL of a path relative to the prefix. */
  url(path: string): string {
    return this.baseUrl + path;
  }

  /** GET `<prefix>/checkpoint` (never cached): the signed note as text, unverified. */
  async checkpoint(): Promise<string> {
    const url = this.url('checkpoint');
    const body = await this.get(url, MAX_NOTE_SIZE);
    try {
      return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(body);
    } catch {
      throw new FetchError('bad-response', url, 'checkpoint is not valid UTF-8');
    }
  }

  /**
   * GET hash tile `level`/`index` of width `width` (1..256; 256 = full): exactly `width · 32` bytes, unverified.
   * A partial tile that 404s is read from the full tile instead.
   */
  async tile(level: number, index: bigint, width: number): Promise<Uint8Array> {
    checkCoords(level, index, width);
    return this.resource({ kind: 'hash', level, index, width }, (d, url, w) => {
      if (d.length !== w * HASH_SIZE) throw new FetchError('bad-response', url, `hash tile is ${d.length} bytes, want ${w * HASH_SIZE}`);
      return d;
    });
  }

  /**
   * GET entry bundle `index` of width `width` (1..256): its raw bytes (gzip decoded), unverified. The bytes must
   * decode as exactly `width` entries. A partial bundle that 404s is read from the full bundle instead.
   */
  async entryBundle(index: bigint, width: number): Promise<Uint8Array> {
    checkCoords(0, index, width);
    return this.resource({ kind: 'entries', level: 0, index, width }, (d, url, w) => {
      try {
        decodeEntryBundle(d, w);
      } catch (err) {
        throw new FetchError('bad-response', url, `entry bundle: ${(err as Error).message}`);
      }
      return d;
    });
  }

  /** {@link entryBundle}, decoded into its `width` entries (unverified: hash them against an authenticated tile). */
  async entries(index: bigint, width: number): Promise<Uint8Array[]> {
    return decodeEntryBundle(await this.entryBundle(index, width), width);
  }

  /** A raw (unauthenticated) TileReader over {@link tile}, at most `concurrency` requests in flight. */
  readonly readTiles: TileReader = async (tiles) => {
    const out: Uint8Array[] = new Array<Uint8Array>(tiles.length);
    let next = 0;
    let failed = false;
    const worker = async (): Promise<void> => {
      while (next < tiles.length && !failed) {
        const i = next++;
        const t = tiles[i] as TileRef;
        try {
          if (t.kind !== 'hash') throw new TlogError('MALFORMED', 'readTiles reads hash tiles only');
          out[i] = await this.tile(t.level, t.index, t.width);
        } catch (err) {
          failed = true; // the other workers stop after their current request
          throw err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, tiles.length) }, worker));
    return out;
  };

  /** Fetches a tile or bundle, with the LRU for full ones and the full-tile fallback for partial ones. */
  private async resource(t: TileRef, check: (d: Uint8Array, url: string, width: number) => Uint8Array): Promise<Uint8Array> {
    const max = t.kind === 'hash' ? TILE_WIDTH * HASH_SIZE : MAX_BUNDLE_SIZE;
    if (t.width === TILE_WIDTH) return this.full(t, max, check);
    const url = this.url(tilePath(t));
    const cached = this.cache?.get(tilePath({ ...t, width: TILE_WIDTH }));
    if (cached !== undefined) return prefix(t, cached);
    try {
      return check(await this.get(url, max), url, t.width);
    } catch (err) {
      if (!(err instanceof FetchError && err.status === 404)) throw err;
      // The partial may be gone once the full tile exists: read the full one and keep the first `width` items.
      return prefix(t, await this.full({ ...t, width: TILE_WIDTH }, max, check));
    }
  }

  private async full(t: TileRef, max: number, check: (d: Uint8Array, url: string, width: number) => Uint8Array): Promise<Uint8Array> {
    const path = tilePath(t);
    const hit = this.cache?.get(path);
    if (hit !== undefined) return hit;
    const url = this.url(path);
    const d = check(await this.get(url, max), url, TILE_WIDTH);
    this.cache?.set(path, d);
    return d;
  }

  /** One GET with timeout and size limit; non-2xx → FetchError. */
  private async get(url: string, maxBytes: number): Promise<Uint8Array> {
    this.requests++;
    let res: Response;
    try {
      res = await this.doFetch(url, { headers: this.headers, signal: AbortSignal.timeout(this.timeoutMs), redirect: 'follow' });
    } catch (err) {
      const timeout = (err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError';
      throw new FetchError(timeout ? 'timeout' : 'network', url, timeout ? `no response within ${this.timeoutMs} ms` : `request failed: ${describe(err)}`, undefined, err);
    }
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => undefined);
      throw new FetchError('http', url, `HTTP ${res.status}`, res.status);
    }
    try {
      return await readLimited(res, maxBytes, url);
    } catch (err) {
      if (err instanceof FetchError) throw err;
      const timeout = (err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError';
      throw new FetchError(timeout ? 'timeout' : 'network', url, `reading the response failed: ${describe(err)}`, undefined, err);
    }
  }
}

function checkCoords(level: number, index: bigint, width: number): void {
  if (!Number.isInteger(level) || level < 0 || level > MAX_TILE_LEVEL) throw new TlogError('MALFORMED', `tile level ${level} not in 0..63`);
  if (index < 0n) throw new TlogError('MALFORMED', 'tile index must be non-negative');
  if (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH) throw new TlogError('MALFORMED', `tile width ${width} not in 1..256`);
}

/** The first `t.width` hashes (or entries) of a full tile or bundle. */
function prefix(t: TileRef, full: Uint8Array): Uint8Array {
  if (t.kind === 'hash') return full.subarray(0, t.width * HASH_SIZE);
  return full.subarray(0, entryBundlePrefixLength(full, t.width));
}

function describe(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}

async function readLimited(res: Response, maxBytes: number, url: string): Promise<Uint8Array> {
  if (res.body === null) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    n += chunk.length;
    if (n > maxBytes) {
      await res.body.cancel().catch(() => undefined);
      throw new FetchError('too-large', url, `response exceeds ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, n);
}
