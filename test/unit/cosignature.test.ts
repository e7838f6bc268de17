// SPEC: c2sp.org/tlog-cosignature v1.0.1 (Ed25519 cosignature/v1, signature type 0x04).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, verify as cryptoVerify } from 'node:crypto';
import fc from 'fast-check';
import { TlogError, type ErrorCode } from '../../server/core/errors.js';
import {
  COSIGNATURE_SIZE,
  cosignatureKeyId,
  cosignatureMessage,
  cosignatureTimestamp,
  formatCosignerVkey,
  newCosignatureVerifier,
  newCosigner,
} from '../../server/core/cosignature.js';
import { formatCheckpoint, openCheckpoint, signCheckpoint, type Checkpoint } from '../../server/core/checkpoint.js';
import { ed25519PublicKeyObject, formatVerifierKey, newEd25519Signer, newVerifier } from '../../server/core/keys.js';
import { appendSignatures, formatSignatureLine, openNote, parseNote, parseSignatureLines } from '../../server/core/note.js';

function throwsCode(fn: () => unknown, code: ErrorCode, what?: string): void {
  assert.throws(fn, (e: unknown) => e instanceof TlogError && e.code === code, what);
}

// tlog-cosignature.md example. The spec's witness line literally contains a backslash-n inside the base64
// (a typo in the document); no public key is given, so only its layout can be checked.
const SPEC_TEXT = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
const SPEC_LOG_SIG = '— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n';
const SPEC_WITNESS_SIG_AS_PRINTED =
  '— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZ\\nqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n';
const SPEC_MESSAGE = 'cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';

const SEED = new Uint8Array(32).fill(0x42);
const WITNESS = 'witness.example.com/w1';

test('the spec example: layout keyID(4) || u64 timestamp 1679315147 || sig(64)', () => {
  const asPrinted = SPEC_TEXT + '\n' + SPEC_LOG_SIG + SPEC_WITNESS_SIG_AS_PRINTED;
  throwsCode(() => parseNote(asPrinted), 'MALFORMED', 'literal backslash-n is not base64');
  const fixed = SPEC_TEXT + '\n' + SPEC_LOG_SIG + SPEC_WITNESS_SIG_AS_PRINTED.replace('\\n', '');
  const sigs = parseNote(fixed).signatures;
  const w = sigs[1]!;
  assert.equal(w.name, WITNESS);
  assert.equal(w.keyId, 0x8d66cf3f);
  assert.equal(w.signature.length, COSIGNATURE_SIZE);
  assert.equal(cosignatureTimestamp(w), 1679315147n);
  throwsCode(() => cosignatureTimestamp(sigs[0]!), 'MALFORMED', 'a 64-byte log signature is not a cosignature');
});

test('signed message and key ID match the spec text byte for byte', () => {
  assert.equal(Buffer.from(cosignatureMessage(SPEC_TEXT, 1679315147n)).toString('utf8'), SPEC_MESSAGE);
  const c = newCosigner(WITNESS, SEED);
  const want = createHash('sha256')
    .update(Buffer.concat([Buffer.from(WITNESS + '\n'), Buffer.from([0x04]), c.publicKey]))
    .digest()
    .readUInt32BE(0);
  assert.equal(c.keyId, want);
  assert.equal(cosignatureKeyId(WITNESS, c.publicKey), want);
  assert.equal(c.vkey, `${WITNESS}+${want.toString(16).padStart(8, '0')}+${Buffer.concat([Buffer.from([4]), c.publicKey]).toString('base64')}`);
  assert.equal(formatCosignerVkey(WITNESS, c.publicKey), c.vkey);

  // The line's payload is keyID || timestamp || Ed25519(SPEC_MESSAGE), checked with node:crypto directly.
  const line = c.cosign(SPEC_TEXT, 1679315147n);
  assert.ok(line.startsWith(`— ${WITNESS} `) && line.endsWith('\n'));
  const raw = Buffer.from(line.trim().split(' ')[2]!, 'base64');
  assert.equal(raw.length, 4 + 8 + 64);
  assert.equal(raw.readUInt32BE(0), want);
  assert.equal(raw.readBigUInt64BE(4), 1679315147n);
  assert.ok(cryptoVerify(null, Buffer.from(SPEC_MESSAGE), ed25519PublicKeyObject(c.publicKey), raw.subarray(12)));
});

test('cosignatures verify through openNote next to the log signature', () => {
  const log = newEd25519Signer('example.com/log', new Uint8Array(32).fill(1));
  const cp: Checkpoint = { origin: 'example.com/log', treeSize: 5n, rootHash: new Uint8Array(32).fill(7), extensions: ['ext'] };
  const note = signCheckpoint(cp, [log]);
  const c = newCosigner(WITNESS, SEED);
  const v = newCosignatureVerifier(c.vkey);
  const cosigned = appendSignatures(note, c.cosign(formatCheckpoint(cp), 1700000000n));

  const opened = openNote(cosigned, [v]);
  assert.equal(opened.verified.length, 1);
  assert.equal(cosignatureTimestamp(opened.verified[0]!), 1700000000n);
  assert.equal(opened.unverified.length, 1, 'the log signature is unknown to the witness verifier');
  assert.equal(openCheckpoint(cosigned, [newVerifier(log.vkey)], 'example.com/log').unverified.length, 1);

  // A 0x01 verifier for the same name and key does not match the cosignature (different key ID).
  const plain = newVerifier(formatVerifierKey(WITNESS, c.publicKey));
  assert.notEqual(plain.keyId, c.keyId);
  throwsCode(() => openNote(formatCheckpoint(cp) + '\n' + c.cosign(formatCheckpoint(cp), 1n), [plain]), 'VERIFICATION_FAILED');

  // The signature covers the extension lines and the timestamp.
  throwsCode(() => openNote(cosigned.replace('\next\n', '\nexu\n'), [v]), 'VERIFICATION_FAILED');
  const sig = parseSignatureLines(c.cosign(formatCheckpoint(cp), 1700000000n))[0]!;
  const bumped = Buffer.from(sig.signature);
  bumped.writeBigUInt64BE(1700000001n, 0);
  const forged = formatCheckpoint(cp) + '\n' + formatSignatureLine({ ...sig, signature: bumped });
  throwsCode(() => openNote(forged, [v]), 'VERIFICATION_FAILED');
  // Wrong payload sizes from a known key fail (not throw TypeError).
  for (const n of [64, 71, 73, 200]) {
    const bad = formatCheckpoint(cp) + '\n' + formatSignatureLine({ name: WITNESS, keyId: c.keyId, signature: new Uint8Array(n) });
    throwsCode(() => openNote(bad, [v]), 'VERIFICATION_FAILED', `${n} bytes`);
  }
});

test('cosigner preconditions and strict vkeys', () => {
  const c = newCosigner(WITNESS, SEED);
  throwsCode(() => c.cosign('not a checkpoint\n', 1n), 'MALFORMED');
  throwsCode(() => c.cosign(SPEC_TEXT.slice(0, -1), 1n), 'MALFORMED');
  throwsCode(() => c.cosign(SPEC_TEXT, -1n), 'MALFORMED');
  throwsCode(() => c.cosign(SPEC_TEXT, 1n << 63n), 'MALFORMED');
  assert.ok(c.cosign(SPEC_TEXT, (1n << 63n) - 1n));
  assert.ok(c.cosign(SPEC_TEXT, 0n));
  assert.throws(() => newCosigner('bad name', SEED));
  assert.throws(() => newCosigner(WITNESS, new Uint8Array(31)));

  // A 0x01 vkey is not a cosigner key; every substring and byte+1 of the vkey is rejected.
  throwsCode(() => newCosignatureVerifier(formatVerifierKey(WITNESS, c.publicKey)), 'MALFORMED');
  const vkey = c.vkey;
  for (let i = 0; i <= vkey.length; i++) {
    for (let j = i + 1; j <= vkey.length; j++) {
      if (i === 0 && j === vkey.length) continue;
      throwsCode(() => newCosignatureVerifier(vkey.slice(i, j)), 'MALFORMED', vkey.slice(i, j));
    }
  }
  const b = Buffer.from(vkey);
  for (let i = 0; i < b.length; i++) {
    b[i]!++;
    throwsCode(() => newCosignatureVerifier(b.toString('latin1')), 'MALFORMED', b.toString('latin1'));
    b[i]!--;
  }
});

test('property: cosign then open round trips with the timestamp; a bit flip fails', () => {
  const line = fc.string({ minLength: 1, maxLength: 16 }).filter((s) => !/[\x00-\x1f]/.test(s));
  fc.assert(
    fc.property(
      fc.record({
        origin: line,
        treeSize: fc.bigInt({ min: 0n, max: (1n << 63n) - 1n }),
        rootHash: fc.uint8Array({ minLength: 32, maxLength: 32 }),
        extensions: fc.array(line, { maxLength: 2 }),
      }),
      fc.bigInt({ min: 0n, max: (1n << 63n) - 1n }),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.nat({ max: 76 * 8 - 1 }),
      (cp, t, seed, bit) => {
        const c = newCosigner(WITNESS, seed);
        const v = newCosignatureVerifier(c.vkey);
        const text = formatCheckpoint(cp);
        const note = text + '\n' + c.cosign(text, t);
        const opened = openNote(note, [v]);
        assert.equal(cosignatureTimestamp(opened.verified[0]!), t);
        const raw = Buffer.concat([Buffer.alloc(4), opened.verified[0]!.signature]);
        raw.writeUInt32BE(c.keyId, 0);
        raw[bit >> 3]! ^= 1 << (bit & 7);
        const flipped = text + '\n' + formatSignatureLine({ name: WITNESS, keyId: raw.readUInt32BE(0), signature: raw.subarray(4) });
        throwsCode(() => openNote(flipped, [v]), 'VERIFICATION_FAILED');
      },
    ),
    { numRuns: 200 },
  );
});

test('property: newCosignatureVerifier throws only TlogError on arbitrary strings', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), fc.constant(newCosigner(WITNESS, SEED).vkey).map((k) => k.slice(0, -2) + '==')), (s) => {
      try {
        newCosignatureVerifier(s);
      } catch (e) {
        if (!(e instanceof TlogError)) throw e;
      }
    }),
    { numRuns: 1000 },
  );
});
