/**
 * server/ingest/canonical.ts against the `canonicalize` package (the RFC 8785 authors' reference implementation):
 * the same text for arbitrary JSON values, and the RFC's own examples.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import canonicalizeModule from 'canonicalize';
import fc from 'fast-check';
import { canonicalBytes, canonicalJson } from '../../server/ingest/canonical.js';

const reference = canonicalizeModule as unknown as (v: unknown) => string | undefined;

describe('RFC 8785 canonical JSON', () => {
  it('agrees with the reference implementation on arbitrary JSON values', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        assert.equal(canonicalJson(v), reference(v));
      }),
      { numRuns: 3000 },
    );
  });

  it('agrees on values parsed from arbitrary JSON text (numbers, escapes, unicode keys)', () => {
    fc.assert(
      fc.property(fc.json(), (text) => {
        const v: unknown = JSON.parse(text);
        assert.equal(canonicalJson(v), reference(v));
      }),
      { numRuns: 3000 },
    );
  });

  it('RFC 8785 §3.2.3 sorting and §3.2.2.3 numbers', () => {
    // Appendix examples: property names sorted by UTF-16 code units; numbers in ES6 shortest form.
    const v = JSON.parse('{"\\u20ac":"Euro Sign","\\r":"Carriage Return","\\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\\ud83d\\ude00":"Emoji: Grinning Face","\\u0080":"Control","\\u00f6":"Latin Small Letter O With Diaeresis"}');
    assert.equal(canonicalJson(v), '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}');
    assert.equal(canonicalJson([1e21, 1e-7, -0, 0.000001, 333333333.3333333, 4.5e-324]), '[1e+21,1e-7,0,0.000001,333333333.3333333,5e-324]');
  });

  it('rejects values with no canonical form as MALFORMED', () => {
    assert.throws(() => canonicalBytes(Infinity, 'x'), /MALFORMED|cannot be canonicalized/);
    assert.throws(() => canonicalBytes(undefined, 'x'), /not a JSON value/);
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    assert.throws(() => canonicalBytes(deep, 'x'), /nested too deeply/);
  });
});
