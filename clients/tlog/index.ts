/**
 * Tilelog's client library for tlog-tiles logs (c2sp.org/tlog-tiles, tlog-checkpoint, tlog-cosignature,
 * tlog-policy, tlog-proof): fetch tiles over HTTP, authenticate every hash against a signed root, build and
 * verify proofs, verify checkpoints against a witness policy.
 *
 * Typical use:
 *
 *   const fetcher = new TileFetcher('https://log.example/');
 *   const v = verifyCheckpoint(await fetcher.checkpoint(), { logVkeys: vkey, policy });
 *   const builder = new ProofBuilder(v.checkpoint, fetcher.readTiles);   // Checkpoint has treeSize + rootHash
 *   const proof = await builder.inclusionProof(42n);                     // from authenticated tiles only
 *   await builder.checkConsistentWith(lastVerified);                      // INCONSISTENT on a split view
 *
 * Nothing read from the network is used before it is authenticated: TileFetcher is raw; ProofBuilder and
 * AuthenticatedTileReader check every tile against the signed root.
 */
export { TileFetcher, FetchError, type FetchFailure, type TileFetcherOptions } from './fetcher.js';
export {
  AuthenticatedTileReader,
  TileAuthenticationError,
  authenticatedReader,
  rightEdgeTiles,
  parentTile,
  type SignedTree,
  type AuthenticatedReaderOptions,
} from './authenticated-reader.js';
export { ProofBuilder, checkInclusion, checkEntryInclusion, checkConsistency, verifyInclusion, verifyConsistency } from './proofs.js';
export { verifyCheckpoint, type VerifiedCheckpoint, type VerifiedCosignature, type VerifyCheckpointOptions } from './checkpoint-verifier.js';
export {
  parseTlogPolicy,
  formatTlogPolicy,
  simplePolicy,
  quorumSatisfied,
  MAX_POLICY_LINES,
  type WitnessPolicy,
  type PolicyLog,
  type PolicyWitness,
  type QuorumRule,
} from './policy.js';
export { verifyTlogProof, buildTlogProof, type VerifiedTlogProof, type VerifyTlogProofOptions } from './tlog-proof.js';
/** tlog-proof encoding (c2sp.org/tlog-proof@v1), from the core. */
export { formatTlogProof, parseTlogProof, TLOG_PROOF_HEADER, type TlogProof } from '../../server/core/tlog-proof.js';
/** Core types and errors a client needs alongside. */
export { TlogError, type ErrorCode } from '../../server/core/errors.js';
export { type Checkpoint } from '../../server/core/checkpoint.js';
export { type TileRef } from '../../server/core/tile.js';
export { type TileReader } from '../../server/core/tile-proof.js';
export { leafHash, type Hash } from '../../server/core/hash.js';
