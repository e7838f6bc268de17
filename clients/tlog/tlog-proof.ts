// SPEC: c2sp.org/tlog-proof (c2sp.org/tlog-proof@v1) §Verification.
/**
 * Building and verifying tlog-proofs ("spicy signatures"): an inclusion proof plus the checkpoint it is relative
 * to, verifiable offline. Encoding/decoding lives in server/core/tlog-proof.ts; this adds the client steps.
 *
 * Verification order (spec): leaf hash of the entry → checkpoint origin and log signature → witness quorum →
 * inclusion proof binds the leaf to the checkpoint's root. Cosignature timestamps are returned, not judged.
 */
import { TlogError } from '../../server/core/errors.js';
import { parseCheckpoint } from '../../server/core/checkpoint.js';
import { leafHash } from '../../server/core/hash.js';
import { parseNote } from '../../server/core/note.js';
import { bytesEqual } from '../../server/core/strict.js';
import { verifyInclusion } from '../../server/core/proof.js';
import { formatTlogProof, parseTlogProof } from '../../server/core/tlog-proof.js';
import { verifyCheckpoint, type VerifiedCheckpoint } from './checkpoint-verifier.js';
import type { WitnessPolicy } from './policy.js';
import type { ProofBuilder } from './proofs.js';

/** The outcome of {@link verifyTlogProof}. */
export interface VerifiedTlogProof {
  /** The entry's index in the log. */
  readonly index: bigint;
  /** The checkpoint, its log signature and the cosignatures that verified. */
  readonly checkpoint: VerifiedCheckpoint;
  /** The unauthenticated `extra` data, if any. */
  readonly extra?: Uint8Array;
}

/** Options of {@link verifyTlogProof} beyond the required arguments. */
export interface VerifyTlogProofOptions {
  /** The origin the checkpoint must carry. */
  readonly origin?: string;
  /** Throw when the policy's quorum is unmet (default true). */
  readonly enforceQuorum?: boolean;
}

/**
 * Verifies a tlog-proof for `entry` (leaf hash SHA-256(0x00 || entry)) offline: the checkpoint must carry a
 * valid signature by `vkey` (one or several log vkeys), meet `policy`'s witness quorum if a policy is given, and the
 * inclusion proof must bind the entry at the proof's index to the checkpoint's root. MALFORMED for a proof that
 * does not parse, VERIFICATION_FAILED for anything that does not verify.
 */
export function verifyTlogProof(proofText: string, entry: Uint8Array, vkey: string | readonly string[], policy?: WitnessPolicy, opts: VerifyTlogProofOptions = {}): VerifiedTlogProof {
  const p = parseTlogProof(proofText);
  const checkpoint = verifyCheckpoint(p.checkpoint, {
    logVkeys: vkey,
    ...(policy !== undefined ? { policy } : {}),
    ...(opts.origin !== undefined ? { origin: opts.origin } : {}),
    ...(opts.enforceQuorum !== undefined ? { enforceQuorum: opts.enforceQuorum } : {}),
  });
  const { treeSize, rootHash } = checkpoint.checkpoint;
  if (p.index >= treeSize) throw new TlogError('VERIFICATION_FAILED', `tlog-proof: index ${p.index} is not in the tree of size ${treeSize}`);
  if (!verifyInclusion(leafHash(entry), p.index, treeSize, p.proof, rootHash)) {
    throw new TlogError('VERIFICATION_FAILED', `tlog-proof: the inclusion proof does not bind this entry at index ${p.index} to the checkpoint's root (tree size ${treeSize})`);
  }
  return p.extra !== undefined ? { index: p.index, checkpoint, extra: p.extra } : { index: p.index, checkpoint };
}

/**
 * Builds a tlog-proof for leaf `index` from authenticated tiles: `builder` must be bound to the tree of
 * `checkpointNote` (the verified note, copied verbatim with its signatures).
 */
export async function buildTlogProof(builder: ProofBuilder, checkpointNote: string, index: bigint, extra?: Uint8Array): Promise<string> {
  const c = parseCheckpoint(parseNote(checkpointNote).text);
  if (c.treeSize !== builder.tree.treeSize || !bytesEqual(c.rootHash, builder.tree.rootHash)) {
    throw new TlogError('MALFORMED', 'buildTlogProof: the checkpoint is not the tree the ProofBuilder is bound to');
  }
  const proof = await builder.inclusionProof(index);
  return formatTlogProof(extra !== undefined ? { index, proof, checkpoint: checkpointNote, extra } : { index, proof, checkpoint: checkpointNote });
}
