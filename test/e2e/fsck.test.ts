/**
 * `tilelog fsck`: a log written by a real server passes; each kind of damage (one tile byte, one bundle entry,
 * one index row, a deleted tile, an extra index row, a tampered checkpoint) is reported precisely, exit 1.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Level } from 'level';
import { leafHash } from '../../server/core/hash.js';
import { encodeHex } from '../../server/core/strict.js';
import { CHECKPOINT_KEY, encodeU64, leafHashKey, tileKey } from '../../server/storage/keys.js';
import { cleanupAll, newDataDir, REPO_ROOT, startServer, TILELOG_BIN } from '../support/server-process.js';

const ENTRIES = 600; // bundles 000, 001 (full), 002.p/88; level-1 tile 000.p/2
let clean = '';

function entryBytes(i: number): Buffer {
  return Buffer.from(JSON.stringify({ n: i, pad: 'x'.repeat(i % 17) }));
}

function fsck(dir: string, ...extra: string[]): { status: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [TILELOG_BIN, 'fsck', '--data', dir, ...extra], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

/** A copy of the clean log, damaged by `damage`. */
async function damaged(damage: (db: Level<Uint8Array, Uint8Array>) => Promise<void>): Promise<string> {
  const dir = newDataDir('tilelog-fsck-');
  cpSync(clean, dir, { recursive: true });
  const db = new Level<Uint8Array, Uint8Array>(join(dir, 'leveldb'), { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  try {
    await damage(db);
  } finally {
    await db.close();
  }
  return dir;
}

const problems = (out: string): string[] => out.split('\n').filter((l) => l.startsWith('CORRUPT '));

describe('tilelog fsck', () => {
  before(async () => {
    const server = await startServer({ checkpointInterval: '100ms' });
    const body = Array.from({ length: ENTRIES - 2 }, (_, i) => entryBytes(i).toString()).join('\n');
    const r = await fetch(`${server.baseUrl}/v1/entries?wait=published`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body, signal: AbortSignal.timeout(20_000) });
    assert.equal(r.status, 200, await r.text());
    // Two Kubernetes audit events: their identity rows are legitimate index rows.
    const events = { kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: ['a1', 'a2'].map((auditID) => ({ level: 'Metadata', auditID, stage: 'ResponseComplete', requestURI: '/apis/networking.k8s.io/v1/namespaces/default/ingresses', verb: 'create', user: { username: 'admin' }, objectRef: { resource: 'ingresses', namespace: 'default', name: auditID, apiGroup: 'networking.k8s.io', apiVersion: 'v1' }, responseStatus: { code: 201 }, requestReceivedTimestamp: '2026-11-25T10:00:00.000000Z', stageTimestamp: '2026-11-25T10:00:00.100000Z' })) };
    const a = await fetch(`${server.baseUrl}/v1/k8s/audit`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events), signal: AbortSignal.timeout(20_000) });
    assert.equal(a.status, 200, await a.text());
    await server.stop();
    clean = server.dataDir;
  });
  after(cleanupAll);

  test('a clean log passes (exit 0), with identity rows counted', () => {
    const r = fsck(clean);
    assert.equal(r.status, 0, r.out + r.err);
    assert.match(r.out, /checkpoint size 600, tree size 600/);
    assert.match(r.out, /602 index rows/);
    assert.match(r.out, /^ok: the log is consistent$/m);
    const json = fsck(clean, '--json');
    assert.equal(json.status, 0);
    const report = JSON.parse(json.out) as { problems: unknown[]; treeSize: string };
    assert.deepEqual(report.problems, []);
    assert.equal(report.treeSize, '600');
  });

  test('one flipped byte in a hash tile: that tile, that hash, expected vs found', async () => {
    let before = '';
    const dir = await damaged(async (db) => {
      const k = tileKey({ kind: 'hash', level: 0, index: 1n, width: 256 });
      const t = Buffer.from((await db.get(k)) as Uint8Array);
      before = encodeHex(t.subarray(7 * 32, 8 * 32));
      t[7 * 32 + 5] = (t[7 * 32 + 5] as number) ^ 0x01;
      await db.put(k, t);
    });
    const r = fsck(dir);
    assert.equal(r.status, 1, r.out + r.err);
    const p = problems(r.out);
    assert.equal(p.length, 1, r.out);
    assert.match(p[0] as string, /^CORRUPT tile\/0\/001: 1 of 256 hashes differ .* the first is hash 7; expected ([0-9a-f]{64}); found ([0-9a-f]{64})$/);
    assert.ok((p[0] as string).includes(`expected ${before}`), r.out);
  });

  test('one changed entry in a bundle: that bundle, that entry, reported once (no cascade)', async () => {
    const dir = await damaged(async (db) => {
      const k = tileKey({ kind: 'entries', level: 0, index: 1n, width: 256 });
      const b = Buffer.from((await db.get(k)) as Uint8Array);
      // entry 0 of bundle 1 starts after its 2-byte length; change one byte of it ('{"n":256…' → '{"n":356…').
      b[2 + 5] = 0x33;
      await db.put(k, b);
    });
    const r = fsck(dir);
    assert.equal(r.status, 1, r.out + r.err);
    const p = problems(r.out);
    assert.equal(p.length, 1, r.out);
    assert.match(p[0] as string, /^CORRUPT tile\/entries\/001: entry 0 \(index 256\) is not the entry the tree commits to/);
    assert.ok((p[0] as string).includes(`expected leaf hash ${encodeHex(leafHash(entryBytes(256)))}`), r.out);
  });

  test('one changed entry in the partial bundle at the right edge: that bundle, that entry, once', async () => {
    const dir = await damaged(async (db) => {
      const k = tileKey({ kind: 'entries', level: 0, index: 2n, width: 88 });
      const b = Buffer.from((await db.get(k)) as Uint8Array);
      b[2 + 5] = 0x39; // entry 512: '{"n":512…' → '{"n":912…'
      await db.put(k, b);
    });
    const r = fsck(dir);
    assert.equal(r.status, 1, r.out + r.err);
    const p = problems(r.out);
    assert.equal(p.length, 1, r.out);
    assert.match(p[0] as string, /^CORRUPT tile\/entries\/002\.p\/88: entry 0 \(index 512\) is not the entry the tree commits to \(tile\/0\/002\.p\/88 hash 0, which the stored tree root confirms\)/);
  });

  test('a truncated bundle: does not decode, named', async () => {
    const dir = await damaged(async (db) => {
      const k = tileKey({ kind: 'entries', level: 0, index: 0n, width: 256 });
      const b = (await db.get(k)) as Uint8Array;
      await db.put(k, b.subarray(0, b.length - 3));
    });
    const r = fsck(dir);
    assert.equal(r.status, 1, r.out + r.err);
    const p = problems(r.out);
    assert.equal(p.length, 1, r.out);
    assert.match(p[0] as string, /^CORRUPT tile\/entries\/000: does not decode: entry bundle: truncated entry$/);
  });

  test('one index row pointing elsewhere: that row, expected vs found', async () => {
    const h = leafHash(entryBytes(10));
    const dir = await damaged(async (db) => db.put(leafHashKey(h), encodeU64(11n)));
    const r = fsck(dir);
    assert.equal(r.status, 1, r.out + r.err);
    const p = problems(r.out);
    assert.ok(p.includes(`CORRUPT index h/${encodeHex(h)}: row of entry 10 names another index; expected 10; found 11`), r.out);
    assert.ok(p.every((l) => l.includes(`index h/${encodeHex(h)}`)), r.out);
  });

  test('a missing and an extra index row are both named', async () => {
    const gone = leafHash(entryBytes(20));
    const extra = leafHash(Buffer.from('never logged'));
    const dir = await damaged(async (db) => {
      await db.del(leafHashKey(gone));
      await db.put(leafHashKey(extra), encodeU64(3n));
    });
    const p = problems(fsck(dir).out);
    assert.ok(p.includes(`CORRUPT index h/${encodeHex(gone)}: row of entry 20 is missing; expected 20`), p.join('\n'));
    assert.ok(p.some((l) => l.startsWith(`CORRUPT index h/${encodeHex(extra)}: extra row`) && l.includes('found 3 (whose leaf hash is')), p.join('\n'));
    assert.equal(p.length, 2, p.join('\n'));
  });

  test('a deleted tile: named as missing', async () => {
    const dir = await damaged(async (db) => db.del(tileKey({ kind: 'hash', level: 1, index: 0n, width: 2 })));
    const r = fsck(dir);
    assert.equal(r.status, 1, r.out + r.err);
    assert.deepEqual(problems(r.out), ['CORRUPT tile/1/000.p/2: is missing']);
  });

  test('a tile beyond the tree and a tampered checkpoint are named', async () => {
    const dir = await damaged(async (db) => {
      await db.put(tileKey({ kind: 'hash', level: 0, index: 9n, width: 256 }), new Uint8Array(32));
      const cp = Buffer.from((await db.get(CHECKPOINT_KEY)) as Uint8Array).toString('utf8');
      await db.put(CHECKPOINT_KEY, Buffer.from(cp.replace('\n600\n', '\n599\n')));
    });
    const p = problems(fsck(dir).out);
    assert.ok(p.includes('CORRUPT tile/0/009: tile lies beyond the tree (size 600)'), p.join('\n'));
    assert.ok(p.some((l) => l.startsWith('CORRUPT checkpoint: does not verify')), p.join('\n'));
  });

  test('exit 2 when it cannot check: no database, wrong key', () => {
    const r = fsck(newDataDir('tilelog-fsck-empty-'));
    assert.equal(r.status, 2, r.out + r.err);
    const wrongKey = fsck(clean, '--vkey', 'other+12345678+AYn7mOvHpgtbPu3xmz7YjLIr1O39yxoXsvkNRbAXqGeS');
    assert.ok(wrongKey.status === 1 || wrongKey.status === 2, wrongKey.out + wrongKey.err);
  });
});
