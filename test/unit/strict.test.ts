/**
 * Strict parsers of untrusted text (server/core/strict.ts): canonical decimals, canonical base64, exact hex.
 * Every accepted input must round-trip to the same string; everything else throws a MALFORMED TlogError.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  MAX_INT63,
  bytesEqual,
  decodeBase64Exact,
  decodeBase64Strict,
  decodeHexExact,
  encodeBase64,
  encodeHex,
  parseDecimal,
} from '../../server/core/strict.js';
import { TlogError, type ErrorCode } from '../../server/core/errors.js';
import { hex } from '../support/reference-tree.js';

/** Asserts that fn throws a TlogError with `code` (and not, say, a TypeError or a SyntaxError). */
function throwsCode(fn: () => unknown, code: ErrorCode, label: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TlogError, `${label}: expected TlogError, got ${String(e)}`);
    assert.equal(e.code, code, `${label}: wrong code`);
    return true;
  }, `${label}: did not throw`);
}

/** Runs fn; returns its value, or undefined if it threw a MALFORMED TlogError; rethrows anything else. */
function malformedOr<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (e) {
    if (e instanceof TlogError && e.code === 'MALFORMED') return undefined;
    throw e;
  }
}

describe('parseDecimal', () => {
  const accepted: [string, bigint][] = [
    ['0', 0n],
    ['1', 1n],
    ['10', 10n],
    ['70000', 70000n],
    ['4294967296', 2n ** 32n],
    ['9223372036854775807', MAX_INT63],
  ];
  for (const [s, want] of accepted) {
    test(`accepts canonical ${JSON.stringify(s)}`, () => assert.equal(parseDecimal(s), want));
  }

  const rejected: [string, string][] = [
    ['empty string', ''],
    ['leading zero', '01'],
    ['double zero', '00'],
    ['leading zeros on max', '09223372036854775807'],
    ['minus sign', '-1'],
    ['negative zero', '-0'],
    ['plus sign', '+1'],
    ['hex prefix', '0x10'],
    ['octal prefix', '0o7'],
    ['binary prefix', '0b1'],
    ['leading space', ' 1'],
    ['trailing space', '1 '],
    ['trailing newline', '1\n'],
    ['leading newline', '\n1'],
    ['exponent', '1e3'],
    ['fraction', '1.0'],
    ['digit separator', '1_000'],
    ['2^63', '9223372036854775808'],
    ['2^64', '18446744073709551616'],
    ['20 nines', '99999999999999999999'],
    ['21 digits', '1'.repeat(21)],
    ['fullwidth digit', '\uff11'],
    ['arabic-indic digit', '\u0661'],
    ['NaN', 'NaN'],
    ['Infinity', 'Infinity'],
    ['bigint literal', '1n'],
  ];
  for (const [name, s] of rejected) {
    test(`rejects ${name} (${JSON.stringify(s)}) with MALFORMED`, () => throwsCode(() => parseDecimal(s), 'MALFORMED', name));
  }

  test('the max argument is inclusive and enforced', () => {
    assert.equal(parseDecimal('255', 'width', 255n), 255n);
    throwsCode(() => parseDecimal('256', 'width', 255n), 'MALFORMED', '256 > 255');
    throwsCode(() => parseDecimal('1', 'width', 0n), 'MALFORMED', '1 > 0');
  });

  test('the error message names the field', () => {
    assert.throws(() => parseDecimal('01', 'tree size'), /tree size/);
  });

  test('property: every bigint in 0..2^63-1 round-trips through its decimal form', () => {
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: MAX_INT63 }), (n) => parseDecimal(n.toString()) === n), { numRuns: 500 });
  });

  test('property: any string is either rejected with MALFORMED or is the canonical form of its value', () => {
    const str = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 24 }),
      fc.stringMatching(/^[-+ 0x]{0,2}[0-9]{0,21}[ e\n]?$/),
    );
    fc.assert(
      fc.property(str, (s) => {
        const n = malformedOr(() => parseDecimal(s));
        if (n !== undefined) assert.equal(n.toString(), s);
      }),
      { numRuns: 300 },
    );
  });
});

describe('decodeBase64Strict', () => {
  const accepted: [string, string][] = [
    ['', ''],
    ['AA==', '00'],
    ['AAA=', '0000'],
    ['AAAA', '000000'],
    ['QUJD', '414243'],
    ['+/+/', 'fbffbf'],
    ['47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
  ];
  for (const [s, want] of accepted) {
    test(`accepts canonical ${JSON.stringify(s)}`, () => assert.equal(hex(decodeBase64Strict(s)), want));
  }

  const rejected: [string, string][] = [
    ['non-zero pad bits (AB== instead of AA==)', 'AB=='],
    ['non-zero pad bits (AAB= instead of AAA=)', 'AAB='],
    ['non-zero pad bits (AP== instead of AA==)', 'AP=='],
    ['missing padding (2 chars)', 'AA'],
    ['missing padding (3 chars)', 'AAA'],
    ['single char', 'A'],
    ['one pad char short', 'AA='],
    ['three pad chars', 'A==='],
    ['too much padding', 'AA==='],
    ['padding only', '===='],
    ['leading padding', '=AAA'],
    ['padding in the middle', 'AA==AA=='],
    ['URL-safe minus', 'AA-A'],
    ['URL-safe underscore', 'AA_A'],
    ['URL-safe alphabet for +/+/', '-_-_'],
    ['leading space', ' AA=='],
    ['trailing space', 'AA== '],
    ['inner space', 'AA ==',],
    ['inner newline', 'AA\n=='],
    ['trailing newline', 'AA==\n'],
    ['CRLF', 'AAAA\r\n'],
    ['tab', 'AA\t=='],
    ['fullwidth letters', '\uff21\uff21=='],
    ['percent-encoded padding', 'AA%3D%3D'],
    ['non-ASCII', 'AAÀ='],
  ];
  for (const [name, s] of rejected) {
    test(`rejects ${name} with MALFORMED`, () => throwsCode(() => decodeBase64Strict(s), 'MALFORMED', name));
  }

  test('decodeBase64Exact enforces the length', () => {
    assert.equal(decodeBase64Exact('AAAA', 3).length, 3);
    throwsCode(() => decodeBase64Exact('AAAA', 32), 'MALFORMED', '3 bytes for 32');
    throwsCode(() => decodeBase64Exact('AA==', 2), 'MALFORMED', '1 byte for 2');
    throwsCode(() => decodeBase64Exact('AB==', 1), 'MALFORMED', 'non-canonical, right length');
  });

  test('property: random bytes round-trip through encodeBase64', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (b) => {
        const s = encodeBase64(b);
        assert.equal(hex(decodeBase64Strict(s)), hex(b));
        assert.equal(hex(decodeBase64Exact(s, b.length)), hex(b));
      }),
      { numRuns: 500 },
    );
  });

  test('property: any string is rejected with MALFORMED or re-encodes to itself', () => {
    const str = fc.oneof(fc.string({ unit: 'binary', maxLength: 16 }), fc.stringMatching(/^[A-Za-z0-9+/=_\- ]{0,12}$/));
    fc.assert(
      fc.property(str, (s) => {
        const b = malformedOr(() => decodeBase64Strict(s));
        if (b !== undefined) assert.equal(encodeBase64(b), s);
      }),
      { numRuns: 1000 },
    );
  });

  test('encodeBase64 respects byteOffset of a subarray view', () => {
    const whole = Uint8Array.of(1, 2, 3, 4, 5, 6);
    assert.equal(encodeBase64(whole.subarray(2, 5)), Buffer.from([3, 4, 5]).toString('base64'));
  });
});

describe('decodeHexExact / encodeHex', () => {
  test('accepts lowercase hex of the exact length', () => {
    assert.equal(hex(decodeHexExact('00ff10', 3)), '00ff10');
  });
  const rejected: [string, string, number][] = [
    ['uppercase', '00FF10', 3],
    ['odd length', '00f', 2],
    ['too short', '00ff', 3],
    ['too long', '00ff1000', 3],
    ['non-hex', 'zz0000', 3],
    ['0x prefix', '0x00ff', 3],
    ['space', '00 ff1', 3],
  ];
  for (const [name, s, len] of rejected) {
    test(`rejects ${name} with MALFORMED`, () => throwsCode(() => decodeHexExact(s, len), 'MALFORMED', name));
  }
  test('property: random bytes round-trip', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (b) => hex(decodeHexExact(encodeHex(b), b.length)) === hex(b)), { numRuns: 300 });
  });
});

describe('bytesEqual', () => {
  test('equal contents in different containers are equal', () => {
    assert.equal(bytesEqual(Buffer.from([1, 2, 3]), Uint8Array.of(1, 2, 3)), true);
    assert.equal(bytesEqual(new Uint8Array(0), new Uint8Array(0)), true);
  });
  test('a length difference is unequal even when one is a prefix', () => {
    assert.equal(bytesEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2, 3)), false);
    assert.equal(bytesEqual(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2)), false);
  });
  test('property: flipping any single bit makes the arrays unequal', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.nat(), (b, r) => {
        const bit = r % (b.length * 8);
        const c = Uint8Array.from(b);
        c[bit >> 3] = (c[bit >> 3] as number) ^ (1 << (bit & 7));
        return bytesEqual(b, Uint8Array.from(b)) && !bytesEqual(b, c);
      }),
      { numRuns: 300 },
    );
  });
});
