// SPEC: c2sp.org/tlog-proof (c2sp.org/tlog-proof@v1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TlogError, type ErrorCode } from '../../server/core/errors.js';
import { MAX_INCLUSION_PROOF_HASHES, TLOG_PROOF_HEADER, formatTlogProof, parseTlogProof, type TlogProof } from '../../server/core/tlog-proof.js';
import { formatCheckpoint, openCheckpoint, signCheckpoint } from '../../server/core/checkpoint.js';
import { newEd25519Signer, newVerifier } from '../../server/core/keys.js';
import { newCosigner } from '../../server/core/cosignature.js';
import { appendSignatures } from '../../server/core/note.js';

function throwsCode(fn: () => unknown, code: ErrorCode, what?: string): void {
  assert.throws(fn, (e: unknown) => e instanceof TlogError && e.code === code, what);
}

// The spec example, with its elided signatures ("hI2DJw[...]1roloI=") replaced by real ones from our keys.
const SPEC_HEAD = `c2sp.org/tlog-proof@v1
extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ
index 73894
gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=
B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=
EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=
RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=
AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=

`;
const SPEC_CHECKPOINT_TEXT = 'example.com/fancylog\n109482\nsFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n';
const log = newEd25519Signer('example.com/fancylog', new Uint8Array(32).fill(1));
const CHECKPOINT = appendSignatures(
  signCheckpoint({ origin: 'example.com/fancylog', treeSize: 109482n, rootHash: Buffer.from('sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=', 'base64'), extensions: [] }, [log]),
  ['witness1.example', 'witness2.example', 'witness3.example']
    .map((w, i) => newCosigner(w, new Uint8Array(32).fill(10 + i)).cosign(SPEC_CHECKPOINT_TEXT, 1700000000n))
    .join(''),
);
const SPEC_PROOF = SPEC_HEAD + CHECKPOINT;

test('the spec example (with real signatures) parses and formats back byte for byte', () => {
  const p = parseTlogProof(SPEC_PROOF);
  assert.equal(p.index, 73894n);
  assert.equal(p.proof.length, 5);
  assert.equal(Buffer.from(p.proof[0]!).toString('base64'), 'gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=');
  assert.equal(Buffer.from(p.extra!).toString('base64'), 'YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ');
  assert.equal(p.checkpoint, CHECKPOINT);
  assert.equal(formatTlogProof(p), SPEC_PROOF);
  const opened = openCheckpoint(p.checkpoint, [newVerifier(log.vkey)], 'example.com/fancylog');
  assert.equal(opened.checkpoint.treeSize, 109482n);
  assert.equal(opened.unverified.length, 3);
});

test('no extra line, and an empty proof', () => {
  const p: TlogProof = { index: 0n, proof: [], checkpoint: CHECKPOINT };
  const s = formatTlogProof(p);
  assert.equal(s, `${TLOG_PROOF_HEADER}\nindex 0\n\n${CHECKPOINT}`);
  assert.deepEqual(parseTlogProof(s), p);
  assert.equal('extra' in parseTlogProof(s), false);
});

test('bad proofs table', () => {
  const h = 'gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=';
  const cases: [string, string][] = [
    ['wrong header', `c2sp.org/tlog-proof@v2\nindex 1\n\n${CHECKPOINT}`],
    ['header with trailing space', `c2sp.org/tlog-proof@v1 \nindex 1\n\n${CHECKPOINT}`],
    ['missing index', `${TLOG_PROOF_HEADER}\n${h}\n\n${CHECKPOINT}`],
    ['index leading zero', `${TLOG_PROOF_HEADER}\nindex 01\n\n${CHECKPOINT}`],
    ['index 2^63', `${TLOG_PROOF_HEADER}\nindex 9223372036854775808\n\n${CHECKPOINT}`],
    ['index two spaces', `${TLOG_PROOF_HEADER}\nindex  1\n\n${CHECKPOINT}`],
    ['index tab', `${TLOG_PROOF_HEADER}\nindex\t1\n\n${CHECKPOINT}`],
    ['extra after index', `${TLOG_PROOF_HEADER}\nindex 1\nextra AAAA\n\n${CHECKPOINT}`],
    ['two extra lines', `${TLOG_PROOF_HEADER}\nextra AAAA\nextra AAAA\nindex 1\n\n${CHECKPOINT}`],
    ['empty extra', `${TLOG_PROOF_HEADER}\nextra \nindex 1\n\n${CHECKPOINT}`],
    ['non-canonical extra', `${TLOG_PROOF_HEADER}\nextra AB==\nindex 1\n\n${CHECKPOINT}`],
    ['unpadded extra', `${TLOG_PROOF_HEADER}\nextra AAA\nindex 1\n\n${CHECKPOINT}`],
    ['31-byte hash', `${TLOG_PROOF_HEADER}\nindex 1\n${Buffer.alloc(31).toString('base64')}\n\n${CHECKPOINT}`],
    ['33-byte hash', `${TLOG_PROOF_HEADER}\nindex 1\n${Buffer.alloc(33).toString('base64')}\n\n${CHECKPOINT}`],
    ['non-canonical hash', `${TLOG_PROOF_HEADER}\nindex 1\n${h.slice(0, 42)}R=\n\n${CHECKPOINT}`],
    ['64 hashes', `${TLOG_PROOF_HEADER}\nindex 1\n${`${h}\n`.repeat(MAX_INCLUSION_PROOF_HASHES + 1)}\n${CHECKPOINT}`],
    ['no empty line', `${TLOG_PROOF_HEADER}\nindex 1\n${CHECKPOINT}`],
    ['two empty lines', `${TLOG_PROOF_HEADER}\nindex 1\n\n\n${CHECKPOINT}`],
    ['no checkpoint', `${TLOG_PROOF_HEADER}\nindex 1\n\n`],
    ['unsigned checkpoint', `${TLOG_PROOF_HEADER}\nindex 1\n\n${SPEC_CHECKPOINT_TEXT}`],
    ['checkpoint without final newline', `${TLOG_PROOF_HEADER}\nindex 1\n\n${CHECKPOINT.slice(0, -1)}`],
    ['not a checkpoint', `${TLOG_PROOF_HEADER}\nindex 1\n\nhello\n\n— a AAAAAAA=\n`],
    ['CRLF', SPEC_PROOF.replace(/\n/g, '\r\n')],
    ['truncated', `${TLOG_PROOF_HEADER}\nindex 1`],
    ['empty', ''],
  ];
  for (const [what, text] of cases) throwsCode(() => parseTlogProof(text), 'MALFORMED', what);
  // 63 hashes is the maximum.
  assert.equal(parseTlogProof(`${TLOG_PROOF_HEADER}\nindex 1\n${`${h}\n`.repeat(63)}\n${CHECKPOINT}`).proof.length, 63);
  // formatTlogProof enforces the same rules.
  const good: TlogProof = { index: 1n, proof: [], checkpoint: CHECKPOINT };
  throwsCode(() => formatTlogProof({ ...good, index: -1n }), 'MALFORMED');
  throwsCode(() => formatTlogProof({ ...good, index: 1n << 63n }), 'MALFORMED');
  throwsCode(() => formatTlogProof({ ...good, extra: new Uint8Array(0) }), 'MALFORMED');
  throwsCode(() => formatTlogProof({ ...good, proof: [new Uint8Array(31)] }), 'MALFORMED');
  throwsCode(() => formatTlogProof({ ...good, proof: Array.from({ length: 64 }, () => new Uint8Array(32)) }), 'MALFORMED');
  throwsCode(() => formatTlogProof({ ...good, checkpoint: SPEC_CHECKPOINT_TEXT }), 'MALFORMED');
});

test('property: parseTlogProof(formatTlogProof(p)) deep-equals p and formats back', () => {
  fc.assert(
    fc.property(
      fc.bigInt({ min: 0n, max: (1n << 63n) - 1n }),
      fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 63 }),
      fc.option(fc.uint8Array({ minLength: 1, maxLength: 100 }), { nil: undefined }),
      (index, proof, extra) => {
        const p: TlogProof = extra === undefined ? { index, proof, checkpoint: CHECKPOINT } : { index, proof, checkpoint: CHECKPOINT, extra };
        const s = formatTlogProof(p);
        const back = parseTlogProof(s);
        const norm = (q: TlogProof) => ({ ...q, proof: q.proof.map((x) => Buffer.from(x)), extra: q.extra && Buffer.from(q.extra) });
        assert.deepEqual(norm(back), norm(p));
        assert.equal(formatTlogProof(back), s);
      },
    ),
    { numRuns: 300 },
  );
});

test('property: parseTlogProof throws only TlogError on arbitrary input; accepted inputs round trip', () => {
  const lines = [TLOG_PROOF_HEADER, 'extra AAAA', 'index 5', 'gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=', '', 'index 05'];
  const arbitrary = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc
      .array(fc.oneof(fc.constantFrom(...lines), fc.string({ maxLength: 6 })), { maxLength: 8 })
      .map((a) => a.map((l) => l + '\n').join('') + formatCheckpoint({ origin: 'o', treeSize: 9n, rootHash: new Uint8Array(32), extensions: [] })),
    fc.nat({ max: SPEC_PROOF.length - 1 }).map((i) => SPEC_PROOF.slice(0, i) + SPEC_PROOF.slice(i + 1)),
    fc.nat({ max: SPEC_PROOF.length - 1 }).map((i) => SPEC_PROOF.slice(0, i) + '\n' + SPEC_PROOF.slice(i)),
  );
  fc.assert(
    fc.property(arbitrary, (s) => {
      try {
        assert.equal(formatTlogProof(parseTlogProof(s)), s);
      } catch (e) {
        if (!(e instanceof TlogError)) throw e;
      }
    }),
    { numRuns: 2000 },
  );
});
