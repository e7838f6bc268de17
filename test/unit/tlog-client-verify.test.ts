/**
 * clients/tlog checkpoint verification and tlog-proof verification (policy parsing: tlog-policy.test.ts):
 *  - log signature required, several log keys, unknown signatures (grease) ignored, a bad signature by a known key
 *    rejects, cosignatures counted against the quorum, timestamps returned;
 *  - verifyTlogProof accepts a proof built from authenticated tiles and rejects any change to proof, entry, index,
 *    checkpoint, key or quorum.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  ProofBuilder,
  buildTlogProof,
  parseTlogProof,
  formatTlogProof,
  simplePolicy,
  verifyCheckpoint,
  verifyTlogProof,
  TlogError,
} from '../../clients/tlog/index.js';
import { signCheckpoint, formatCheckpoint } from '../../server/core/checkpoint.js';
import { newCosigner } from '../../server/core/cosignature.js';
import { newEd25519Signer } from '../../server/core/keys.js';
import { appendSignatures, formatSignatureLine } from '../../server/core/note.js';
import { TileStore, makeEntry } from '../support/reference-tree.js';

const seed = (i: number) => new Uint8Array(32).fill(i);
const log = newEd25519Signer('example.com/log', seed(1));
const log2 = newEd25519Signer('example.com/log', seed(2));
const w = [1, 2, 3, 4].map((i) => newCosigner(`witness${i}.example`, seed(10 + i)));
const isCode = (code: string) => (e: unknown) => e instanceof TlogError && e.code === code;

const store = new TileStore();
store.append(Array.from({ length: 1000 }, (_, i) => makeEntry(i)));
const cp = { origin: 'example.com/log', treeSize: 1000n, rootHash: store.ref.root(1000), extensions: [] };
const text = formatCheckpoint(cp);
const grease = formatSignatureLine({ name: 'grease.invalid', keyId: 0x12345678, signature: randomBytes(64) });
/** Log-signed checkpoint plus cosignatures of witnesses `ws` (timestamps 1000+i) and a grease line. */
function cosigned(ws: number[], signers = [log]): string {
  let note = signCheckpoint(cp, signers);
  const lines = ws.map((i) => (w[i] as (typeof w)[number]).cosign(text, BigInt(1000 + i))).join('') + grease;
  note = appendSignatures(note, lines);
  return note;
}

describe('verifyCheckpoint', () => {
  const policy = simplePolicy([w[0]!.vkey, w[1]!.vkey, w[2]!.vkey], 2);

  test('log signature + quorum of cosignatures; grease and unknown witnesses ignored; timestamps returned', () => {
    const note = cosigned([0, 2, 3]); // w[3] is not in the policy
    const v = verifyCheckpoint(note, { logVkeys: log.vkey, policy, origin: 'example.com/log' });
    assert.equal(v.checkpoint.treeSize, 1000n);
    assert.deepEqual(v.logKeys, [log.vkey]);
    assert.deepEqual(v.cosignatures.map((c) => [c.witness, c.timestamp]), [['witness1.example', 1000n], ['witness3.example', 1002n]]);
    assert.equal(v.quorumMet, true);
    assert.equal(v.ignoredSignatures, 2);
  });

  test('several log keys: any one verifies; policy log lines used when no key is given', () => {
    const note = cosigned([], [log2]);
    assert.deepEqual(verifyCheckpoint(note, { logVkeys: [log.vkey, log2.vkey] }).logKeys, [log2.vkey]);
    assert.throws(() => verifyCheckpoint(note, { logVkeys: log.vkey }), isCode('VERIFICATION_FAILED'));
    const p = simplePolicy([w[0]!.vkey], 1, [log2.vkey]);
    assert.equal(verifyCheckpoint(cosigned([0], [log2]), { policy: p }).quorumMet, true);
    assert.throws(() => verifyCheckpoint(note, {}), isCode('MALFORMED'));
  });

  test('rejections: quorum unmet, wrong origin, witness-only note, a bad signature by a known key', () => {
    assert.throws(() => verifyCheckpoint(cosigned([0, 3]), { logVkeys: log.vkey, policy }), isCode('VERIFICATION_FAILED'));
    const r = verifyCheckpoint(cosigned([0, 3]), { logVkeys: log.vkey, policy, enforceQuorum: false });
    assert.equal(r.quorumMet, false);
    assert.deepEqual(r.cosignatures.map((c) => c.witness), ['witness1.example']);
    assert.throws(() => verifyCheckpoint(cosigned([0, 1]), { logVkeys: log.vkey, policy, origin: 'other' }), isCode('VERIFICATION_FAILED'));
    // Only witness signatures: not opened.
    const witnessOnly = `${text}\n${w[0]!.cosign(text, 5n)}${w[1]!.cosign(text, 5n)}`;
    assert.throws(() => verifyCheckpoint(witnessOnly, { logVkeys: log.vkey, policy }), isCode('VERIFICATION_FAILED'));
    // A cosignature by a policy witness over another text (name and key ID match, signature bad).
    const other = formatCheckpoint({ ...cp, treeSize: 999n, rootHash: store.ref.root(999) });
    const forged = appendSignatures(signCheckpoint(cp, [log]), w[1]!.cosign(other, 7n) + w[0]!.cosign(text, 7n) + w[2]!.cosign(text, 7n));
    assert.throws(() => verifyCheckpoint(forged, { logVkeys: log.vkey, policy }), isCode('VERIFICATION_FAILED'));
    // A changed checkpoint body breaks the log signature.
    const note = cosigned([0, 1]);
    assert.throws(() => verifyCheckpoint(note.replace('\n1000\n', '\n1001\n'), { logVkeys: log.vkey, policy }), isCode('VERIFICATION_FAILED'));
    assert.throws(() => verifyCheckpoint('not a note', { logVkeys: log.vkey }), isCode('MALFORMED'));
  });
});

describe('verifyTlogProof', () => {
  const policy = simplePolicy([w[0]!.vkey, w[1]!.vkey, w[2]!.vkey], 2);

  test('a proof built from authenticated tiles verifies; any change is rejected', async () => {
    const note = cosigned([0, 1]);
    const b = new ProofBuilder(cp, store.reader);
    for (const index of [0n, 1n, 255n, 256n, 511n, 998n, 999n]) {
      const entry = makeEntry(Number(index));
      const proofText = await buildTlogProof(b, note, index);
      const v = verifyTlogProof(proofText, entry, log.vkey, policy);
      assert.equal(v.index, index);
      assert.equal(v.checkpoint.cosignatures.length, 2);
      assert.equal(verifyTlogProof(proofText, entry, log.vkey).index, index); // no policy: log signature only
      // Wrong entry, wrong key, quorum not met.
      assert.throws(() => verifyTlogProof(proofText, makeEntry(Number(index) + 1), log.vkey, policy), isCode('VERIFICATION_FAILED'));
      assert.throws(() => verifyTlogProof(proofText, entry, log2.vkey, policy), isCode('VERIFICATION_FAILED'));
      assert.throws(() => verifyTlogProof(proofText, entry, log.vkey, simplePolicy([w[0]!.vkey, w[2]!.vkey], 2)), isCode('VERIFICATION_FAILED'));
      // Each proof hash changed, the index changed.
      const p = parseTlogProof(proofText);
      p.proof.forEach((_, i) => {
        const q = { ...p, proof: p.proof.map((h, j) => (j === i ? Uint8Array.from(h, (x, k) => (k === 0 ? x ^ 1 : x)) : h)) };
        assert.throws(() => verifyTlogProof(formatTlogProof(q), entry, log.vkey, policy), isCode('VERIFICATION_FAILED'));
      });
      assert.throws(() => verifyTlogProof(formatTlogProof({ ...p, index: index ^ 1n }), entry, log.vkey, policy), isCode('VERIFICATION_FAILED'));
      assert.throws(() => verifyTlogProof(formatTlogProof({ ...p, index: 1000n }), entry, log.vkey, policy), isCode('VERIFICATION_FAILED'));
    }
    assert.throws(() => verifyTlogProof('garbage', makeEntry(0), log.vkey), isCode('MALFORMED'));
    // buildTlogProof refuses a checkpoint of another tree.
    const other = signCheckpoint({ ...cp, treeSize: 999n, rootHash: store.ref.root(999) }, [log]);
    await assert.rejects(buildTlogProof(b, other, 0n), isCode('MALFORMED'));
  });
});
