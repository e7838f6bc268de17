// SPEC: c2sp.org/signed-note v1.0.0; vectors of golang.org/x/mod/sumdb/note (note.go doc, note_test.go).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TlogError, type ErrorCode } from '../../server/core/errors.js';
import {
  MAX_NOTE_SIGNATURES,
  MAX_NOTE_SIZE,
  appendSignatures,
  formatSignatureLine,
  isValidKeyName,
  openNote,
  parseNote,
  parseNoteBytes,
  parseSignatureLines,
  signNote,
  type NoteVerifier,
} from '../../server/core/note.js';
import { formatPrivateKey, formatVerifierKey, keyIdFor, newEd25519Signer, newSigner, newVerifier } from '../../server/core/keys.js';

function throwsCode(fn: () => unknown, code: ErrorCode, what?: string): void {
  assert.throws(fn, (e: unknown) => e instanceof TlogError && e.code === code, what);
}

// The signed-note example (C2SP/C2SP signed-note.md "Example" section, as of commit d4c16da; the copy of the spec
// read here no longer carries it, so it is taken verbatim from implementations quoting it). It verifies below, so
// the bytes are self-authenticating.
const SPEC_VKEY = 'example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k';
const SPEC_TEXT = 'This is an example message.\n';
const SPEC_SIG = '— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n';
const SPEC_NOTE = SPEC_TEXT + '\n' + SPEC_SIG;

// golang.org/x/mod/sumdb/note note.go package doc and note_test.go.
const PETER_SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const PETER_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const ENOCH_VKEY = 'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop';
const GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG = '— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
const ENOCH_SIG = '— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n';
// transparency-dev/formats note_cosigv1_test.go: a vkey whose base64 contains '+'.
const PLUS_VKEY = 'TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6';

const b64 = (line: string): string => line.trim().split(' ')[2]!;

test('the signed-note spec example verifies', () => {
  const v = newVerifier(SPEC_VKEY);
  assert.equal(v.name, 'example.com/foo');
  assert.equal(v.keyId, 0x530d903a);
  const opened = openNote(SPEC_NOTE, [v]);
  assert.equal(opened.text, SPEC_TEXT);
  assert.equal(opened.verified.length, 1);
  assert.equal(opened.unverified.length, 0);
  assert.equal(formatSignatureLine(opened.verified[0]!), SPEC_SIG);
  assert.equal(formatVerifierKey(v.name, v.publicKey), SPEC_VKEY);
});

test('spec example: a bit flip anywhere in the text or the signature is rejected', () => {
  const v = newVerifier(SPEC_VKEY);
  const text = Buffer.from(SPEC_TEXT);
  for (let i = 0; i < text.length - 1; i++) {
    for (let bit = 0; bit < 7; bit++) {
      const t = Buffer.from(text);
      t[i]! ^= 1 << bit;
      const s = t.toString('latin1');
      if (/[\x00-\x09\x0b-\x1f]/.test(s)) {
        throwsCode(() => openNote(s + '\n' + SPEC_SIG, [v]), 'MALFORMED');
      } else {
        throwsCode(() => openNote(s + '\n' + SPEC_SIG, [v]), 'VERIFICATION_FAILED');
      }
    }
  }
  const raw = Buffer.from(b64(SPEC_SIG), 'base64');
  for (let i = 0; i < raw.length * 8; i++) {
    const r = Buffer.from(raw);
    r[i >> 3]! ^= 1 << (i & 7);
    const note = `${SPEC_TEXT}\n— example.com/foo ${r.toString('base64')}\n`;
    // A flip in the key ID makes the signature unknown (ignored), leaving none: still VERIFICATION_FAILED.
    throwsCode(() => openNote(note, [v]), 'VERIFICATION_FAILED', `bit ${i}`);
  }
});

test('unknown signatures are ignored; a bad signature from a known key rejects the note', () => {
  const v = newVerifier(SPEC_VKEY);
  const grease = '— grease.example/1 AAAAAQID\n— example.com/foo AAAAAAAAAAAAAAAA\n— example.com/bar U0wOkAE=\n';
  const ok = openNote(SPEC_TEXT + '\n' + grease + SPEC_SIG, [v]);
  assert.equal(ok.verified.length, 1);
  assert.equal(ok.unverified.length, 3);
  assert.deepEqual(
    ok.unverified.map((s) => [s.name, s.keyId]),
    [['grease.example/1', 1], ['example.com/foo', 0], ['example.com/bar', 0x534c0e90]],
  );
  // Same name and key ID as the known key, wrong signature: the whole note is rejected even with a good one.
  const forged = `— example.com/foo ${Buffer.concat([Buffer.from('530d903a', 'hex'), Buffer.alloc(64, 7)]).toString('base64')}\n`;
  throwsCode(() => openNote(SPEC_NOTE + forged, [v]), 'VERIFICATION_FAILED');
  throwsCode(() => openNote(SPEC_TEXT + '\n' + forged + SPEC_SIG, [v]), 'VERIFICATION_FAILED');
  // No verifiers at all, or only unrelated ones.
  throwsCode(() => openNote(SPEC_NOTE, []), 'VERIFICATION_FAILED');
  throwsCode(() => openNote(SPEC_NOTE, [newVerifier(PETER_VKEY)]), 'VERIFICATION_FAILED');
});

test('Go key strings: our signer and vkey equal Go byte for byte', () => {
  const s = newSigner(PETER_SKEY);
  assert.equal(s.name, 'PeterNeumann');
  assert.equal(s.keyId, 0xc74f20a3);
  assert.equal(s.vkey, PETER_VKEY);
  const seed = Buffer.from(PETER_SKEY.split('+').slice(4).join('+'), 'base64').subarray(1);
  assert.equal(formatPrivateKey('PeterNeumann', seed), PETER_SKEY);
  assert.equal(keyIdFor('PeterNeumann', Buffer.concat([Buffer.from([1]), s.publicKey])), 0xc74f20a3);
  assert.equal(newVerifier(PETER_VKEY).keyId, 0xc74f20a3);
  assert.equal(newVerifier(ENOCH_VKEY).keyId, 0xaf0cfe78);
  assert.equal(newVerifier(PLUS_VKEY).name, 'TEST');
  assert.equal(newVerifier(PLUS_VKEY).keyId, 0x7997405c);
});

test('Go TestSign: signNote output equals Go note.Sign', () => {
  assert.equal(signNote(GO_TEXT, [newSigner(PETER_SKEY)]), GO_TEXT + '\n' + PETER_SIG);
  throwsCode(() => signNote('abc', [newSigner(PETER_SKEY)]), 'MALFORMED');
  throwsCode(() => signNote('', [newSigner(PETER_SKEY)]), 'MALFORMED');
  throwsCode(() => signNote('a\x01\n', [newSigner(PETER_SKEY)]), 'MALFORMED');
  throwsCode(() => signNote('a\ud800\n', [newSigner(PETER_SKEY)]), 'MALFORMED');
  assert.throws(() => signNote(GO_TEXT, [{ ...newSigner(PETER_SKEY), name: 'bad name' }]));
  assert.throws(() => signNote(GO_TEXT, [{ ...newSigner(PETER_SKEY), keyId: 2 ** 32 }]));
  assert.throws(() => signNote(GO_TEXT, []));
  // Text with empty lines (allowed), and text that is only a newline.
  for (const text of ['a\n\nb\n', 'a\n\n', '\n', '\n\n\n']) {
    const note = signNote(text, [newSigner(PETER_SKEY)]);
    assert.equal(openNote(note, [newVerifier(PETER_VKEY)]).text, text);
  }
});

test('Go TestOpen', () => {
  const peter = newVerifier(PETER_VKEY);
  const enoch = newVerifier(ENOCH_VKEY);
  const both = GO_TEXT + '\n' + PETER_SIG + ENOCH_SIG;

  let n = openNote(both, [peter]);
  assert.equal(n.text, GO_TEXT);
  assert.deepEqual(n.verified.map((s) => [s.name, s.keyId]), [['PeterNeumann', 0xc74f20a3]]);
  assert.deepEqual(n.unverified.map((s) => [s.name, s.keyId]), [['EnochRoot', 0xaf0cfe78]]);

  n = openNote(both, [peter, enoch]);
  assert.deepEqual(n.verified.map((s) => s.name), ['PeterNeumann', 'EnochRoot']);
  assert.equal(n.unverified.length, 0);

  throwsCode(() => openNote(both, []), 'VERIFICATION_FAILED');
  // Duplicated verifier, used / unused.
  throwsCode(() => openNote(GO_TEXT + '\n' + ENOCH_SIG, [enoch, peter, enoch]), 'VERIFICATION_FAILED');
  assert.equal(openNote(GO_TEXT + '\n' + PETER_SIG, [enoch, peter, enoch]).verified.length, 1);
  // Too many signatures (101), verified or not; exactly 100 is fine.
  throwsCode(() => openNote(GO_TEXT + '\n' + PETER_SIG.repeat(101), [peter]), 'MALFORMED');
  throwsCode(() => openNote(GO_TEXT + '\n' + PETER_SIG.repeat(101), []), 'MALFORMED');
  assert.equal(openNote(GO_TEXT + '\n' + PETER_SIG.repeat(MAX_NOTE_SIGNATURES), [peter]).verified.length, 1);
  // Invalid signature.
  const bad = PETER_SIG.slice(0, 60) + 'ABCD' + PETER_SIG.slice(60);
  throwsCode(() => openNote(GO_TEXT + '\n' + bad, [peter]), 'VERIFICATION_FAILED');
  // Duplicated verified and unverified signatures.
  const enochABCD = ENOCH_SIG.slice(0, 60) + 'ABCD' + ENOCH_SIG.slice(60);
  n = openNote(GO_TEXT + '\n' + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + enochABCD, [peter]);
  assert.deepEqual(n.verified.map((s) => s.name), ['PeterNeumann']);
  assert.deepEqual(n.unverified.map((s) => formatSignatureLine(s)), [ENOCH_SIG, enochABCD]);
  // Invalid encoded message syntax (Go's badMsgs).
  const badMsgs = [
    GO_TEXT,
    GO_TEXT + '\n',
    GO_TEXT + '\n' + PETER_SIG.slice(0, -1),
    '\x01' + GO_TEXT + '\n' + PETER_SIG,
    GO_TEXT + '\n' + '— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=',
    GO_TEXT + '\n' + PETER_SIG + 'Unexpected line.\n',
  ];
  for (const m of badMsgs) throwsCode(() => openNote(m, [peter]), 'MALFORMED', JSON.stringify(m));
  throwsCode(() => parseNoteBytes(Buffer.concat([Buffer.from([0xff]), Buffer.from(GO_TEXT + '\n' + PETER_SIG)])), 'MALFORMED');
});

test('Go TestOpen: the doubly-signed example of the package doc', () => {
  const n = openNote(GO_TEXT + '\n' + PETER_SIG + ENOCH_SIG, [newVerifier(PETER_VKEY), newVerifier(ENOCH_VKEY)]);
  assert.equal(n.verified.length, 2);
});

test('Go TestNewVerifier/TestNewSigner: every substring and every byte+1 of a key is rejected', () => {
  for (const [key, parse] of [
    [PETER_VKEY, newVerifier],
    [PETER_SKEY, newSigner],
  ] as const) {
    parse(key);
    for (let i = 0; i <= key.length; i++) {
      for (let j = i + 1; j <= key.length; j++) {
        if (i === 0 && j === key.length) continue;
        throwsCode(() => parse(key.slice(i, j)), 'MALFORMED', key.slice(i, j));
      }
    }
    const b = Buffer.from(key);
    for (let i = 0; i < b.length; i++) {
      b[i]!++;
      throwsCode(() => parse(b.toString('latin1')), 'MALFORMED', b.toString('latin1'));
      b[i]!--;
    }
  }
  // Go's extra cases: wrong-length key and unknown algorithm, each with an adjusted (correct) key hash.
  throwsCode(() => newVerifier('PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=='), 'MALFORMED');
  throwsCode(() => newVerifier('PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'), 'MALFORMED');
});

test('bad keys table', () => {
  const cases: [string, string][] = [
    ['uppercase hex ID', 'PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'],
    ['7-digit ID', 'PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'],
    ['wrong ID', 'PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'],
    ['name with space', 'Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'],
    ['empty name', '+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'],
    ['base64 without padding', 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'.replace(/=+$/, '') + '=='],
    ['cosigner (0x04) key', formatVerifierKey('PeterNeumann', newVerifier(PETER_VKEY).publicKey, 0x04)],
    ['trailing newline', PETER_VKEY + '\n'],
    ['url-safe base64', 'TEST+7997405c+AQcC-FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6'],
  ];
  for (const [what, key] of cases) throwsCode(() => newVerifier(key), 'MALFORMED', what);
  throwsCode(() => newSigner('PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz'), 'MALFORMED');
  throwsCode(() => newSigner('private+key+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz'), 'MALFORMED');
  throwsCode(() => newSigner(PETER_VKEY), 'MALFORMED');
});

test('key names: non-empty, no "+", no Unicode spaces (Go unicode.IsSpace = White_Space)', () => {
  for (const good of ['a', 'example.com/log42', 'sum.golang.org', 'é/日本', '—', 'a\u200bb', 'a\ufeffb']) assert.ok(isValidKeyName(good), good);
  for (const bad of ['', 'a+b', 'a b', 'a\tb', 'a\u00a0b', 'a\u0085b', 'a\u2003b', 'a\u3000b', 'a\u2028b', 'a\ud800b', 'a\nb']) {
    assert.ok(!isValidKeyName(bad), JSON.stringify(bad));
  }
});

test('bad notes table', () => {
  const peter = newVerifier(PETER_VKEY);
  const line = (name: string, b64s: string) => `— ${name} ${b64s}\n`;
  const sig = b64(PETER_SIG);
  const cases: [string, string][] = [
    ['name with +', GO_TEXT + '\n' + line('Peter+Neumann', sig)],
    ['name with NBSP', GO_TEXT + '\n' + line('Peter\u00a0Neumann', sig)],
    ['empty name', GO_TEXT + '\n' + '—  ' + sig + '\n'],
    ['no signature', GO_TEXT + '\n' + '— PeterNeumann\n'],
    ['empty signature', GO_TEXT + '\n' + '— PeterNeumann \n'],
    ['two spaces', GO_TEXT + '\n' + '— PeterNeumann  ' + sig + '\n'],
    ['trailing space', GO_TEXT + '\n' + '— PeterNeumann ' + sig + ' \n'],
    ['4-byte signature', GO_TEXT + '\n' + line('PeterNeumann', 'x08gow==')],
    ['non-canonical base64 (bits)', GO_TEXT + '\n' + line('PeterNeumann', 'x08go/Z=')],
    ['unpadded base64', GO_TEXT + '\n' + line('PeterNeumann', sig.replace(/=$/, ''))],
    ['hyphen instead of em dash', GO_TEXT + '\n' + PETER_SIG.replace('—', '-')],
    ['en dash', GO_TEXT + '\n' + PETER_SIG.replace('—', '–')],
    ['no space after dash', GO_TEXT + '\n' + PETER_SIG.replace('— ', '—')],
    ['CRLF', GO_TEXT.replace(/\n/g, '\r\n') + '\r\n' + PETER_SIG],
    ['tab in text', 'a\tb\n\n' + PETER_SIG],
    ['NUL', GO_TEXT + '\0\n' + PETER_SIG],
    ['DEL is fine but lone surrogate is not', GO_TEXT.replace('If', 'I\ud800f') + '\n' + PETER_SIG],
    ['empty signature block', GO_TEXT + '\n\n'],
    ['empty note', ''],
  ];
  for (const [what, note] of cases) throwsCode(() => openNote(note, [peter]), 'MALFORMED', what);
  throwsCode(() => parseNote('a\n\n' + '— x AAAAAAA=\n' + 'a'.repeat(MAX_NOTE_SIZE)), 'MALFORMED', 'too large');
  throwsCode(() => parseNoteBytes(new Uint8Array(MAX_NOTE_SIZE + 1)), 'MALFORMED', 'too large bytes');
  // A blank line between signature lines moves the first ones into the text (split at the LAST empty line).
  const moved = GO_TEXT + '\n' + PETER_SIG + '\n' + PETER_SIG;
  assert.equal(parseNote(moved).text, GO_TEXT + '\n' + PETER_SIG);
  throwsCode(() => openNote(moved, [peter]), 'VERIFICATION_FAILED');
  // DEL (0x7f) is not an ASCII control character below U+0020: accepted by the spec and Go.
  assert.equal(parseNote('a\x7f\n\n' + PETER_SIG).text, 'a\x7f\n');
});

test('parseNoteBytes: strict UTF-8, BOM kept as text', () => {
  const n = signNote('\ufeffhéllo\n', [newSigner(PETER_SKEY)]);
  assert.equal(openNote(n, [newVerifier(PETER_VKEY)]).text, '\ufeffhéllo\n');
  assert.equal(parseNoteBytes(Buffer.from(n)).text, '\ufeffhéllo\n');
  const enc = (s: string) => Buffer.from(s);
  for (const badBytes of [[0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x80]]) {
    const b = Buffer.concat([enc('a'), Buffer.from(badBytes), enc('\n\n' + PETER_SIG)]);
    throwsCode(() => parseNoteBytes(b), 'MALFORMED', Buffer.from(badBytes).toString('hex'));
  }
});

test('appendSignatures adds cosignature lines and keeps the note valid', () => {
  const peter = newVerifier(PETER_VKEY);
  const enoch = newVerifier(ENOCH_VKEY);
  const note = GO_TEXT + '\n' + PETER_SIG;
  const both = appendSignatures(note, ENOCH_SIG);
  assert.equal(both, GO_TEXT + '\n' + PETER_SIG + ENOCH_SIG);
  assert.equal(appendSignatures(both, ENOCH_SIG + PETER_SIG), both, 'existing lines are not repeated');
  assert.equal(openNote(both, [peter, enoch]).verified.length, 2);
  throwsCode(() => appendSignatures(note, 'junk\n'), 'MALFORMED');
  throwsCode(() => appendSignatures(note, ENOCH_SIG.slice(0, -1)), 'MALFORMED');
  throwsCode(() => appendSignatures(note, ''), 'MALFORMED');
  throwsCode(() => appendSignatures(GO_TEXT, ENOCH_SIG), 'MALFORMED');
  const many = Array.from({ length: MAX_NOTE_SIGNATURES }, (_, i) => `— w${i} AAAAAAA=\n`).join('');
  throwsCode(() => appendSignatures(note, many), 'MALFORMED');
  assert.deepEqual(parseSignatureLines(ENOCH_SIG).map((s) => s.keyId), [0xaf0cfe78]);
});

// ---- properties ----

const textLine = fc.string({
  unit: fc.oneof(fc.constantFrom('a', 'Z', '0', ' ', '+', '—', '/', 'é', '\u2028', '\ufeff', '😀', '\x7f'), fc.string({ minLength: 1, maxLength: 1 })),
  maxLength: 30,
});
const noteText = fc.array(textLine, { minLength: 1, maxLength: 6 }).map((ls) => ls.join('\n') + '\n');
const keyName = fc
  .string({ unit: fc.constantFrom('a', 'b', '.', '/', '-', 'é', '—', '日'), minLength: 1, maxLength: 12 })
  .filter(isValidKeyName);
const seed = fc.uint8Array({ minLength: 32, maxLength: 32 });

test('property: signNote then openNote round trips, with unknown grease signatures anywhere', () => {
  fc.assert(
    fc.property(noteText, keyName, seed, fc.array(fc.uint8Array({ minLength: 5, maxLength: 80 }), { maxLength: 4 }), (text, name, s, grease) => {
      const signer = newEd25519Signer(name, s);
      const verifier = newVerifier(signer.vkey);
      const note = signNote(text, [signer]);
      const greaseLines = grease.map((g, i) => `— grease${i}.example ${Buffer.from(g).toString('base64')}\n`).join('');
      for (const n of [note, appendSignatures(note, greaseLines || '— grease.example AAAAAAA=\n')]) {
        const opened = openNote(n, [verifier]);
        assert.equal(opened.text, text);
        assert.equal(opened.verified.length, 1);
        assert.equal(opened.verified[0]!.keyId, signer.keyId);
      }
    }),
    { numRuns: 200 },
  );
});

test('property: any single bit flip of a signature fails to open', () => {
  const signer = newEd25519Signer('flip.example', new Uint8Array(32).fill(9));
  const verifier = newVerifier(signer.vkey);
  fc.assert(
    fc.property(noteText, fc.nat({ max: 68 * 8 - 1 }), (text, bit) => {
      const note = signNote(text, [signer]);
      const raw = Buffer.from(b64(note.slice(note.lastIndexOf('\n\n') + 2)), 'base64');
      raw[bit >> 3]! ^= 1 << (bit & 7);
      const flipped = text + '\n' + formatSignatureLine({ name: signer.name, keyId: raw.readUInt32BE(0), signature: raw.subarray(4) });
      throwsCode(() => openNote(flipped, [verifier]), 'VERIFICATION_FAILED');
    }),
    { numRuns: 300 },
  );
});

test('property: parsers throw only TlogError on arbitrary input', () => {
  const verifiers: NoteVerifier[] = [newVerifier(PETER_VKEY), newVerifier(SPEC_VKEY)];
  const pieces = fc.constantFrom('\n', '\n\n', '— ', '—', ' ', 'PeterNeumann', 'x08go/ZJkuBS9UG', '=', '+', '\ud800', '\x00', 'AAAA', '\r');
  const arbitrary = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.array(fc.oneof(pieces, fc.string({ maxLength: 5 })), { maxLength: 40 }).map((a) => a.join('')),
    fc.constant(GO_TEXT + '\n' + PETER_SIG).chain((n) => fc.nat({ max: n.length }).map((i) => n.slice(0, i) + n.slice(i + 1))),
  );
  const onlyTlogError = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      if (!(e instanceof TlogError)) throw e;
    }
  };
  fc.assert(
    fc.property(arbitrary, (s) => {
      onlyTlogError(() => parseNote(s));
      onlyTlogError(() => openNote(s, verifiers));
      onlyTlogError(() => parseSignatureLines(s));
      onlyTlogError(() => newVerifier(s));
      onlyTlogError(() => newSigner(s));
      onlyTlogError(() => appendSignatures(GO_TEXT + '\n' + PETER_SIG, s));
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
      onlyTlogError(() => parseNoteBytes(b));
    }),
  );
});
