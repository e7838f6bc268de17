/** Small statistics and timing helpers for the benchmark (no dependencies). */

/** Milliseconds from a monotonic clock. */
export function nowMs(): number {
  return performance.now();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The median of the values (NaN for none). */
export function median(xs: readonly number[]): number {
  return quantile(xs, 0.5);
}

/** The q-quantile (0 ≤ q ≤ 1) by linear interpolation between closest ranks (NaN for none). */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = s[lo] as number;
  const b = s[hi] as number;
  return a + (b - a) * (pos - lo);
}

export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  let t = 0;
  for (const x of xs) t += x;
  return t / xs.length;
}

export function max(xs: readonly number[]): number {
  let m = -Infinity;
  for (const x of xs) if (x > m) m = x;
  return xs.length === 0 ? NaN : m;
}

/** Rounds to `digits` significant digits for display (keeps integers ≥ 10^digits whole). */
export function sig(x: number, digits = 3): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const mag = Math.floor(Math.log10(Math.abs(x)));
  if (mag >= digits - 1) return Math.round(x);
  const f = 10 ** (digits - 1 - mag);
  return Math.round(x * f) / f;
}

/** 12345.6 → "12,346"; small values keep 3 significant digits. */
export function fmt(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return String(x);
  const v = sig(x, digits);
  return Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : String(v);
}
