/**
 * C2SP tlog-tiles entry bundles (server/core/entry-bundle.ts): `uint16 BE length || entry`, at most 256 entries,
 * entries at most 65,535 bytes. Decoding is of untrusted bytes: MALFORMED or a valid result, nothing else.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  MAX_ENTRY_SIZE,
  checkEntrySize,
  decodeEntryBundle,
  encodeEntryBundle,
  entryBundlePrefixLength,
} from '../../server/core/entry-bundle.js';
import { TlogError, type ErrorCode } from '../../server/core/errors.js';
import { hex } from '../support/reference-tree.js';

function throwsCode(fn: () => unknown, code: ErrorCode, label: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TlogError, `${label}: expected TlogError, got ${String(e)}`);
    assert.equal(e.code, code, label);
    return true;
  }, `${label}: did not throw`);
}

const hexes = (xs: readonly Uint8Array[]): string[] => xs.map(hex);
const bytes = (...xs: number[]): Uint8Array => Uint8Array.from(xs);

describe('encodeEntryBundle', () => {
  test('known encoding: big-endian uint16 length prefix before each entry', () => {
    const got = encodeEntryBundle([bytes(0xaa), new Uint8Array(0), bytes(1, 2, 3)]);
    assert.equal(hex(got), '0001aa' + '0000' + '0003010203');
  });

  test('an entry of 258 bytes has prefix 0x0102 (byte order check)', () => {
    const got = encodeEntryBundle([new Uint8Array(258).fill(7)]);
    assert.equal(hex(got.subarray(0, 2)), '0102');
    assert.equal(got.length, 260);
  });

  test('empty bundle encodes to zero bytes', () => assert.equal(encodeEntryBundle([]).length, 0));

  test('an entry of exactly 65,535 bytes is accepted, prefix ffff', () => {
    const e = new Uint8Array(MAX_ENTRY_SIZE).fill(0x5a);
    const got = encodeEntryBundle([e]);
    assert.equal(MAX_ENTRY_SIZE, 65535);
    assert.equal(hex(got.subarray(0, 2)), 'ffff');
    assert.deepEqual(hexes(decodeEntryBundle(got)), [hex(e)]);
  });

  test('an entry of 65,536 bytes is rejected with TOO_LARGE, never truncated', () => {
    throwsCode(() => encodeEntryBundle([new Uint8Array(MAX_ENTRY_SIZE + 1)]), 'TOO_LARGE', '65536-byte entry');
    throwsCode(() => checkEntrySize(new Uint8Array(MAX_ENTRY_SIZE + 1)), 'TOO_LARGE', 'checkEntrySize');
    checkEntrySize(new Uint8Array(MAX_ENTRY_SIZE));
  });

  test('256 entries are accepted; 257 are refused', () => {
    const e256 = Array.from({ length: 256 }, (_, i) => bytes(i));
    assert.equal(decodeEntryBundle(encodeEntryBundle(e256), 256).length, 256);
    assert.throws(() => encodeEntryBundle([...e256, bytes(0)]), RangeError);
  });
});

describe('decodeEntryBundle rejects malformed bundles with MALFORMED', () => {
  const bad: [string, Uint8Array, number?][] = [
    ['a lone length byte', bytes(0x00)],
    ['length says 1, no entry byte', bytes(0x00, 0x01)],
    ['length says 3, two bytes follow', bytes(0x00, 0x03, 1, 2)],
    ['second prefix truncated', bytes(0x00, 0x01, 0xaa, 0x00)],
    ['length ffff with a short body', bytes(0xff, 0xff, 0, 0, 0)],
    ['257 empty entries', new Uint8Array(2 * 257)],
    ['width 2 asked, 1 entry present', bytes(0x00, 0x01, 0xaa), 2],
    ['width 1 asked, 2 entries present', bytes(0x00, 0x00, 0x00, 0x00), 1],
    ['width 1 asked, empty data', new Uint8Array(0), 1],
  ];
  for (const [name, data, width] of bad) {
    test(name, () => throwsCode(() => decodeEntryBundle(data, width), 'MALFORMED', name));
  }

  test('256 empty entries (512 zero bytes) decode to 256 empty entries', () => {
    const got = decodeEntryBundle(new Uint8Array(512), 256);
    assert.equal(got.length, 256);
    assert.ok(got.every((e) => e.length === 0));
  });

  test('empty data decodes to no entries', () => assert.deepEqual(decodeEntryBundle(new Uint8Array(0)), []));
});

describe('entry bundle properties', () => {
  const entryArb = fc.oneof({ weight: 8, arbitrary: fc.uint8Array({ maxLength: 40 }) }, { weight: 1, arbitrary: fc.uint8Array({ minLength: 250, maxLength: 700 }) });
  const bundleArb = fc.oneof(fc.array(entryArb, { maxLength: 20 }), fc.array(fc.uint8Array({ maxLength: 3 }), { minLength: 250, maxLength: 256 }));

  test('decodeEntryBundle(encodeEntryBundle(x)) deep-equals x, with and without the width', () => {
    fc.assert(
      fc.property(bundleArb, (x) => {
        const enc = encodeEntryBundle(x);
        assert.equal(enc.length, x.reduce((n, e) => n + 2 + e.length, 0));
        assert.deepEqual(hexes(decodeEntryBundle(enc)), hexes(x));
        assert.deepEqual(hexes(decodeEntryBundle(enc, x.length)), hexes(x));
      }),
      { numRuns: 300 },
    );
  });

  test('arbitrary bytes: MALFORMED, or a valid result whose re-encoding is exactly the input', () => {
    const data = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      // Mostly-valid bundles with a random tail cut or bytes changed.
      fc.tuple(bundleArb, fc.nat(), fc.uint8Array({ maxLength: 4 })).map(([x, cut, junk]) => {
        const enc = encodeEntryBundle(x);
        const out = new Uint8Array([...enc.subarray(0, enc.length === 0 ? 0 : cut % (enc.length + 1)), ...junk]);
        return out;
      }),
    );
    fc.assert(
      fc.property(data, fc.option(fc.integer({ min: 0, max: 256 })), (d, width) => {
        let got: Uint8Array[];
        try {
          got = decodeEntryBundle(d, width ?? undefined);
        } catch (e) {
          if (e instanceof TlogError && e.code === 'MALFORMED') return;
          throw e;
        }
        assert.ok(got.length <= 256);
        if (width !== null) assert.equal(got.length, width);
        assert.equal(hex(encodeEntryBundle(got)), hex(d));
      }),
      { numRuns: 2000 },
    );
  });

  test('entryBundlePrefixLength(bundle, k) is the byte length of the first k entries', () => {
    fc.assert(
      fc.property(bundleArb, fc.nat(), (x, r) => {
        const enc = encodeEntryBundle(x);
        const k = r % (x.length + 1);
        const len = entryBundlePrefixLength(enc, k);
        assert.equal(len, encodeEntryBundle(x.slice(0, k)).length);
        assert.deepEqual(hexes(decodeEntryBundle(enc.subarray(0, len), k)), hexes(x.slice(0, k)));
        assert.throws(() => entryBundlePrefixLength(enc, x.length + 1), RangeError);
      }),
      { numRuns: 200 },
    );
  });
});
