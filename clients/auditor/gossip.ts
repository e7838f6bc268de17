// SPEC: c2sp.org/tlog-witness §Monitoring (the `<lowercase hex SHA-256(origin)>/checkpoint` path).
/**
 * Gossip of tree heads between auditors. Each auditor serves its latest verified (or cosigned) checkpoint per origin
 * at `GET <base>/<hex SHA-256(origin)>/checkpoint` and accepts `POST <base>/gossip` with a checkpoint note. Each
 * round it pulls each peer's checkpoint per origin (and checks it against its own view) and pushes its own.
 */
import { createHash } from 'node:crypto';
import { FetchError, TlogError } from '../tlog/index.js';
import { MAX_NOTE_SIZE } from '../../server/core/note.js';
import type { LogView, ObserveResult } from './log-view.js';

/** Lowercase hex SHA-256 of the origin: the path segment of the monitoring endpoint. */
export function originPathHash(origin: string): string {
  return createHash('sha256').update(origin, 'utf8').digest('hex');
}

/** A peer's base URL, normalised to end in "/". */
export function peerBase(url: string): string {
  const u = new URL(url);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`peer URL must be http(s): ${url}`);
  u.search = '';
  u.hash = '';
  return u.href.endsWith('/') ? u.href : `${u.href}/`;
}

/** How a pull ended. */
export type PullResult = 'ok' | 'absent' | 'conflict' | 'invalid' | 'error';

/** GETs the peer's checkpoint for `view`'s origin and checks it with {@link LogView.observe}. */
export async function pullFrom(peer: string, view: LogView, timeoutMs: number): Promise<{ result: PullResult; detail: string; observed?: ObserveResult }> {
  const url = `${peer}${originPathHash(view.origin)}/checkpoint`;
  let note: string;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (res.status === 404) {
      await res.body?.cancel().catch(() => undefined);
      return { result: 'absent', detail: 'the peer has no checkpoint for this origin' };
    }
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => undefined);
      return { result: 'error', detail: `HTTP ${res.status} from ${url}` };
    }
    const body = Buffer.from(await res.arrayBuffer());
    if (body.length > MAX_NOTE_SIZE) return { result: 'invalid', detail: 'checkpoint too large' };
    note = body.toString('utf8');
  } catch (err) {
    return { result: 'error', detail: `${url}: ${(err as Error).message}` };
  }
  try {
    const observed = await view.observe(note, `peer ${peer}`);
    return observed.status === 'ok' ? { result: 'ok', detail: observed.detail, observed } : { result: 'conflict', detail: observed.evidence.detail, observed };
  } catch (err) {
    if (err instanceof FetchError) return { result: 'error', detail: err.message };
    if (err instanceof TlogError && (err.code === 'MALFORMED' || err.code === 'VERIFICATION_FAILED')) return { result: 'invalid', detail: err.message };
    throw err;
  }
}

/** POSTs `note` to the peer's /gossip; returns the HTTP status ('error' on a network failure) and the reply body. */
export async function pushTo(peer: string, note: string, timeoutMs: number): Promise<{ result: string; body: string }> {
  try {
    const res = await fetch(`${peer}gossip`, { method: 'POST', headers: { 'Content-Type': 'text/plain; charset=utf-8' }, body: note, signal: AbortSignal.timeout(timeoutMs) });
    const body = (await res.text()).slice(0, 64 * 1024);
    return { result: String(res.status), body };
  } catch (err) {
    return { result: 'error', body: (err as Error).message };
  }
}
