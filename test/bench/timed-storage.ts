/**
 * A {@link LogStorage} wrapper for the benchmark profiles (sequencer-breakdown.ts, s3-profile.ts): times the two
 * calls the sequencer waits on, and passes everything else straight to the real storage.
 */
import type { Commit, LogStorage } from '../../server/storage/storage.js';
import { nowMs } from './stats.js';

export interface StorageTimers {
  /** Each lookupLeafHashes call's duration (ms). */
  readonly lookup?: (ms: number) => void;
  /** Called when a commit starts; the function it returns is called with the time (nowMs) the commit resolved. */
  readonly commit?: (c: Commit) => (endMs: number) => void;
}

export function timedStorage<S extends LogStorage>(storage: S, timers: StorageTimers): S {
  return new Proxy(storage, {
    get(target, prop, receiver) {
      if (prop === 'lookupLeafHashes') {
        return async (h: Parameters<LogStorage['lookupLeafHashes']>[0]) => {
          const t = nowMs();
          const r = await target.lookupLeafHashes(h);
          timers.lookup?.(nowMs() - t);
          return r;
        };
      }
      if (prop === 'commit') {
        return async (c: Commit) => {
          const done = timers.commit?.(c);
          await target.commit(c);
          done?.(nowMs());
        };
      }
      const v: unknown = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
