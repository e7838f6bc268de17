/**
 * Submission, shared by the HTTP and gRPC front ends: rate limit per subject, then sequence (and optionally wait
 * for publication). Authentication happens in the adapters (they read the token), before any body is read.
 */
import type { Principal } from './auth.js';
import type { AddResult } from './sequencer.js';
import type { Log, PublishedAddResult } from './log.js';
import type { Metrics } from './metrics.js';
import type { SubjectRateLimiter } from './rate-limit.js';
import { TlogError } from './core/errors.js';
import type { Hash } from './core/hash.js';

export class Ingest {
  constructor(
    private readonly log: Log,
    private readonly limiter: SubjectRateLimiter | undefined,
    private readonly metrics: Metrics,
  ) {}

  /** Appends entries for `principal`; resolves once durably sequenced. */
  async append(principal: Principal, entries: readonly Uint8Array[], identities?: readonly (Hash | undefined)[]): Promise<AddResult[]> {
    await this.admit(principal, entries.length);
    const results = await this.log.add(entries, identities);
    this.count(principal, results);
    return results;
  }

  /** Appends entries and waits for a published checkpoint covering them, with inclusion proofs. */
  async appendAndWait(principal: Principal, entries: readonly Uint8Array[], identities?: readonly (Hash | undefined)[]): Promise<PublishedAddResult> {
    await this.admit(principal, entries.length);
    const p = await this.log.addAndWaitPublished(entries, identities);
    this.count(principal, p.results);
    return p;
  }

  private async admit(principal: Principal, n: number): Promise<void> {
    if (this.limiter === undefined) return;
    try {
      await this.limiter.consume(principal.subject, n);
    } catch (err) {
      if (err instanceof TlogError && err.code === 'RATE_LIMITED') this.metrics.rateLimited.inc({ subject: principal.subject });
      throw err;
    }
  }

  private count(principal: Principal, results: readonly { duplicate: boolean }[]): void {
    let dup = 0;
    for (const x of results) if (x.duplicate) dup++;
    if (results.length - dup > 0) this.metrics.appends.inc({ result: 'new', subject: principal.subject }, results.length - dup);
    if (dup > 0) this.metrics.appends.inc({ result: 'duplicate', subject: principal.subject }, dup);
  }
}
