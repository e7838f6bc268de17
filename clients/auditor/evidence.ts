// SPEC: c2sp.org/tlog-checkpoint, c2sp.org/signed-note; RFC 9162 §2.1.4 (consistency proofs).
/**
 * Evidence of log misbehaviour: a JSON document a third party can check with nothing but the file and the log's
 * vkey ({@link verifyEvidence}).
 *
 *   { "kind": "split-view" | "rollback" | "bad-signature" | "bad-tile",
 *     "origin": "...", "time": "RFC 3339", "detail": "what the auditor saw",
 *     "checkpoints": [ { "source": "log http://…" | "peer http://…" | "gossip", "note": "<signed note, verbatim>" }, … ],
 *     "proof"?: { "oldSize": "N", "newSize": "M", "oldRootHash": "<b64>", "consistencyProof": ["<b64>", …] },
 *     "tile"?: "tile/0/000" }
 *
 * `checkpoints[0]` is the auditor's own earlier view, `checkpoints[1]` the one that conflicts with it. `proof` is
 * the consistency proof the auditor computed from the larger tree's authenticated tiles: `oldRootHash` is
 * MTH(D[0:oldSize]) of that tree. If it verifies against the larger signed root and differs from the root the log
 * signed for `oldSize`, the two signed checkpoints cannot both be true.
 */
import { verifyCheckpoint, type VerifiedCheckpoint } from '../tlog/index.js';
import { verifyConsistency } from '../../server/core/proof.js';
import { bytesEqual, decodeBase64Exact, encodeBase64 } from '../../server/core/strict.js';

/** What an alarm is about. */
export type AlarmKind = 'split-view' | 'rollback' | 'bad-signature' | 'bad-tile';

/** One observed checkpoint in an evidence file. */
export interface ObservedCheckpoint {
  /** Where it came from: `log <url>`, `peer <url>` or `gossip` (POST /gossip). */
  readonly source: string;
  /** The signed note, verbatim. */
  readonly note: string;
}

/** The consistency proof computed from the larger tree's tiles (hashes in base64, sizes in decimal). */
export interface EvidenceProof {
  readonly oldSize: string;
  readonly newSize: string;
  readonly oldRootHash: string;
  readonly consistencyProof: string[];
}

/** An evidence document (see the module comment). */
export interface Evidence {
  readonly kind: AlarmKind;
  readonly origin: string;
  readonly time: string;
  readonly detail: string;
  readonly checkpoints: ObservedCheckpoint[];
  readonly proof?: EvidenceProof;
  readonly tile?: string;
}

/** Encodes a proof for an evidence file. */
export function evidenceProof(oldSize: bigint, newSize: bigint, oldRootHash: Uint8Array, proof: readonly Uint8Array[]): EvidenceProof {
  return { oldSize: oldSize.toString(), newSize: newSize.toString(), oldRootHash: encodeBase64(oldRootHash), consistencyProof: proof.map(encodeBase64) };
}

/** The outcome of {@link verifyEvidence}. */
export interface EvidenceVerdict {
  /** True when the file alone proves the log misbehaved. */
  readonly proven: boolean;
  /** One line saying why. */
  readonly verdict: string;
}

const KINDS: readonly string[] = ['split-view', 'rollback', 'bad-signature', 'bad-tile'];

/** Parses an evidence file strictly enough to check it (Error on a wrong shape). */
export function parseEvidence(text: string): Evidence {
  const v: unknown = JSON.parse(text);
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('evidence: not a JSON object');
  const o = v as Record<string, unknown>;
  if (typeof o['kind'] !== 'string' || !KINDS.includes(o['kind'])) throw new Error('evidence: bad "kind"');
  if (typeof o['origin'] !== 'string') throw new Error('evidence: bad "origin"');
  const cps = o['checkpoints'];
  if (!Array.isArray(cps) || cps.length < 1 || cps.length > 2) throw new Error('evidence: "checkpoints" must list one or two checkpoints');
  for (const c of cps as unknown[]) {
    if (c === null || typeof c !== 'object' || typeof (c as Record<string, unknown>)['note'] !== 'string') throw new Error('evidence: each checkpoint needs a "note"');
  }
  const p = o['proof'];
  if (p !== undefined) {
    const r = p as Record<string, unknown>;
    const dec = (x: unknown) => typeof x === 'string' && /^(0|[1-9][0-9]{0,18})$/.test(x);
    if (p === null || typeof p !== 'object' || !dec(r['oldSize']) || !dec(r['newSize']) || typeof r['oldRootHash'] !== 'string' || !Array.isArray(r['consistencyProof']) || !(r['consistencyProof'] as unknown[]).every((h) => typeof h === 'string')) {
      throw new Error('evidence: bad "proof"');
    }
  }
  return o as unknown as Evidence;
}

/**
 * Checks an evidence document with the log's vkey alone. Proven misbehaviour:
 *  - two checkpoints, both signed by the log, same size, different roots (a split view);
 *  - two checkpoints of different sizes and a consistency proof from the smaller size to the larger signed tree that
 *    verifies with an `oldRootHash` different from the root the log signed for the smaller size (a split view);
 *  - kind "rollback": both signed by the log, the later observed one smaller. The signatures prove the log signed
 *    both; the order is the auditor's observation.
 * Anything else (one checkpoint, a note that does not verify, a proof that does not verify) is not proof.
 */
export function verifyEvidence(text: string, vkey: string): EvidenceVerdict {
  let e: Evidence;
  try {
    e = parseEvidence(text);
  } catch (err) {
    return { proven: false, verdict: `not evidence: ${(err as Error).message}` };
  }
  const verified: VerifiedCheckpoint[] = [];
  for (const [i, c] of e.checkpoints.entries()) {
    try {
      verified.push(verifyCheckpoint(c.note, { logVkeys: vkey, origin: e.origin }));
    } catch (err) {
      return { proven: false, verdict: `checkpoint ${i + 1} does not verify with the log key: ${(err as Error).message}` };
    }
  }
  const [a, b] = verified.map((v) => v.checkpoint);
  if (a === undefined || b === undefined) return { proven: false, verdict: `${e.kind}: only one checkpoint; a single signed checkpoint proves nothing by itself` };
  const head = (c: typeof a) => `${c.treeSize}/${encodeBase64(c.rootHash)}`;
  if (a.treeSize === b.treeSize) {
    if (!bytesEqual(a.rootHash, b.rootHash)) return { proven: true, verdict: `split view: the log signed two checkpoints of size ${a.treeSize} with different roots (${head(a)} and ${head(b)})` };
    return { proven: false, verdict: 'the two checkpoints have the same size and root: no conflict' };
  }
  const [small, big] = a.treeSize < b.treeSize ? [a, b] : [b, a];
  if (e.proof !== undefined) {
    const p = e.proof;
    let oldRoot: Uint8Array;
    let hashes: Uint8Array[];
    try {
      oldRoot = decodeBase64Exact(p.oldRootHash, 32, 'oldRootHash');
      hashes = p.consistencyProof.map((h) => decodeBase64Exact(h, 32, 'proof hash'));
    } catch (err) {
      return { proven: false, verdict: `bad proof: ${(err as Error).message}` };
    }
    if (BigInt(p.oldSize) === small.treeSize && BigInt(p.newSize) === big.treeSize && verifyConsistency(small.treeSize, big.treeSize, oldRoot, big.rootHash, hashes)) {
      if (!bytesEqual(oldRoot, small.rootHash)) {
        return { proven: true, verdict: `split view: the signed tree ${head(big)} has root ${encodeBase64(oldRoot)} at size ${small.treeSize} (consistency proof verifies), but the log also signed ${head(small)}` };
      }
      return { proven: false, verdict: `the proof shows ${head(small)} is a prefix of ${head(big)}: consistent` };
    }
    if (e.kind !== 'rollback') return { proven: false, verdict: 'the consistency proof in the file does not verify; it proves nothing' };
  }
  if (e.kind === 'rollback') {
    const [earlier, later] = [a, b];
    if (later.treeSize < earlier.treeSize) return { proven: true, verdict: `rollback: the log signed size ${earlier.treeSize} and was then seen serving size ${later.treeSize} (both signatures verify; the order is the auditor's observation at ${e.time})` };
    return { proven: false, verdict: 'rollback claimed, but the later checkpoint is not smaller' };
  }
  return { proven: false, verdict: `checkpoints of sizes ${small.treeSize} and ${big.treeSize} without a verifying proof of inconsistency: not provable from the file alone` };
}
