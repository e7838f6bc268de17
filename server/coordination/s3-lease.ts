/**
 * The leader lease of a log in an S3 bucket (issue #11, "Several frontends": "exactly one frontend at a time
 * sequences and publishes"; the contract and its invariants are in ./lease.ts).
 *
 * One object, `<prefix>.tilelog/lease`, beside the log, written ONLY with conditional PUTs through
 * {@link ObjectStore}: `If-None-Match: *` for the very first lease, `If-Match` on the ETag last read for every
 * later write (renewal, takeover, release). The object is never deleted. Its body (text, see {@link encodeLease}):
 *
 *   tilelog-lease/v1
 *   <holder>            empty when released
 *   <url>               empty when released
 *   <epoch>             decimal, the fencing token
 *   <nonce>             32 hex digits, fresh for every write
 *
 * The nonce makes every body — hence, on S3 and RGW (ETag = MD5 of a single-part body), every ETag — unique, so
 * (a) a renewal always changes the ETag, and (b) an unclear conditional PUT ({@link MaybeLost}) is decided by
 * re-reading and comparing bytes, exactly as `swapTree` in server/storage/s3-storage.ts does.
 *
 * Expiry without comparing clocks of different machines (S3 has no server-side TTL). Each observer (one
 * {@link S3LeaseStore}) remembers the ETag it last read and `performance.now()` taken AFTER the read that first
 * showed it (never earlier than the moment that ETag came to exist). The lease is expired for this observer once
 * the ETag has stayed the same for `ttlMs` of the observer's own monotonic time; only then does it try a takeover,
 * a swap on THAT ETag, which the store refuses if the holder renewed meanwhile. The holder renews by swapping its
 * own object (new nonce, same epoch; one conditional PUT on the ETag it wrote last, no GET), and acts as leader only until `performance.now()` taken BEFORE sending the
 * renewing PUT + ttl − ttl/4. Since the ETag the PUT creates exists only after that moment, every observer's
 * ttl-long wait ends after the holder's `validUntil` (assuming the machines' monotonic clocks run at rates within
 * 25 % of each other — the margin).
 *
 * Epochs: a renewal keeps the epoch; a takeover or an acquisition after a release writes epoch + 1; the first
 * lease has epoch 1. Every epoch change is a conditional PUT on the previous body, so epochs strictly increase
 * along the object's one chain of versions.
 */
import { randomBytes } from 'node:crypto';
import { parseDecimal } from '../core/strict.js';
import { MaybeLost, type ObjectStore, type StoredObject } from '../storage/s3-objects.js';
import type { LeaseAttempt, LeaseCandidate, LeaseRecord, LeaseStore } from './lease.js';

const LEASE_MAGIC = 'tilelog-lease/v1';
const TEXT = { contentType: 'text/plain; charset=utf-8' } as const;
/** Key of the lease object below the log's prefix. */
export const LEASE_KEY = '.tilelog/lease';

/** A decoded lease object; `holder === ''` means released (the epoch of the last holder is kept). */
interface LeaseBody {
  readonly holder: string;
  readonly url: string;
  readonly epoch: bigint;
  readonly nonce: string;
}

/** The body of a lease object (a fresh nonce each call). */
function encodeLease(holder: string, url: string, epoch: bigint): Uint8Array {
  return Buffer.from(`${LEASE_MAGIC}\n${holder}\n${url}\n${epoch}\n${randomBytes(16).toString('hex')}\n`, 'utf8');
}

/** Parses a lease object strictly; throws on anything else (a corrupt lease object is not silently replaced). */
function decodeLease(b: Uint8Array): LeaseBody {
  const lines = Buffer.from(b).toString('utf8').split('\n');
  if (lines.length !== 6 || lines[0] !== LEASE_MAGIC || lines[5] !== '') throw new Error('lease: corrupt lease object');
  const [, holder = '', url = '', epoch = '', nonce = ''] = lines;
  if ((holder === '') !== (url === '') || !/^[0-9a-f]{32}$/.test(nonce)) throw new Error('lease: corrupt lease object');
  return { holder, url, epoch: parseDecimal(epoch, 'lease epoch'), nonce };
}

function checkCandidate(me: LeaseCandidate): void {
  for (const [what, v] of [['holder', me.holder], ['url', me.url]] as const) {
    if (v === '' || /[\r\n]/.test(v)) throw new RangeError(`lease: the candidate's ${what} must be non-empty and on one line`);
  }
}

/** The lease object as read: its decoded body, raw bytes and ETag. */
interface Seen {
  readonly lease: LeaseBody;
  readonly body: Uint8Array;
  readonly etag: string;
}

/**
 * {@link LeaseStore} as a conditional-write object in the log's bucket (see the file comment for the protocol).
 * One instance is one observer: its expiry judgement rests on the ETags IT has read, so give each frontend its own
 * instance (it may share the frontend's {@link ObjectStore}). `close()` does not close the ObjectStore's client:
 * whoever made the client destroys it (after closing this).
 */
export class S3LeaseStore implements LeaseStore {
  /** The ETag this observer last read, and `performance.now()` right after the read that first showed it. */
  private firstSeen: { readonly etag: string; readonly at: number } | undefined;
  /** The last version this observer wrote for a holder (renewals swap on it directly, without a GET first). */
  private written: { readonly holder: string; readonly epoch: bigint; readonly etag: string } | undefined;
  private closed = false;
  private readonly key: string;

  /** `prefix`: the log's prefix in the bucket, empty or ending in `/` (as S3StorageOptions.prefix). */
  constructor(
    private readonly store: ObjectStore,
    prefix: string,
  ) {
    if (prefix !== '' && !prefix.endsWith('/')) throw new RangeError('lease: the prefix must be empty or end in "/"');
    this.key = prefix + LEASE_KEY;
  }

  /** Reads the lease object (undefined: none yet) and notes when this observer first saw its ETag. */
  private async read(): Promise<Seen | undefined> {
    const o: StoredObject | undefined = await this.store.get(this.key);
    if (o === undefined) return undefined;
    // Taken after the response: never earlier than the moment this ETag came to exist (safe for expiry).
    if (this.firstSeen?.etag !== o.etag) this.firstSeen = { etag: o.etag, at: performance.now() };
    return { lease: decodeLease(o.body), body: o.body, etag: o.etag };
  }

  /** True once `etag` has stayed unchanged for `ttlMs` of this observer's monotonic time. */
  private expired(etag: string, ttlMs: number): boolean {
    return this.firstSeen?.etag === etag && performance.now() - this.firstSeen.at >= ttlMs;
  }

  /**
   * The conditional PUT of every write, with the stores' quirks (as `swapTree` in s3-storage.ts): `expected`
   * undefined = create-only. Resolves `{ etag }` (the new ETag) if the stored version is ours, `{ lost }` if
   * another writer's version is there (a lost race; `lost` as re-read, undefined if there is no object); rejects
   * on a store error (the PUT failed and the object is unchanged, or the re-read failed).
   */
  private async write(body: Uint8Array, expected: string | undefined): Promise<{ etag: string } | { lost: Seen | undefined }> {
    for (let attempt = 0; ; attempt++) {
      try {
        const etag = await this.store.swap(this.key, body, TEXT, expected);
        this.firstSeen = { etag, at: performance.now() };
        return { etag };
      } catch (err) {
        if (!(err instanceof MaybeLost)) throw err;
        // The outcome is unknown: the stored bytes decide (every body is unique thanks to its nonce).
        const now = await this.read(); // a store error here rejects
        if (now !== undefined && Buffer.from(now.body).equals(body)) return { etag: now.etag }; // ours (e.g. SDK retry)
        const unchanged = now?.etag === expected; // (both undefined: still no object)
        if (unchanged && attempt === 0 && err.status === 412 && expected !== undefined) {
          // Unchanged and still refused: this store wants the other If-Match quoting (RGW unquoted, others quoted).
          this.store.flipIfMatchQuoting();
          continue;
        }
        // Unchanged although the condition held: the PUT failed for another reason (network, 5xx) — a store error.
        if (unchanged) throw err.cause instanceof Error ? err.cause : err;
        return { lost: now };
      }
    }
  }

  private record(l: LeaseBody): LeaseRecord | undefined {
    return l.holder === '' ? undefined : { holder: l.holder, url: l.url, epoch: l.epoch };
  }

  /**
   * Acquires, renews or takes over the lease (see {@link LeaseStore.tryAcquire}). Free (no object, or released):
   * acquire with epoch + 1 (1 for the first). Held by `me`: renew, same epoch. Held by another and unchanged for
   * `ttlMs` of this observer's time: take over with epoch + 1. Otherwise, and whenever the conditional PUT loses,
   * `mine: false` with the lease as read.
   */
  async tryAcquire(me: LeaseCandidate, ttlMs: number): Promise<LeaseAttempt> {
    if (this.closed) throw new Error('lease: store closed');
    checkCandidate(me);
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError('lease: ttlMs must be a positive number');
    const w = this.written;
    if (w?.holder === me.holder) {
      // Renewal of what this observer wrote last: one conditional PUT on its ETag, no GET (renewals stay short).
      const r = await this.put(me, w.epoch, w.etag, ttlMs);
      if (r.mine || (r.lease !== undefined && r.lease.holder !== me.holder)) return r; // renewed, or taken over
      // Released, or rewritten for this holder by another instance: decide from a fresh read, as below.
    }
    const cur = await this.read();
    let epoch: bigint;
    if (cur === undefined) epoch = 1n;
    else if (cur.lease.holder === me.holder) epoch = cur.lease.epoch; // renewal
    else if (cur.lease.holder === '' || this.expired(cur.etag, ttlMs)) epoch = cur.lease.epoch + 1n; // free / takeover
    else return { lease: this.record(cur.lease), mine: false };
    return this.put(me, epoch, cur?.etag, ttlMs);
  }

  /** Writes `me` at `epoch` over the version `expected` (undefined: create), and says whether it is now mine. */
  private async put(me: LeaseCandidate, epoch: bigint, expected: string | undefined, ttlMs: number): Promise<LeaseAttempt> {
    const body = encodeLease(me.holder, me.url, epoch);
    // The holder's clock starts BEFORE the PUT is sent: the ETag it creates cannot be seen any earlier.
    const sentAt = performance.now();
    // Crash here (before or during the PUT): either the PUT did not land (the lease is as before: a renewal not
    // done, so the lease expires for the others ttl after they saw it), or it did (this process no longer acts on
    // it: the others take it over once it has stayed unchanged for ttl).
    const r = await this.write(body, expected);
    if ('lost' in r) {
      this.written = undefined;
      return { lease: r.lost === undefined ? undefined : this.record(r.lost.lease), mine: false };
    }
    this.written = { holder: me.holder, epoch, etag: r.etag };
    return { lease: { holder: me.holder, url: me.url, epoch }, mine: true, validUntil: sentAt + ttlMs - ttlMs / 4 };
  }

  /**
   * Gives the lease up if `me` holds it: a conditional PUT of a released body (empty holder, same epoch), so the
   * next candidate acquires it at once with epoch + 1. The caller must have stopped acting as leader BEFORE
   * calling this. Does nothing if another holder has it (the lease was taken over meanwhile).
   */
  async release(me: LeaseCandidate): Promise<void> {
    if (this.closed) throw new Error('lease: store closed');
    checkCandidate(me);
    const cur = await this.read();
    if (cur === undefined || cur.lease.holder !== me.holder) return;
    this.written = undefined;
    // Crash here: the lease stays held by `me` and expires for the others ttl after they last saw it change.
    // A lost race means someone took it over meanwhile: nothing left to release.
    await this.write(encodeLease('', '', cur.lease.epoch), cur.etag);
  }

  /** Stops this observer (the ObjectStore's client stays open; its owner closes it). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.resolve();
  }
}
