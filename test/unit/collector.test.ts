/**
 * The collector's pure parts and its spool: entries (determinism, origins), configuration (strict, errors name the
 * option), backoff and retry hints, and the LevelDB spool (durability across reopen, acknowledgement, bounded
 * size with back-pressure, batch ids never reused).
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { auditEventEntry, lineEntry } from '../../clients/collector/entry.js';
import { buildConfig, ConfigError, expandEnv, parseConfigText } from '../../clients/collector/config.js';
import { Spool } from '../../clients/collector/spool.js';
import { backoffMs, parseRetryAfter } from '../../clients/collector/transport.js';
import { batchStatement, LEAF_DIGEST, PREDICATE_TYPE } from '../../clients/collector/attest.js';
import { mergeDocs } from '../../server/commands/collect.js';
import { REPO_ROOT } from '../support/server-process.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'tilelog-spool-'));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const LINE = '192.168.64.1 - - [07/Feb/2020:11:48:51 +0000] "POST /products HTTP/1.1" 200 59 "-" "curl/7.54.0" 89 0.001 [default-web-8080] [] 172.17.0.5:8080 59 0.000 200 529a007902362a5f51385a5fa7049884';
const rec = (offset: number, text = LINE) => ({ input: 'nginx', text, origin: { file: '/var/log/a.log', fileId: '1:2', offset } });

describe('collector entries', () => {
  it('are a function of (collector, input, origin, text): a re-read is the same entry, another offset another one', () => {
    const a = lineEntry('node-a', rec(0), 'auto');
    assert.deepEqual(lineEntry('node-a', rec(0), 'auto'), a);
    assert.notDeepEqual(lineEntry('node-a', rec(250), 'auto'), a, 'two equal lines at different offsets are two events');
    assert.notDeepEqual(lineEntry('node-b', rec(0), 'auto'), a);
    const e = JSON.parse(Buffer.from(a).toString()) as Record<string, unknown>;
    assert.equal(e['type'], 'collector.record/v1');
    assert.deepEqual(e['origin'], { file: '/var/log/a.log', fileId: '1:2', offset: 0 });
    assert.equal((e['event'] as { kind: string }).kind, 'access');
    assert.equal(e['text'], LINE);
  });

  it('property: any text gives a valid, deterministic entry of at most 65,535 bytes', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 20_000 }), fc.nat(), (text, offset) => {
        const a = lineEntry('c', rec(offset, text), 'auto');
        assert.ok(a.length <= 65_535);
        assert.deepEqual(lineEntry('c', rec(offset, text), 'auto'), a);
        const e = JSON.parse(Buffer.from(a).toString()) as { text: string };
        assert.equal(e.text, text);
      }),
      { numRuns: 300 },
    );
  });

  it('audit events: origin (auditID, stage); a resent event is the same entry', () => {
    const ev = { kind: 'Event', apiVersion: 'audit.k8s.io/v1', auditID: 'a-1', stage: 'ResponseComplete', verb: 'get', requestURI: '/api', user: { username: 'u' }, responseStatus: { code: 200 } };
    const one = auditEventEntry('c', 'webhook', ev, 'x');
    assert.deepEqual(one.origin, { auditID: 'a-1', stage: 'ResponseComplete' });
    assert.deepEqual(auditEventEntry('c', 'webhook', { ...ev }, 'x').entry, one.entry);
    assert.notDeepEqual(auditEventEntry('c', 'webhook', { ...ev, stage: 'RequestReceived' }, 'x').entry, one.entry);
    assert.throws(() => auditEventEntry('c', 'webhook', { kind: 'Event' }, 'items[3]'), /items\[3\]: auditID is required/);
  });

  it('the batch statement lists every leaf hash as a subject', () => {
    const batch = { id: '00000000000000a1', entries: [{ index: '7', leafHash: Buffer.alloc(32, 1).toString('base64'), duplicate: false }, { index: '9', leafHash: Buffer.alloc(32, 2).toString('base64'), duplicate: true }], inputs: { nginx: 2 }, from: '2026-01-01T00:00:00.000Z', to: '2026-01-01T00:00:01.000Z' };
    const s = batchStatement({ collector: 'c', node: 'n1', origin: 'example.com/log' }, batch) as { subject: { name: string; digest: Record<string, string> }[]; predicateType: string; predicate: Record<string, unknown> };
    assert.equal(s.predicateType, PREDICATE_TYPE);
    assert.deepEqual(s.subject.map((x) => [x.name, x.digest[LEAF_DIGEST]]), [['example.com/log/7', '01'.repeat(32)], ['example.com/log/9', '02'.repeat(32)]]);
    assert.equal(s.predicate['firstIndex'], '7');
    assert.equal(s.predicate['lastIndex'], '9');
    assert.equal(s.predicate['duplicates'], 1);
    assert.equal(s.predicate['node'], 'n1');
  });
});

describe('collector configuration', () => {
  const base = { log: { url: 'http://log:8080', grpc: 'log:8081', vkey: 'example.com/log+0c9ebb5d+AaJAK5+aUakTFoCAmnX4LXJVlmb8lJ2AnsT9BGiHwQ8R' }, spool: { dir: '/s' }, inputs: [{ name: 'a', type: 'file', paths: ['/x/*.log'] }] };

  it('fills defaults and derives the origin from the vkey', () => {
    const c = buildConfig(base, {});
    assert.equal(c.log.transport, 'grpc');
    assert.equal(c.log.origin, 'example.com/log');
    assert.equal(c.spool.maxBytes, 256 * 1024 * 1024);
    assert.equal(c.inputs[0]?.type, 'file');
  });

  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['unknown top-level key', { ...base, spoool: {} }, /^spoool: unknown option/],
    ['unknown input key', { ...base, inputs: [{ name: 'a', type: 'file', paths: ['/x'], formatt: 'auto' }] }, /^inputs\[0\]\.formatt: unknown option/],
    ['bad format', { ...base, inputs: [{ name: 'a', type: 'file', paths: ['/x'], format: 'apache' }] }, /^inputs\[0\]\.format: unknown format "apache"/],
    ['bad size', { ...base, spool: { dir: '/s', maxBytes: '12 parsecs' } }, /^spool\.maxBytes: invalid size/],
    ['missing vkey with receipts', { ...base, log: { url: 'http://log:8080' } }, /^log\.vkey: required to check receipts/],
    ['grpc transport without address', { ...base, log: { ...base.log, grpc: undefined, transport: 'grpc' } }, /^log\.grpc: required/],
    ['duplicate input names', { ...base, inputs: [{ name: 'a', type: 'stdin' }, { name: 'a', type: 'file', paths: ['/y'] }] }, /^inputs\[1\]\.name: a is used twice/],
    ['no inputs', { ...base, inputs: [] }, /^inputs: at least one input/],
    ['bad url', { ...base, log: { ...base.log, url: 'ftp://x' } }, /^log\.url:/],
    ['bad vkey', { ...base, log: { ...base.log, vkey: 'nope' } }, /^log\.vkey:/],
    ['webhook without listen', { ...base, inputs: [{ name: 'w', type: 'audit-webhook' }] }, /^inputs\[0\]\.listen: required/],
  ];
  for (const [what, doc, re] of bad) {
    it(`rejects ${what}, naming the option`, () => {
      assert.throws(() => buildConfig(doc, {}), (e: unknown) => e instanceof ConfigError && re.test(e.message));
    });
  }

  it('expands ${VAR} and ${VAR:-default}; an unset variable is an error naming the key', () => {
    const doc = parseConfigText('name: ${NODE_NAME}\nnode: ${X:-dflt}\n', 'c.yaml');
    assert.deepEqual(expandEnv(doc, { NODE_NAME: 'n1' }), { name: 'n1', node: 'dflt' });
    assert.throws(() => expandEnv(doc, {}), /name: environment variable NODE_NAME is not set/);
    assert.throws(() => parseConfigText('a: [', 'c.yaml'), /c\.yaml:/);
  });

  it('deploy/config/collector.example.yaml is a valid configuration documenting every key', () => {
    const text = readFileSync(join(REPO_ROOT, 'deploy', 'config', 'collector.example.yaml'), 'utf8');
    const doc = expandEnv(parseConfigText(text, 'collector.example.yaml'), { NODE_NAME: 'node-1', TILELOG_VKEY: base.log.vkey }) as Record<string, unknown>;
    const c = buildConfig(doc, {});
    assert.deepEqual(c.inputs.map((i) => i.type), ['file', 'audit-log', 'audit-webhook']);
    for (const key of ['name', 'node', 'log', 'spool', 'signing', 'batch', 'metrics', 'receiptInterval', 'attestConcurrency', 'once', 'logLevel', 'inputs']) assert.ok(key in doc, key);
  });

  it('flags override the file key by key; flag inputs are added to the file inputs', () => {
    const merged = mergeDocs(base, { log: { vkey: undefined, transport: 'http' }, inputs: [{ name: 'stdin', type: 'stdin' }] });
    const c = buildConfig(merged, {});
    assert.equal(c.log.transport, 'http');
    assert.equal(c.log.grpc, 'log:8081');
    assert.deepEqual(c.inputs.map((i) => i.name), ['a', 'stdin']);
  });
});

describe('retries', () => {
  it('backoff grows exponentially with jitter, is capped, and never undercuts the server hint', () => {
    const lo = () => 0;
    const hi = () => 0.999999;
    assert.equal(backoffMs(0, undefined, 200, 30_000, lo), 100);
    assert.ok(backoffMs(3, undefined, 200, 30_000, hi) <= 1600 && backoffMs(3, undefined, 200, 30_000, lo) >= 800);
    assert.ok(backoffMs(50, undefined, 200, 30_000, hi) <= 30_000);
    assert.equal(backoffMs(0, 5000, 200, 30_000, hi), 5000);
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    assert.equal(parseRetryAfter('3'), 3000);
    assert.equal(parseRetryAfter(null), undefined);
    assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT')), 10_000);
    assert.equal(parseRetryAfter('soon'), undefined);
  });
});

describe('spool', () => {
  const entries = (n: number, tag: string) => Array.from({ length: n }, (_, i) => ({ input: 'in', entry: Buffer.from(`${tag}-${i}`) }));

  it('keeps records and positions across reopen; acknowledged ones leave atomically with their batch', async () => {
    const dir = tmp();
    let s = await Spool.open({ dir, maxBytes: 1 << 20 });
    await s.append(entries(3, 'a'), [{ input: 'in', fileId: '1:2', file: 'f', offset: 30 }]);
    await s.append(entries(2, 'b'), [{ input: 'in', fileId: '1:2', file: 'f', offset: 50 }]);
    await s.close();
    s = await Spool.open({ dir, maxBytes: 1 << 20 });
    assert.equal(s.size.records, 5);
    assert.deepEqual(s.positions(), [{ input: 'in', fileId: '1:2', file: 'f', offset: 50 }]);
    const chunks = await s.read(undefined, 3);
    assert.equal(chunks.length, 1, 'a chunk is never split, and the next would exceed 3 records');
    assert.deepEqual(chunks[0]?.entries.map((e) => Buffer.from(e).toString()), ['a-0', 'a-1', 'a-2']);
    const batch = await s.acknowledge(chunks, [0, 1, 2].map((i) => ({ index: String(i), leafHash: 'x', duplicate: false })));
    assert.equal(batch.id, '0000000000000000');
    await s.close();
    s = await Spool.open({ dir, maxBytes: 1 << 20 });
    assert.equal(s.size.records, 2);
    assert.deepEqual((await s.read(undefined, 100)).flatMap((c) => c.entries.map((e) => Buffer.from(e).toString())), ['b-0', 'b-1']);
    assert.deepEqual((await s.batches()).map((b) => b.id), ['0000000000000000']);
    await s.finishBatch(batch.id);
    const next = await s.acknowledge(await s.read(undefined, 100), [0, 1].map((i) => ({ index: String(i), leafHash: 'x', duplicate: false })));
    assert.equal(next.id, '0000000000000001', 'batch ids are never reused, even after every batch finished');
    await s.close();
  });

  it('is bounded: an append waits while the spool is full and proceeds once records are acknowledged', async () => {
    const dir = tmp();
    const s = await Spool.open({ dir, maxBytes: 100 });
    const events: boolean[] = [];
    s.onFull = (f) => events.push(f);
    await s.append([{ input: 'in', entry: Buffer.alloc(200) }], []);
    assert.ok(s.full);
    let done = false;
    const waiting = s.append(entries(1, 'late'), []).then(() => {
      done = true;
    });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(done, false, 'back-pressure: the append waits');
    await s.acknowledge(await s.read(undefined, 1), [{ index: '0', leafHash: 'x', duplicate: false }]);
    await waiting;
    assert.equal(done, true);
    assert.deepEqual(events, [true, false]);
    await s.close();
  });
});
