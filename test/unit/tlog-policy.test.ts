/**
 * c2sp.org/tlog-policy: the one parser (server/core/policy.ts, re-exported by clients/tlog). The cases of the two
 * former parsers' tests, merged: the spec's example (two levels of groups) parses and evaluates as the spec says;
 * every syntax rule is enforced (MALFORMED with the line number); bytes are opaque octets; thresholdPolicy (the
 * `serve --witness` form, with URLs) and simplePolicy (bare vkeys); format → parse round trip.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TlogError, formatTlogPolicy, parseTlogPolicy, quorumSatisfied, simplePolicy, MAX_POLICY_LINES } from '../../clients/tlog/index.js';
import { newCosigner } from '../../server/core/cosignature.js';
import { newEd25519Signer } from '../../server/core/keys.js';
import * as core from '../../server/core/policy.js';
import { thresholdPolicy } from '../../server/core/policy.js';

const seed = (i: number) => new Uint8Array(32).fill(i);
const log = newEd25519Signer('example.com/log', seed(1));
const w = [1, 2, 3, 4].map((i) => newCosigner(`witness${i}.example`, seed(10 + i)));
const [a, b, c] = w.map((x) => x.vkey) as [string, string, string];
const isCode = (code: string) => (e: unknown) => e instanceof TlogError && e.code === code;

describe('tlog-policy', () => {
  test('clients/tlog re-exports the core implementation', () => {
    assert.equal(parseTlogPolicy, core.parseTlogPolicy);
    assert.equal(simplePolicy, core.simplePolicy);
  });

  test("the spec's example: two levels of groups, any/all/k", () => {
    const keys = Array.from({ length: 6 }, (_, i) => newCosigner(`w${i}`, seed(40 + i)).vkey);
    const p = parseTlogPolicy(`# example
log ${log.vkey} https://log.example/
\twitness X1 ${keys[0]}
witness X2 ${keys[1]}   https://x2.example/
witness X3 ${keys[2]}
group X-witnesses 2 X1 X2 X3

witness Y1 ${keys[3]}
witness Y2 ${keys[4]}
witness Y3 ${keys[5]}
group Y-witnesses any Y1 Y2 Y3
  # indented comment
group X-and-Y all X-witnesses Y-witnesses
quorum X-and-Y
`);
    assert.equal(p.logs.length, 1);
    assert.equal(p.logs[0]?.url, 'https://log.example/');
    assert.equal(p.witnesses.length, 6);
    assert.equal(p.witnesses[1]?.url, 'https://x2.example/');
    const ok = (names: string[]) => quorumSatisfied(p.quorum, new Set(names));
    assert.equal(ok(['X1', 'X2', 'Y3']), true);
    assert.equal(ok(['X1', 'Y1', 'Y2', 'Y3']), false);
    assert.equal(ok(['X1', 'X2', 'X3']), false);
    assert.equal(ok([]), false);
    // format → parse round trip keeps the meaning
    const again = parseTlogPolicy(formatTlogPolicy(p));
    for (const names of [['X1', 'X2', 'Y3'], ['X1', 'Y1'], ['X2', 'X3', 'Y2']]) assert.equal(quorumSatisfied(again.quorum, new Set(names)), ok(names));
    assert.equal(parseTlogPolicy('quorum none\n').quorum, null);
  });

  test('nested groups, trailing whitespace, URLs, a quorum naming a witness, no final newline', () => {
    const p = parseTlogPolicy(`# comment\n  log ${log.vkey} https://log.example\n\nwitness X1 ${a}\n\twitness X2 ${b} https://w2.example/\nwitness Y1 ${c}\ngroup X 2 X1 X2\ngroup Y any Y1\ngroup XY all X Y  \nquorum XY\n`);
    assert.equal(p.logs.length, 1);
    assert.equal(p.logs[0]?.url, 'https://log.example');
    assert.deepEqual(p.witnesses.map((x) => [x.name, x.url]), [['X1', undefined], ['X2', 'https://w2.example/'], ['Y1', undefined]]);
    assert.equal(quorumSatisfied(p.quorum, new Set(['X1', 'X2', 'Y1'])), true);
    assert.equal(quorumSatisfied(p.quorum, new Set(['X1', 'Y1'])), false);
    assert.equal(quorumSatisfied(p.quorum, new Set(['X1', 'X2'])), false);
    assert.equal(quorumSatisfied(null, new Set()), true);
    assert.equal(quorumSatisfied(parseTlogPolicy(`witness w ${a}\nquorum w`).quorum, new Set(['w'])), true);
  });

  test('syntax rules are enforced (MALFORMED, with the line number)', () => {
    const bad = [
      '', // no quorum
      `witness w ${a}\n`, // no quorum
      'quorum none\nquorum none\n',
      `witness w ${a}\nquorum w\nquorum w\n`, // two quorums
      `witness A ${a}\nquorum B\n`, // undefined
      `quorum A\nwitness A ${a}\n`, // defined later
      `witness A ${a}\nwitness A ${b}\nquorum A\n`, // name twice
      `witness A ${a}\ngroup A any A\nquorum A\n`, // a group named like a witness
      `witness none ${a}\nquorum none\n`, // reserved name
      `witness A ${a}\ngroup none any A\nquorum A\n`, // reserved name for a group
      `witness A ${a}\nwitness B ${a}\nquorum A\n`, // duplicate key
      `witness A ${a}\nwitness B ${newCosigner('other-name', seed(11)).vkey}\nquorum A\n`, // same key, other name: duplicate
      `witness A ${a}\nwitness B ${b}\ngroup G 3 A B\nquorum G\n`, // k > n
      `witness A ${a}\ngroup G 2 A\nquorum G\n`, // k > n
      `witness A ${a}\ngroup G 0 A\nquorum G\n`, // k < 1
      `witness A ${a}\ngroup G 01 A\nquorum G\n`, // not canonical decimal
      `witness A ${a}\ngroup G +1 A\nquorum G\n`,
      `witness A ${a}\ngroup G ALL A\nquorum G\n`,
      `witness A ${a}\ngroup G any A A\nquorum G\n`, // member twice
      `witness A ${a}\ngroup G any none\nquorum G\n`, // none as a member
      `witness A ${a}\ngroup G any\nquorum G\n`, // no members
      `witness A ${log.vkey}\nquorum A\n`, // a log key as witness key
      `log ${a}\nquorum none\n`, // a witness key as log key
      `log ${log.vkey}\nlog ${log.vkey}\nquorum none\n`, // duplicate log
      `log ${log.vkey}\nlog ${newEd25519Signer('other.example/log', seed(1)).vkey}\nquorum none\n`, // same log key, other name
      'log\nquorum none\n',
      `log ${log.vkey} https://x extra\nquorum none\n`,
      'frobnicate x\nquorum none\n', // unknown keyword
      `witness w ${a}\nquorum w\nfrobnicate\n`,
      'Quorum none\n', // keywords are case-sensitive
      'quorum none extra\n',
      'quorum\n',
      'quorum none\r\n', // control character
      `witness w ${a}\r\nquorum w\n`,
      'quorum none\n\x00',
      'quorum none\n\x7f',
      'quorum none\v\n',
      `witness A ${a} url extra\nquorum A\n`, // too many fields
      `witness A\nquorum none\n`,
      'quorum none\n' + '#\n'.repeat(MAX_POLICY_LINES), // too many lines
    ];
    for (const s of bad) assert.throws(() => parseTlogPolicy(s), isCode('MALFORMED'), JSON.stringify(s));
    assert.throws(() => parseTlogPolicy(`witness A ${a}\nquorum B\n`), /line 2/);
    assert.throws(() => parseTlogPolicy(`\n\nwitness A ${log.vkey}\nquorum A\n`), /line 3/);
  });

  test('whitespace is ASCII space and tab only; non-ASCII octets are opaque (names, URLs, comments)', () => {
    // A no-break space is not whitespace: "A\u00a0" is a different name from "A".
    assert.throws(() => parseTlogPolicy(`witness A\u00a0 ${a}\nquorum A\n`), isCode('MALFORMED'));
    assert.equal(parseTlogPolicy(`witness A\u00a0 ${a}\nquorum A\u00a0\n`).witnesses[0]?.name, 'A\u00a0');
    // Bytes: "K" and the Kelvin sign (E2 84 AA) are different names; a 0x80-0xFF octet is allowed anywhere.
    const bytes = Buffer.concat([Buffer.from(`# caf\xc3\xa9\nwitness K ${a}\nwitness `), Buffer.from([0xe2, 0x84, 0xaa]), Buffer.from(` ${b} https://w.example/\xff\ngroup g all K `), Buffer.from([0xe2, 0x84, 0xaa]), Buffer.from('\nquorum g\n')]);
    const p = parseTlogPolicy(new Uint8Array(bytes));
    assert.equal(p.witnesses.length, 2);
    assert.notEqual(p.witnesses[0]?.name, p.witnesses[1]?.name);
    assert.equal(quorumSatisfied(p.quorum, new Set(['K'])), false);
    assert.throws(() => parseTlogPolicy(new Uint8Array(Buffer.from('quorum none\r\n'))), isCode('MALFORMED'));
  });

  test('a log and a witness may share a public key (the spec forbids duplicate logs, and duplicate witnesses)', () => {
    const cosigner = newCosigner('example.com/log', seed(1)); // the log's Ed25519 key as a cosignature/v1 key
    const p = parseTlogPolicy(`log ${log.vkey}\nwitness self ${cosigner.vkey}\nquorum self\n`);
    assert.equal(p.logs.length, 1);
    assert.equal(p.witnesses.length, 1);
  });

  test('simplePolicy: k of n witnesses', () => {
    const p = simplePolicy([w[0]!.vkey, w[1]!.vkey, w[2]!.vkey], 2, [log.vkey]);
    assert.equal(p.logs.length, 1);
    assert.deepEqual(p.witnesses.map((x) => x.name), ['witness1.example', 'witness2.example', 'witness3.example']);
    assert.equal(quorumSatisfied(p.quorum, new Set(['witness1.example', 'witness3.example'])), true);
    assert.equal(quorumSatisfied(p.quorum, new Set(['witness2.example'])), false);
    assert.equal(simplePolicy([w[0]!.vkey], 0).quorum, null);
    assert.throws(() => simplePolicy([w[0]!.vkey], 2), isCode('MALFORMED'));
    assert.throws(() => simplePolicy([w[0]!.vkey, w[0]!.vkey], 1), isCode('MALFORMED'));
    // Shared key names get #<i>; the names "none" and "quorum" cannot clash.
    const same = [newCosigner('none', seed(30)).vkey, newCosigner('quorum', seed(31)).vkey, newCosigner('quorum', seed(32)).vkey, newCosigner('quorum#1', seed(33)).vkey];
    const q = simplePolicy(same, 4);
    assert.deepEqual(q.witnesses.map((x) => x.name), ['none#0', 'quorum#1', 'quorum#2', 'quorum#1#']);
    assert.equal(quorumSatisfied(q.quorum, new Set(['none#0', 'quorum#1', 'quorum#2', 'quorum#1#'])), true);
    assert.equal(quorumSatisfied(q.quorum, new Set(['none#0', 'quorum#1', 'quorum#2'])), false);
  });

  test('thresholdPolicy: named witnesses with URLs (serve --witness NAME=URL=VKEY --witness-quorum K)', () => {
    const ws = w.slice(0, 3).map((x, i) => ({ name: `w${i}`, vkey: x.vkey, url: `http://w${i}.example/` }));
    const p = thresholdPolicy(ws, 2);
    assert.deepEqual(p.witnesses, ws);
    assert.equal(quorumSatisfied(p.quorum, new Set(['w0'])), false);
    assert.equal(quorumSatisfied(p.quorum, new Set(['w0', 'w2'])), true);
    assert.equal(thresholdPolicy(ws, 0).quorum, null);
    assert.equal(thresholdPolicy([], 0).quorum, null);
    // A witness named like the group.
    const named = thresholdPolicy([{ name: 'quorum', vkey: a }, { name: 'x', vkey: b }], 2);
    assert.equal(quorumSatisfied(named.quorum, new Set(['quorum', 'x'])), true);
    assert.equal(quorumSatisfied(named.quorum, new Set(['quorum'])), false);
    assert.throws(() => thresholdPolicy(ws, 4), isCode('MALFORMED'));
    assert.throws(() => thresholdPolicy(ws, -1), isCode('MALFORMED'));
    assert.throws(() => thresholdPolicy(ws, 1.5), isCode('MALFORMED'));
    assert.throws(() => thresholdPolicy([ws[0]!, ws[0]!], 1), isCode('MALFORMED')); // same name and key
    assert.throws(() => thresholdPolicy([ws[0]!, { ...ws[1]!, name: 'w0' }], 1), isCode('MALFORMED')); // same name
    assert.throws(() => thresholdPolicy([ws[0]!, { ...ws[1]!, vkey: a }], 1), isCode('MALFORMED')); // same key
    for (const bad of [{ name: 'a b', vkey: a }, { name: '', vkey: a }, { name: 'none', vkey: a }, { name: 'x', vkey: a, url: 'http://x/ y' }, { name: 'x', vkey: log.vkey }, { name: 'x\r', vkey: a }]) {
      assert.throws(() => thresholdPolicy([bad], 1), isCode('MALFORMED'), JSON.stringify(bad));
    }
  });
});
