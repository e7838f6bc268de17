/**
 * Rate limits per authenticated subject, in entries per second with a burst (rate-limiter-flexible).
 * Over the limit: RATE_LIMITED (HTTP 429 + Retry-After, gRPC RESOURCE_EXHAUSTED).
 */
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { TlogError } from './core/errors.js';

export interface RateLimitConfig {
  /** Sustained entries per second per subject. */
  readonly entriesPerSecond: number;
  /** Entries a subject may send at once (≥ its largest batch). */
  readonly burst: number;
}

export class SubjectRateLimiter {
  private readonly limiter: RateLimiterMemory;

  constructor(private readonly cfg: RateLimitConfig) {
    // A window of burst/rate seconds holding `burst` points: on average `rate` entries/s, bursts up to `burst`.
    this.limiter = new RateLimiterMemory({ points: cfg.burst, duration: Math.max(1, Math.ceil(cfg.burst / cfg.entriesPerSecond)) });
  }

  /** Takes `n` entries from `subject`'s budget, or throws RATE_LIMITED with the time until it refills. */
  async consume(subject: string, n: number): Promise<void> {
    // Retrying cannot help such a request: it is too large, not early.
    if (n > this.cfg.burst) throw new TlogError('TOO_LARGE', `${n} entries in one request exceed the per-subject burst limit of ${this.cfg.burst}; send smaller batches`);
    try {
      await this.limiter.consume(subject, n);
    } catch (res) {
      if (res instanceof RateLimiterRes) {
        throw new TlogError('RATE_LIMITED', `subject ${JSON.stringify(subject)} is over its limit of ${this.cfg.entriesPerSecond} entries/s`, { retryAfter: res.msBeforeNext / 1000 });
      }
      throw res;
    }
  }
}
