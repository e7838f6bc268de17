/** Self-checks of the benchmark's helpers (fast; runs with `npm test`): entry sizes and uniqueness, statistics. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EntryFactory } from './entries.js';
import { median, quantile } from './stats.js';

test('batch bodies hold n unique JSON strings whose canonical form is exactly entryBytes bytes', () => {
  const f = new EntryFactory();
  for (const format of ['json', 'ndjson'] as const) {
    const body = f.batchBody(format, 50, 256).toString('utf8');
    const values: unknown[] = format === 'json' ? (JSON.parse(body) as unknown[]) : body.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown);
    assert.equal(values.length, 50);
    for (const v of values) {
      assert.equal(typeof v, 'string');
      assert.equal(Buffer.byteLength(JSON.stringify(v)), 256); // RFC 8785 form of an ASCII string without escapes
    }
    assert.equal(new Set(values).size, 50);
  }
});

test('octet-stream entries are entryBytes long and unique', () => {
  const f = new EntryFactory();
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const e = f.octet(256);
    assert.equal(e.length, 256);
    seen.add(e.toString('hex'));
  }
  assert.equal(seen.size, 1000);
  assert.equal(f.produced, 1000);
});

test('octet batches (gRPC entries) are n unique entries of entryBytes bytes', () => {
  const f = new EntryFactory();
  const a = f.octetBatch(500, 256);
  const b = f.octetBatch(500, 256);
  const all = [...a, ...b];
  assert.equal(all.length, 1000);
  for (const e of all) assert.equal(e.length, 256);
  assert.equal(new Set(all.map((e) => e.toString('hex'))).size, 1000);
  assert.equal(f.produced, 1000);
});

test('quantiles interpolate between closest ranks', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([1, 2, 3, 4]), 2.5);
  assert.equal(quantile([0, 10], 0.99), 9.9);
  assert.ok(Number.isNaN(median([])));
});
