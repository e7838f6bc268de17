// SPEC: RFC 9162 §2.1.3 (inclusion), §2.1.4 (consistency); c2sp.org/tlog-tiles §Merkle Tree, §Log entries.
/**
 * Proofs computed by the client itself from authenticated tiles, and verification helpers.
 *
 * A {@link ProofBuilder} is bound to one signed tree (treeSize, rootHash, verified by the caller, e.g. with
 * verifyCheckpoint). Every tile it reads goes through an {@link AuthenticatedTileReader}, so every hash in a proof
 * it returns is authenticated against that root; inclusion proofs are also verified before they are returned.
 */
import { TlogError } from '../../server/core/errors.js';
import { leafHash as rfcLeafHash, type Hash } from '../../server/core/hash.js';
import { verifyConsistency, verifyInclusion } from '../../server/core/proof.js';
import { bytesEqual, encodeBase64 } from '../../server/core/strict.js';
import { tileWidth } from '../../server/core/tile.js';
import { consistencyProof, inclusionProof, treeHash, type TileReader } from '../../server/core/tile-proof.js';
import { AuthenticatedTileReader, TileAuthenticationError, type AuthenticatedReaderOptions, type SignedTree } from './authenticated-reader.js';
import type { TileFetcher } from './fetcher.js';

/** Computes proofs for one signed tree from tiles read by `raw` (unauthenticated, e.g. TileFetcher.readTiles). */
export class ProofBuilder {
  readonly tree: SignedTree;
  readonly reader: AuthenticatedTileReader;

  constructor(tree: SignedTree, raw: TileReader, opts?: AuthenticatedReaderOptions) {
    this.reader = new AuthenticatedTileReader(tree, raw, opts);
    this.tree = this.reader.tree;
  }

  /**
   * The RFC 9162 inclusion proof of leaf `index` in the signed tree (leaf's sibling first). OUT_OF_RANGE unless
   * 0 ≤ index < treeSize; TileAuthenticationError (VERIFICATION_FAILED) if the log serves inconsistent tiles.
   */
  async inclusionProof(index: bigint): Promise<Hash[]> {
    const N = this.tree.treeSize;
    if (index < 0n || index >= N) throw new TlogError('OUT_OF_RANGE', `index ${index} is not in the tree of size ${N}`);
    const proof = await inclusionProof(index, N, this.reader.read);
    const leaf = await this.leafHash(index); // its tile was authenticated by the proof's read: a cache hit
    checkInclusion(leaf, index, this.tree, proof); // cannot fail once the tiles authenticated: a bug guard
    return proof;
  }

  /** The leaf hash at `index`, read from the authenticated level-0 tile. OUT_OF_RANGE unless index < treeSize. */
  async leafHash(index: bigint): Promise<Hash> {
    const N = this.tree.treeSize;
    if (index < 0n || index >= N) throw new TlogError('OUT_OF_RANGE', `index ${index} is not in the tree of size ${N}`);
    const tile = index / 256n;
    const [d] = await this.reader.read([{ kind: 'hash', level: 0, index: tile, width: tileWidth(0, tile, N) }]);
    const off = Number(index % 256n) * 32;
    return Uint8Array.from((d as Uint8Array).subarray(off, off + 32));
  }

  /**
   * The RFC 9162 consistency proof from `oldSize` to the signed tree (empty for oldSize 0 or equal sizes).
   * OUT_OF_RANGE unless 0 ≤ oldSize ≤ treeSize.
   */
  async consistencyProof(oldSize: bigint): Promise<Hash[]> {
    const N = this.tree.treeSize;
    if (oldSize < 0n || oldSize > N) throw new TlogError('OUT_OF_RANGE', `old size ${oldSize} is larger than the tree size ${N}`);
    return consistencyProof(oldSize, N, this.reader.read);
  }

  /**
   * MTH(D[0:size]) for any size ≤ treeSize, from authenticated tiles: the root the log must have signed for that
   * size if it is consistent. SHA-256("") for 0.
   */
  async rootHashAt(size: bigint): Promise<Hash> {
    const N = this.tree.treeSize;
    if (size < 0n || size > N) throw new TlogError('OUT_OF_RANGE', `size ${size} is larger than the tree size ${N}`);
    return treeHash(size, this.reader.read);
  }

  /**
   * Checks that `old` (a verified older tree head) is a prefix of the signed tree: computes the consistency proof
   * from tiles and verifies it. Returns the proof. INCONSISTENT if `old` is larger or the proof does not verify
   * (the two signed heads cannot both be right); VERIFICATION_FAILED if tiles do not authenticate.
   */
  async checkConsistentWith(old: SignedTree): Promise<Hash[]> {
    if (old.treeSize > this.tree.treeSize) {
      throw new TlogError('INCONSISTENT', `old tree size ${old.treeSize} is larger than the new tree size ${this.tree.treeSize} (rollback)`);
    }
    const proof = await this.consistencyProof(old.treeSize);
    if (!verifyConsistency(old.treeSize, this.tree.treeSize, old.rootHash, this.tree.rootHash, proof)) {
      throw new TlogError('INCONSISTENT', `tree ${old.treeSize}/${encodeBase64(old.rootHash)} is not a prefix of tree ${this.tree.treeSize}/${encodeBase64(this.tree.rootHash)}`);
    }
    return proof;
  }

  /**
   * The entries of bundle `bundleIndex` (at its width in the signed tree), each checked against the authenticated
   * level-0 tile: entry i must hash (RFC 6962 leaf hash) to hash i. VERIFICATION_FAILED otherwise.
   */
  async verifiedEntries(fetcher: TileFetcher, bundleIndex: bigint): Promise<Uint8Array[]> {
    const N = this.tree.treeSize;
    const width = tileWidth(0, bundleIndex, N);
    if (width === 0) throw new TlogError('OUT_OF_RANGE', `entry bundle ${bundleIndex} is not in the tree of size ${N}`);
    const [tile, entries] = await Promise.all([
      this.reader.read([{ kind: 'hash', level: 0, index: bundleIndex, width }]),
      fetcher.entries(bundleIndex, width),
    ]);
    const t = tile[0] as Uint8Array;
    entries.forEach((e, i) => {
      if (!bytesEqual(rfcLeafHash(e), t.subarray(i * 32, i * 32 + 32))) {
        throw new TileAuthenticationError(`entry ${bundleIndex * 256n + BigInt(i)} of bundle ${bundleIndex} does not hash to its leaf hash in the authenticated tile`, []);
      }
    });
    return entries;
  }
}

/**
 * Verifies an inclusion proof of `leafHash` at `index` against a signed tree (RFC 9162 §2.1.3.2). Throws
 * VERIFICATION_FAILED if it does not verify.
 */
export function checkInclusion(leafHash: Uint8Array, index: bigint, tree: SignedTree, proof: readonly Uint8Array[]): void {
  if (!verifyInclusion(leafHash, index, tree.treeSize, proof, tree.rootHash)) {
    throw new TlogError('VERIFICATION_FAILED', `inclusion proof of leaf ${index} does not verify against tree size ${tree.treeSize}`);
  }
}

/** {@link checkInclusion} for an entry: its leaf hash is SHA-256(0x00 || entry) (RFC 6962 §2.1). */
export function checkEntryInclusion(entry: Uint8Array, index: bigint, tree: SignedTree, proof: readonly Uint8Array[]): void {
  checkInclusion(rfcLeafHash(entry), index, tree, proof);
}

/**
 * Verifies a consistency proof between two signed trees (RFC 9162 §2.1.4.2, tlog-witness edge cases). Throws
 * INCONSISTENT if it does not verify.
 */
export function checkConsistency(oldTree: SignedTree, newTree: SignedTree, proof: readonly Uint8Array[]): void {
  if (!verifyConsistency(oldTree.treeSize, newTree.treeSize, oldTree.rootHash, newTree.rootHash, proof)) {
    throw new TlogError('INCONSISTENT', `consistency proof from ${oldTree.treeSize} to ${newTree.treeSize} does not verify`);
  }
}

export { verifyInclusion, verifyConsistency };
