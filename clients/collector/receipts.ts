/**
 * Receipts: the collector's own check that what the log acknowledged is really in the log everyone sees.
 *
 * For each newly fetched checkpoint: its signature must verify with the log's vkey (c2sp.org/tlog-checkpoint) and
 * it must be consistent with the last checkpoint this collector verified (kept in the spool across restarts): not
 * smaller (rollback), not the same size with another root, and a consistency proof computed from the tiles must
 * verify (RFC 9162 §2.1.4). Then, for each acknowledged batch the checkpoint covers, the inclusion proof of every
 * entry is computed from the log's tiles and verified against the checkpoint's root (RFC 9162 §2.1.3.2) with the
 * leaf hash the collector computed itself from the bytes it sent. The tiles are only data: a hash served wrongly
 * makes a proof fail, it cannot make a false proof pass.
 *
 * A failure is an alarm ({@link ReceiptAlarm}); it is never ignored.
 */
import { openCheckpoint } from '../../server/core/checkpoint.js';
import type { Hash } from '../../server/core/hash.js';
import { newVerifier } from '../../server/core/keys.js';
import { verifyConsistency, verifyInclusion } from '../../server/core/proof.js';
import { bytesEqual } from '../../server/core/strict.js';
import { consistencyProof, inclusionProofs, type TileReader } from '../../server/core/tile-proof.js';
import type { AckedBatch } from './spool.js';

/** A verified checkpoint. */
export interface VerifiedCheckpoint {
  readonly note: string;
  readonly origin: string;
  readonly treeSize: bigint;
  readonly rootHash: Hash;
}

/** Why a receipt check failed. */
export type AlarmKind = 'bad-signature' | 'rollback' | 'fork' | 'inconsistent' | 'not-included';

/** An alarm with its evidence. */
export class ReceiptAlarm extends Error {
  constructor(
    readonly kind: AlarmKind,
    message: string,
    readonly evidence: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** Verifies a checkpoint note with the log's vkey (and origin). Throws ReceiptAlarm('bad-signature'). */
export function verifyLogCheckpoint(note: string, vkey: string, origin: string): VerifiedCheckpoint {
  try {
    const { checkpoint } = openCheckpoint(note, [newVerifier(vkey)], origin);
    return { note, origin: checkpoint.origin, treeSize: checkpoint.treeSize, rootHash: checkpoint.rootHash };
  } catch (err) {
    throw new ReceiptAlarm('bad-signature', `checkpoint does not verify with the log's key: ${(err as Error).message}`, { checkpoint: note });
  }
}

/**
 * Checks a new checkpoint against the previously verified one. Throws ReceiptAlarm on rollback, fork (same size,
 * other root) or a consistency proof (computed from tiles) that does not verify.
 */
export async function checkConsistent(prev: VerifiedCheckpoint | undefined, next: VerifiedCheckpoint, readTiles: TileReader): Promise<void> {
  if (prev === undefined) return;
  const evidence = { previous: prev.note, latest: next.note };
  if (next.treeSize < prev.treeSize) throw new ReceiptAlarm('rollback', `rollback: tree size ${next.treeSize} after ${prev.treeSize}`, evidence);
  if (next.treeSize === prev.treeSize) {
    if (!bytesEqual(next.rootHash, prev.rootHash)) throw new ReceiptAlarm('fork', `two roots for tree size ${next.treeSize}`, evidence);
    return;
  }
  let proof: Hash[] = [];
  if (prev.treeSize > 0n) {
    try {
      proof = await consistencyProof(prev.treeSize, next.treeSize, readTiles);
    } catch (err) {
      throw new ReceiptAlarm('inconsistent', `no consistency proof ${prev.treeSize}→${next.treeSize} from the tiles: ${(err as Error).message}`, evidence);
    }
  }
  if (!verifyConsistency(prev.treeSize, next.treeSize, prev.rootHash, next.rootHash, proof)) {
    throw new ReceiptAlarm('inconsistent', `checkpoints ${prev.treeSize} and ${next.treeSize} are not consistent`, { ...evidence, proof: proof.map((h) => Buffer.from(h).toString('base64')) });
  }
}

/** Whether `cp` covers every entry of `batch` (and its attestation). */
export function covers(cp: VerifiedCheckpoint, batch: AckedBatch): boolean {
  for (const e of batch.entries) if (BigInt(e.index) >= cp.treeSize) return false;
  if (batch.attestationIndex !== undefined && BigInt(batch.attestationIndex) >= cp.treeSize) return false;
  return true;
}

/**
 * Verifies the inclusion of every entry of `batch` in `cp`, with proofs computed from the tiles. Throws
 * ReceiptAlarm('not-included') naming the first entry that fails.
 */
export async function checkBatchIncluded(cp: VerifiedCheckpoint, batch: AckedBatch, readTiles: TileReader): Promise<void> {
  const indexes = batch.entries.map((e) => BigInt(e.index));
  let proofs: Hash[][];
  try {
    proofs = await inclusionProofs(indexes, cp.treeSize, readTiles);
  } catch (err) {
    throw new ReceiptAlarm('not-included', `batch ${batch.id}: inclusion proofs could not be computed from the tiles: ${(err as Error).message}`, { checkpoint: cp.note, batch });
  }
  batch.entries.forEach((e, i) => {
    const proof = proofs[i] as Hash[];
    const leaf = new Uint8Array(Buffer.from(e.leafHash, 'base64'));
    if (!verifyInclusion(leaf, indexes[i] as bigint, cp.treeSize, proof, cp.rootHash)) {
      throw new ReceiptAlarm('not-included', `batch ${batch.id}: entry ${e.index} (leaf hash ${e.leafHash}) is not included in the checkpoint of size ${cp.treeSize}`, {
        checkpoint: cp.note,
        leafIndex: e.index,
        leafHash: e.leafHash,
        proof: proof.map((h) => Buffer.from(h).toString('base64')),
      });
    }
  });
}
