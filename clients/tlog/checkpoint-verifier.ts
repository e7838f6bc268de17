// SPEC: c2sp.org/tlog-checkpoint v1.0.0, c2sp.org/signed-note v1.0.0 §Signatures, c2sp.org/tlog-cosignature
// v1.0.1, c2sp.org/tlog-policy.
/**
 * Verifies a checkpoint note: the log's Ed25519 signature, then witness cosignatures (cosignature/v1) against a
 * {@link WitnessPolicy}.
 *
 * Signature rules (signed-note): signatures by unknown (name, key ID) pairs are ignored; a signature by a known
 * key (log or policy witness) that does not verify rejects the whole note (VERIFICATION_FAILED); at least one log
 * signature must verify. Several log keys may be given (key rotation); any one suffices.
 *
 * What verified is returned (which witnesses, with their cosignature timestamps), so the caller can apply its own
 * rules on top (e.g. reject timestamps in the future). By default an unmet quorum throws; pass
 * `enforceQuorum: false` to get the result and decide.
 */
import { TlogError } from '../../server/core/errors.js';
import { openCheckpoint, type Checkpoint } from '../../server/core/checkpoint.js';
import { cosignatureTimestamp, newCosignatureVerifier, type CosignatureVerifier } from '../../server/core/cosignature.js';
import { newVerifier } from '../../server/core/keys.js';
import { parseNote } from '../../server/core/note.js';
import { quorumSatisfied, type WitnessPolicy } from './policy.js';

/** A witness cosignature that verified. */
export interface VerifiedCosignature {
  /** The witness's name in the policy. */
  readonly witness: string;
  /** Its vkey (type 0x04). */
  readonly vkey: string;
  /** The cosignature's timestamp: seconds since the UNIX epoch (as the witness claims). */
  readonly timestamp: bigint;
}

/** The outcome of {@link verifyCheckpoint}. */
export interface VerifiedCheckpoint {
  readonly checkpoint: Checkpoint;
  /** The signed note as given. */
  readonly note: string;
  /** Its text (what the signatures cover). */
  readonly text: string;
  /** The log vkeys whose signature verified (at least one). */
  readonly logKeys: readonly string[];
  /** The policy witnesses whose cosignature verified, in note order. */
  readonly cosignatures: readonly VerifiedCosignature[];
  /** Whether those cosignatures satisfy the policy's quorum (true when there is no policy or `quorum none`). */
  readonly quorumMet: boolean;
  /** Signature lines by keys neither the log's nor a policy witness's (ignored). */
  readonly ignoredSignatures: number;
}

/** Options of {@link verifyCheckpoint}. */
export interface VerifyCheckpointOptions {
  /**
   * The log's Ed25519 vkey(s). When omitted, the policy's `log` lines are used; at least one key is required.
   * With both, only `logVkeys` are trusted for the log signature.
   */
  readonly logVkeys?: string | readonly string[];
  /** Witnesses and quorum. Without a policy no cosignature is checked (all are ignored) and quorumMet is true. */
  readonly policy?: WitnessPolicy;
  /** The origin the checkpoint must carry (VERIFICATION_FAILED otherwise). */
  readonly origin?: string;
  /** Throw VERIFICATION_FAILED when the quorum is not met (default true). */
  readonly enforceQuorum?: boolean;
}

/**
 * Verifies an untrusted checkpoint note. MALFORMED for syntax (note, checkpoint, keys); VERIFICATION_FAILED if no
 * log signature verifies, a known key's signature is bad, the origin differs, or (by default) the quorum is unmet.
 */
export function verifyCheckpoint(note: string, opts: VerifyCheckpointOptions): VerifiedCheckpoint {
  const logVkeys = opts.logVkeys === undefined ? (opts.policy?.logs.map((l) => l.vkey) ?? []) : typeof opts.logVkeys === 'string' ? [opts.logVkeys] : [...opts.logVkeys];
  if (logVkeys.length === 0) throw new TlogError('MALFORMED', 'verifyCheckpoint: no log key given');
  const logVerifiers = logVkeys.map((v) => ({ vkey: v, verifier: newVerifier(v) }));
  const witnesses = (opts.policy?.witnesses ?? []).map((w) => ({ ...w, verifier: newCosignatureVerifier(w.vkey) as CosignatureVerifier }));

  // The log's signature(s): openCheckpoint applies the signed-note rules with the log keys only.
  const opened = openCheckpoint(note, logVerifiers.map((l) => l.verifier), opts.origin);
  const logKeys = logVerifiers.filter((l) => opened.verified.some((s) => s.name === l.verifier.name && s.keyId === l.verifier.keyId)).map((l) => l.vkey);

  // Cosignatures: every signature by a policy witness's (name, key ID) must verify.
  const message = Buffer.from(opened.text, 'utf8');
  const cosignatures: VerifiedCosignature[] = [];
  const seen = new Set<string>();
  let ignored = 0;
  for (const sig of parseNote(note).signatures) {
    const w = witnesses.find((x) => x.verifier.name === sig.name && x.verifier.keyId === sig.keyId);
    if (w === undefined) {
      if (!logVerifiers.some((l) => l.verifier.name === sig.name && l.verifier.keyId === sig.keyId)) ignored++;
      continue;
    }
    if (!w.verifier.verify(message, sig.signature)) {
      throw new TlogError('VERIFICATION_FAILED', `checkpoint: invalid cosignature by witness ${w.name} (${w.vkey.split('+').slice(0, 2).join('+')})`);
    }
    if (seen.has(w.name)) continue;
    seen.add(w.name);
    cosignatures.push({ witness: w.name, vkey: w.vkey, timestamp: cosignatureTimestamp(sig) });
  }
  const quorumMet = opts.policy === undefined ? true : quorumSatisfied(opts.policy.quorum, seen);
  if (!quorumMet && opts.enforceQuorum !== false) {
    throw new TlogError('VERIFICATION_FAILED', `checkpoint: witness quorum not met (${cosignatures.length} valid cosignature(s)${cosignatures.length > 0 ? ': ' + cosignatures.map((c) => c.witness).join(', ') : ''})`);
  }
  return { checkpoint: opened.checkpoint, note, text: opened.text, logKeys, cosignatures, quorumMet, ignoredSignatures: ignored };
}
