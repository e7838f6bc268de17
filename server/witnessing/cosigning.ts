// SPEC: c2sp.org/tlog-witness v1.0.0 §add-checkpoint (client side); c2sp.org/tlog-policy (quorum).
/**
 * The log side of witnessing: after the publisher signs a checkpoint, {@link Cosigning.cosign} asks every
 * witness of the policy, concurrently and within one timeout per witness, to cosign it:
 *
 *   POST <witness url>/add-checkpoint   old <last size the log knows for that witness>, consistency proof, note
 *     200 → the cosignature lines, verified against the witness's 0x04 vkey (lines from other keys dropped)
 *     409 (text/x.tlog.size) → the witness holds another size S: retry once with old S and the proof S → N
 *     anything else, a timeout or a bad cosignature → this witness failed this round
 *
 * The verified cosignatures are appended to the note. If the witnesses that cosigned satisfy the policy's
 * quorum, the note is returned for publication; otherwise publication is withheld (undefined), unless the log
 * runs fail-open, in which case the note goes out with the cosignatures it got, a warning and a metric.
 *
 * Each witness's last known size is kept in a small JSON file (written atomically: temp file, fsync, rename), so
 * that a restarted log sends the right old size at once; it is only a hint (a 409 corrects it).
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { Hash } from '../core/hash.js';
import { appendSignatures, formatSignatureLine, parseNote, parseSignatureLines, verifyNote } from '../core/note.js';
import { quorumSatisfied, type Policy, type PolicyWitness } from '../core/policy.js';
import { formatAddCheckpointRequest, parseTreeSizeBody, TLOG_SIZE_CONTENT_TYPE } from '../core/witness-protocol.js';
import type { TreeState } from '../storage/storage.js';

export interface CosigningOptions {
  /** The witnesses and the quorum; every witness must have a URL (its submission prefix). */
  readonly policy: Policy;
  /** Publish even when the quorum is not met (with a warning and a metric). */
  readonly failOpen: boolean;
  /** Per-witness deadline of one round (both attempts), ms. */
  readonly timeoutMs: number;
  /** JSON file with each witness's last known size. */
  readonly statePath: string;
  readonly registry: Registry;
  readonly logger: Logger;
  /** Injected for tests; defaults to the global fetch (keep-alive). */
  readonly fetch?: typeof fetch;
}

/** Outcome of one witness in one round. */
export type WitnessOutcome = { readonly ok: true; readonly lines: string } | { readonly ok: false; readonly reason: string };

class WitnessFailure extends Error {}

function submissionUrl(prefix: string): string {
  return `${prefix.replace(/\/+$/, '')}/add-checkpoint`;
}

export class Cosigning {
  private readonly sizes = new Map<string, bigint>();
  /** Sizes changed since the last save. */
  private dirty = false;
  private readonly requests: Counter<'witness' | 'result'>;
  private readonly witnessSize: Gauge<'witness'>;
  private readonly cosignedSize: Gauge;
  private readonly withheld: Counter;
  private readonly failOpenCount: Counter;
  private readonly fetch: typeof fetch;
  /** Warnings held back until {@link startLogging} (a server's first stdout line must be its `listening` line). */
  private held: [Record<string, unknown>, string][] | undefined = [];

  constructor(private readonly o: CosigningOptions) {
    for (const w of o.policy.witnesses) if (w.url === undefined) throw new Error(`witness ${w.name} has no URL: the log cannot ask it to cosign`);
    this.fetch = o.fetch ?? fetch;
    const registers = [o.registry];
    this.requests = new Counter({ name: 'tilelog_witness_requests_total', help: 'Cosignature rounds per witness, by result (success, failure).', labelNames: ['witness', 'result'] as const, registers });
    this.witnessSize = new Gauge({ name: 'tilelog_witness_tree_size', help: 'Tree size of the latest checkpoint each witness cosigned.', labelNames: ['witness'] as const, registers });
    this.cosignedSize = new Gauge({ name: 'tilelog_witness_quorum_tree_size', help: 'Tree size of the latest checkpoint whose cosignatures met the witness policy.', registers });
    this.withheld = new Counter({ name: 'tilelog_witness_quorum_failures_total', help: 'Checkpoints not published because the witness policy was not met.', registers });
    this.failOpenCount = new Counter({ name: 'tilelog_witness_fail_open_total', help: 'Checkpoints published without meeting the witness policy (fail-open).', registers });
    this.loadSizes();
  }

  /** Emits the warnings held back so far and logs directly from now on. */
  startLogging(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const [obj, msg] of held) this.o.logger.warn(obj, msg);
  }

  private warn(obj: Record<string, unknown>, msg: string): void {
    if (this.held !== undefined) this.held.push([obj, msg]);
    else this.o.logger.warn(obj, msg);
  }

  /** The log's view of each witness's latest cosigned size (by policy name). */
  get knownSizes(): ReadonlyMap<string, bigint> {
    const out = new Map<string, bigint>();
    for (const w of this.o.policy.witnesses) {
      const s = this.sizes.get(w.vkey);
      if (s !== undefined) out.set(w.name, s);
    }
    return out;
  }

  /**
   * Collects cosignatures for `note` (signed by the log, describing `tree`) and decides whether it may be
   * published (see the module comment). `consistencyProof(old, new)` is computed from the log's tiles.
   */
  async cosign(note: string, tree: TreeState, consistencyProof: (oldSize: bigint, newSize: bigint) => Promise<Hash[]>): Promise<string | undefined> {
    const witnesses = this.o.policy.witnesses;
    const outcomes = await Promise.all(witnesses.map((w) => this.ask(w, note, tree.treeSize, consistencyProof)));
    this.saveSizes();
    let out = note;
    const cosigned = new Set<string>();
    outcomes.forEach((r, i) => {
      const w = witnesses[i] as PolicyWitness;
      if (r.ok) {
        cosigned.add(w.name);
        out = appendSignatures(out, r.lines);
        this.requests.inc({ witness: w.name, result: 'success' });
      } else {
        this.requests.inc({ witness: w.name, result: 'failure' });
        this.warn({ witness: w.name, treeSize: tree.treeSize.toString(), reason: r.reason }, 'witness did not cosign');
      }
    });
    if (quorumSatisfied(this.o.policy.quorum, cosigned)) {
      this.cosignedSize.set(Number(tree.treeSize));
      return out;
    }
    const ctx = { treeSize: tree.treeSize.toString(), cosigned: [...cosigned], witnesses: witnesses.length };
    if (this.o.failOpen) {
      this.failOpenCount.inc();
      this.warn(ctx, 'witness policy not met: publishing anyway (fail-open)');
      return out;
    }
    this.withheld.inc();
    this.warn(ctx, 'witness policy not met: checkpoint withheld');
    return undefined;
  }

  /** One witness, one round: at most two add-checkpoint requests (the second after a 409), one deadline. */
  private async ask(w: PolicyWitness, note: string, treeSize: bigint, consistencyProof: (oldSize: bigint, newSize: bigint) => Promise<Hash[]>): Promise<WitnessOutcome> {
    const signal = AbortSignal.timeout(this.o.timeoutMs);
    const text = parseNote(note).text;
    try {
      let old = this.sizes.get(w.vkey) ?? 0n;
      if (old > treeSize) old = 0n; // a stale or foreign hint: learn the witness's size from its 409
      for (let attempt = 0; attempt < 2; attempt++) {
        const proof = old === 0n || old === treeSize ? [] : await consistencyProof(old, treeSize);
        const res = await this.fetch(submissionUrl(w.url as string), {
          method: 'POST',
          body: formatAddCheckpointRequest(old, proof, note),
          headers: { 'Content-Type': 'text/plain; charset=utf-8' },
          signal,
        });
        const body = await res.text();
        if (res.status === 200) {
          // Keep only cosignatures by this witness's key, and all of those must verify (signed-note rules).
          const sigs = parseSignatureLines(body).filter((s) => s.name === w.verifier.name && s.keyId === w.verifier.keyId);
          if (sigs.length === 0) throw new WitnessFailure('200 without a cosignature from its key');
          const verified = verifyNote({ text, signatures: sigs }, [w.verifier]).verified;
          this.setSize(w, treeSize);
          return { ok: true, lines: verified.map(formatSignatureLine).join('') };
        }
        if (res.status === 409 && (res.headers.get('content-type') ?? '').split(';')[0]?.trim() === TLOG_SIZE_CONTENT_TYPE) {
          const size = parseTreeSizeBody(body);
          if (size > treeSize) throw new WitnessFailure(`the witness holds size ${size}, larger than ${treeSize}`);
          if (size === old) throw new WitnessFailure(`409 at the size we sent (${size}): the witness holds a different root`);
          this.setSize(w, size);
          old = size;
          continue;
        }
        throw new WitnessFailure(`HTTP ${res.status}: ${body.split('\n')[0]?.slice(0, 200) ?? ''}`);
      }
      throw new WitnessFailure('409 twice');
    } catch (err) {
      if (err instanceof WitnessFailure) return { ok: false, reason: err.message };
      const e = err as Error & { cause?: { code?: string } };
      if (e.name === 'TimeoutError' || e.name === 'AbortError') return { ok: false, reason: `timed out after ${this.o.timeoutMs} ms` };
      return { ok: false, reason: e.cause?.code !== undefined ? `${e.message} (${e.cause.code})` : e.message };
    }
  }

  private setSize(w: PolicyWitness, size: bigint): void {
    if (this.sizes.get(w.vkey) !== size) this.dirty = true;
    this.sizes.set(w.vkey, size);
    this.witnessSize.set({ witness: w.name }, Number(size));
  }

  private loadSizes(): void {
    let raw: string;
    try {
      raw = readFileSync(this.o.statePath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const v = JSON.parse(raw) as Record<string, unknown>;
    for (const w of this.o.policy.witnesses) {
      const s = v[w.vkey];
      if (typeof s === 'string' && /^(0|[1-9][0-9]{0,18})$/.test(s)) this.setSize(w, BigInt(s));
    }
    this.dirty = false;
  }

  /** Writes the sizes atomically (temp file, fsync, rename, fsync of the directory). */
  private saveSizes(): void {
    if (!this.dirty) return;
    this.dirty = false;
    const obj: Record<string, string> = {};
    for (const [k, v] of this.sizes) obj[k] = v.toString();
    const data = `${JSON.stringify(obj, null, 1)}\n`;
    const tmp = `${this.o.statePath}.tmp`;
    const fd = openSync(tmp, 'w', 0o644);
    try {
      writeSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.o.statePath);
    const dfd = openSync(dirname(this.o.statePath), 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  }
}

/** Parses `--witness NAME=URL=VKEY` (name up to the first '=', vkey after the last: 0x04 vkeys have no padding). */
export function parseWitnessFlag(s: string): { name: string; url: string; vkey: string } {
  const a = s.indexOf('=');
  const b = s.lastIndexOf('=');
  if (a <= 0 || b <= a + 1) throw new Error(`--witness ${JSON.stringify(s)}: want NAME=URL=VKEY`);
  const url = s.slice(a + 1, b);
  if (!/^https?:\/\//.test(url)) throw new Error(`--witness ${JSON.stringify(s)}: the URL must be http(s)`);
  return { name: s.slice(0, a), url, vkey: s.slice(b + 1) };
}
