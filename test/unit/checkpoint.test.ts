// SPEC: c2sp.org/tlog-checkpoint v1.0.0; cross-checked against @sigstore/verify 3.1.1 (tlog/checkpoint.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { TlogError, type ErrorCode } from '../../server/core/errors.js';
import { formatCheckpoint, openCheckpoint, parseCheckpoint, signCheckpoint, type Checkpoint } from '../../server/core/checkpoint.js';
import { ed25519PublicKeyObject, newEd25519Signer, newVerifier } from '../../server/core/keys.js';
import { newCosigner, newCosignatureVerifier } from '../../server/core/cosignature.js';
import { appendSignatures, openNote } from '../../server/core/note.js';
import { EMPTY_ROOT } from '../../server/core/hash.js';

function throwsCode(fn: () => unknown, code: ErrorCode, what?: string): void {
  assert.throws(fn, (e: unknown) => e instanceof TlogError && e.code === code, what);
}

// tlog-checkpoint.md example note text.
const SPEC_TEXT = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
const ROOT = Buffer.from('CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=', 'base64');
const ORIGIN = 'example.com/tilelog';
const logSigner = newEd25519Signer(ORIGIN, new Uint8Array(32).fill(1));
const logVerifier = newVerifier(logSigner.vkey);

test('the tlog-checkpoint spec example parses and formats back', () => {
  const c = parseCheckpoint(SPEC_TEXT);
  assert.equal(c.origin, 'example.com/behind-the-sofa');
  assert.equal(c.treeSize, 20852163n);
  assert.deepEqual(Buffer.from(c.rootHash), ROOT);
  assert.deepEqual(c.extensions, []);
  assert.equal(formatCheckpoint(c), SPEC_TEXT);
});

test('extensions, size 0, size 2^63-1, origins with spaces are accepted', () => {
  const cases: string[] = [
    SPEC_TEXT + 'Timestamp: 1689748607742585419\n',
    SPEC_TEXT + 'a\nb b\n—\n',
    `o\n0\n${Buffer.from(EMPTY_ROOT).toString('base64')}\n`,
    `o\n9223372036854775807\n${ROOT.toString('base64')}\n`,
    `rekor.sigstore.dev - 1193050959916656506\n5\n${ROOT.toString('base64')}\n`,
    `a+b\n1\n${ROOT.toString('base64')}\n`,
  ];
  for (const s of cases) assert.equal(formatCheckpoint(parseCheckpoint(s)), s, s);
});

test('bad checkpoints table', () => {
  const r = ROOT.toString('base64');
  const cases: [string, string][] = [
    ['leading zero in size', `o\n020852163\n${r}\n`],
    ['size 00', `o\n00\n${r}\n`],
    ['size 2^63', `o\n9223372036854775808\n${r}\n`],
    ['size 2^64', `o\n18446744073709551616\n${r}\n`],
    ['negative size', `o\n-1\n${r}\n`],
    ['plus sign', `o\n+1\n${r}\n`],
    ['hex size', `o\n0x10\n${r}\n`],
    ['space in size', `o\n 1\n${r}\n`],
    ['empty size', `o\n\n${r}\n`],
    ['non-canonical base64 (trailing bits)', `o\n1\n${r.slice(0, 42)}3=\n`],
    ['base64 without padding', `o\n1\n${r.slice(0, 43)}\n`],
    ['url-safe base64', `o\n1\n${Buffer.from(new Uint8Array(32).fill(0xfb)).toString('base64url')}=\n`],
    ['31-byte root', `o\n1\n${Buffer.alloc(31).toString('base64')}\n`],
    ['33-byte root', `o\n1\n${Buffer.alloc(33).toString('base64')}\n`],
    ['missing final newline', SPEC_TEXT.slice(0, -1)],
    ['two lines', 'o\n1\n'],
    ['empty origin', `\n1\n${r}\n`],
    ['empty extension line', SPEC_TEXT + '\n'],
    ['empty extension in the middle', SPEC_TEXT + 'a\n\nb\n'],
    ['CRLF', SPEC_TEXT.replace(/\n/g, '\r\n')],
    ['control character in origin', `o\x01\n1\n${r}\n`],
    ['tab in extension', SPEC_TEXT + 'a\tb\n'],
    ['lone surrogate', SPEC_TEXT + '\ud800\n'],
    ['empty', ''],
  ];
  for (const [what, text] of cases) throwsCode(() => parseCheckpoint(text), 'MALFORMED', what);
  // formatCheckpoint refuses what parseCheckpoint would refuse.
  const good: Checkpoint = { origin: 'o', treeSize: 1n, rootHash: ROOT, extensions: [] };
  throwsCode(() => formatCheckpoint({ ...good, origin: '' }), 'MALFORMED');
  throwsCode(() => formatCheckpoint({ ...good, origin: 'a\nb' }), 'MALFORMED');
  throwsCode(() => formatCheckpoint({ ...good, treeSize: -1n }), 'MALFORMED');
  throwsCode(() => formatCheckpoint({ ...good, treeSize: 1n << 63n }), 'MALFORMED');
  throwsCode(() => formatCheckpoint({ ...good, rootHash: ROOT.subarray(1) }), 'MALFORMED');
  throwsCode(() => formatCheckpoint({ ...good, extensions: [''] }), 'MALFORMED');
  throwsCode(() => formatCheckpoint({ ...good, extensions: ['a\nb'] }), 'MALFORMED');
});

test('openCheckpoint: signature, origin and cosignatures', () => {
  const c: Checkpoint = { origin: ORIGIN, treeSize: 10n, rootHash: ROOT, extensions: [] };
  const note = signCheckpoint(c, [logSigner]);
  const opened = openCheckpoint(note, [logVerifier], ORIGIN);
  assert.deepEqual(opened.checkpoint, { ...c, rootHash: opened.checkpoint.rootHash });
  assert.deepEqual(Buffer.from(opened.checkpoint.rootHash), ROOT);
  assert.equal(opened.note, note);
  assert.equal(opened.text, formatCheckpoint(c));
  throwsCode(() => openCheckpoint(note, [logVerifier], 'example.com/other'), 'VERIFICATION_FAILED');
  throwsCode(() => openCheckpoint(note, [], ORIGIN), 'VERIFICATION_FAILED');
  throwsCode(() => openCheckpoint(note.replace('\n10\n', '\n11\n'), [logVerifier], ORIGIN), 'VERIFICATION_FAILED');
  throwsCode(() => openCheckpoint(note.replace('\n10\n', '\n010\n'), [logVerifier], ORIGIN), 'MALFORMED');
  // A witness cosignature is ignored by the log verifier and checked by the witness verifier.
  const witness = newCosigner('witness.example/w1', new Uint8Array(32).fill(2));
  const cosigned = appendSignatures(note, witness.cosign(opened.text, 1700000000n));
  const again = openCheckpoint(cosigned, [logVerifier], ORIGIN);
  assert.equal(again.unverified.length, 1);
  assert.equal(openNote(cosigned, [newCosignatureVerifier(witness.vkey)]).verified[0]!.name, 'witness.example/w1');
});

test('property: parseCheckpoint(formatCheckpoint(c)) deep-equals c; format(parse(s)) === s', () => {
  const line = fc
    .string({ unit: fc.oneof(fc.constantFrom(' ', '+', '—', 'é', '😀', '\x7f'), fc.string({ minLength: 1, maxLength: 1 })), minLength: 1, maxLength: 20 })
    .filter((s) => !/[\x00-\x1f]/.test(s));
  const checkpoint = fc.record({
    origin: line,
    treeSize: fc.bigInt({ min: 0n, max: (1n << 63n) - 1n }),
    rootHash: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    extensions: fc.array(line, { maxLength: 3 }),
  });
  fc.assert(
    fc.property(checkpoint, (c) => {
      const text = formatCheckpoint(c);
      const back = parseCheckpoint(text);
      assert.deepEqual({ ...back, rootHash: Buffer.from(back.rootHash) }, { ...c, rootHash: Buffer.from(c.rootHash) });
      assert.equal(formatCheckpoint(back), text);
    }),
    { numRuns: 500 },
  );
});

test('property: parseCheckpoint/openCheckpoint throw only TlogError; accepted texts round trip', () => {
  const pieces = fc.constantFrom('\n', 'o', '0', '1', '01', '9223372036854775808', ROOT.toString('base64'), '=', ' ', '\ud800', '\r', '\x00');
  const arbitrary = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 120 }),
    fc.array(fc.oneof(pieces, fc.string({ maxLength: 4 })), { maxLength: 12 }).map((a) => a.join('')),
  );
  fc.assert(
    fc.property(arbitrary, (s) => {
      try {
        assert.equal(formatCheckpoint(parseCheckpoint(s)), s);
      } catch (e) {
        if (!(e instanceof TlogError)) throw e;
      }
      try {
        openCheckpoint(s, [logVerifier], ORIGIN);
      } catch (e) {
        if (!(e instanceof TlogError)) throw e;
      }
    }),
    { numRuns: 2000 },
  );
});

// ---- cross-check with @sigstore/verify, an implementation nobody here wrote ----

interface SigstoreTLog {
  logID: Buffer;
  baseURL: string;
  publicKey: unknown;
  validFor: { start: Date; end: Date };
}
interface SigstoreCheckpointModule {
  verifyCheckpoint(
    entry: { inclusionProof: { checkpoint: { envelope: string } } },
    tlogs: SigstoreTLog[],
  ): { origin: string; logSize: bigint; logHash: Buffer; rest: string[] };
}
const require = createRequire(import.meta.url);
const sigstore = require('@sigstore/verify/dist/tlog/checkpoint.js') as SigstoreCheckpointModule;

test('@sigstore/verify verifyCheckpoint accepts our signed checkpoints and rejects tampered ones', () => {
  const keyIdBytes = Buffer.alloc(4);
  keyIdBytes.writeUInt32BE(logSigner.keyId, 0);
  const tlog: SigstoreTLog = {
    // sigstore matches the note key ID against the first 4 bytes of the log ID.
    logID: Buffer.concat([keyIdBytes, Buffer.alloc(28)]),
    baseURL: `https://${ORIGIN}`,
    publicKey: ed25519PublicKeyObject(logSigner.publicKey),
    validFor: { start: new Date(0), end: new Date(8.64e15) },
  };
  const entry = (envelope: string) => ({ inclusionProof: { checkpoint: { envelope } } });
  const c: Checkpoint = { origin: ORIGIN, treeSize: 123456789n, rootHash: ROOT, extensions: ['ext line'] };
  const note = signCheckpoint(c, [logSigner]);

  const got = sigstore.verifyCheckpoint(entry(note), [tlog]);
  assert.equal(got.origin, ORIGIN);
  assert.equal(got.logSize, 123456789n);
  assert.deepEqual(got.logHash, ROOT);
  assert.deepEqual(got.rest, ['ext line']);

  // With a witness cosignature appended (sigstore 3.1.1 needs only one verifying signature).
  const witness = newCosigner('witness.example/w1', new Uint8Array(32).fill(2));
  const cosigned = appendSignatures(note, witness.cosign(formatCheckpoint(c), 1700000000n));
  assert.equal(sigstore.verifyCheckpoint(entry(cosigned), [tlog]).logSize, 123456789n);

  for (const tampered of [
    note.replace('\n123456789\n', '\n123456788\n'),
    note.replace('ext line', 'ext linf'),
    note.replace(ROOT.toString('base64'), Buffer.alloc(32).toString('base64')),
  ]) {
    assert.throws(() => sigstore.verifyCheckpoint(entry(tampered), [tlog]), /invalid checkpoint signature/);
    throwsCode(() => openCheckpoint(tampered, [logVerifier], ORIGIN), 'VERIFICATION_FAILED');
  }
  // A checkpoint signed by another key with the same name is rejected by both.
  const other = signCheckpoint(c, [newEd25519Signer(ORIGIN, new Uint8Array(32).fill(3))]);
  assert.throws(() => sigstore.verifyCheckpoint(entry(other), [tlog]), /invalid checkpoint signature/);
  throwsCode(() => openCheckpoint(other, [logVerifier], ORIGIN), 'VERIFICATION_FAILED');
});
