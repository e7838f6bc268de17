/**
 * The explorer's browser-side verification code (ui/lib, WebCrypto; Node ≥ 20 has the same API) checked against
 * the server's core (node:crypto): hashes, proofs from tiles, RFC 9162 verification, vkeys, signed checkpoints
 * with cosignatures, and the tile verifier on an honest and on a tampered tile store.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { newEd25519Signer } from '../../server/core/keys.js';
import { newCosigner } from '../../server/core/cosignature.js';
import { signCheckpoint } from '../../server/core/checkpoint.js';
import { consistencyProof, inclusionProof } from '../../server/core/tile-proof.js';
import { parseTilePath } from '../../server/core/tile.js';
import { entryBundlePrefixLength } from '../../server/core/entry-bundle.js';
import { formatTlogProof } from '../../server/core/tlog-proof.js';
import { leafHash as coreLeafHash } from '../../server/core/hash.js';
import { fromBase64, toBase64, toHex } from '../../ui/lib/bytes.js';
import { leafHash, rootFromInclusionProof, verifyConsistency } from '../../ui/lib/merkle.js';
import { ed25519Supported, parseVkey, verifyCheckpoint } from '../../ui/lib/note.js';
import { parseTlogProof } from '../../ui/lib/tlog-proof.js';
import { TileVerifier, VerificationError } from '../../ui/lib/verifier.js';
import { eventRow } from '../../ui/lib/events.js';
import { makeEntry, TileStore } from '../support/reference-tree.js';

function storeOf(n: number): TileStore {
  const s = new TileStore();
  const entries = Array.from({ length: n }, (_, i) => makeEntry(i));
  for (let i = 0; i < n; i += 100) s.append(entries.slice(i, i + 100));
  return s;
}

/** A fetcher serving a TileStore like tlog-tiles does (exact widths); `tamper` may change bytes. */
function fetcherOf(s: TileStore, tamper?: (path: string, b: Uint8Array) => Uint8Array) {
  return async (path: string): Promise<Uint8Array> => {
    const t = parseTilePath(path);
    const d = s.get(t);
    if (d === undefined) throw new Error(`404 ${path}`);
    const out = new Uint8Array(t.kind === 'hash' ? d.subarray(0, t.width * 32) : d.subarray(0, entryBundlePrefixLength(d, t.width)));
    return tamper === undefined ? out : tamper(path, out);
  };
}

test('base64 round trip is strict', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 70 }), (b) => {
    assert.equal(toBase64(b), Buffer.from(b).toString('base64'));
    assert.deepEqual(fromBase64(toBase64(b)), b);
  }));
  assert.throws(() => fromBase64('AB=='), /canonical/); // non-zero padding bits
  assert.throws(() => fromBase64('A B='));
});

test('WebCrypto Ed25519 is available to the self-test', async () => {
  assert.equal(await ed25519Supported(), true);
});

test('inclusion and consistency proofs verify like the server core computes them', async () => {
  const s = storeOf(700);
  // The store's roots exist only at append boundaries: check those sizes, and arbitrary indexes within them.
  for (const [n, root] of s.roots) {
    for (const i of [0n, n / 2n, n - 1n]) {
      const proof = await inclusionProof(i, n, s.reader);
      const got = await rootFromInclusionProof(i, n, await leafHash(makeEntry(Number(i))), proof);
      assert.equal(toHex(got!), toHex(root), `inclusion ${i} in ${n}`);
      const bad = await rootFromInclusionProof(i, n, await leafHash(makeEntry(Number(i) + 1)), proof);
      assert.notEqual(toHex(bad!), toHex(root));
    }
    for (const [m, oldRoot] of s.roots) {
      if (m > n) continue;
      const proof = await consistencyProof(m, n, s.reader);
      assert.equal(await verifyConsistency(m, n, proof, oldRoot, root), true, `consistency ${m} -> ${n}`);
      if (proof.length > 0) {
        const bent = proof.map((p, j) => (j === 0 ? new Uint8Array(p).fill(1) : p));
        assert.equal(await verifyConsistency(m, n, bent, oldRoot, root), false);
      }
    }
  }
});

test('leaf hashes agree with node:crypto', async () => {
  await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (b) => {
    assert.equal(toHex(await leafHash(b)), toHex(coreLeafHash(b)));
  }), { numRuns: 50 });
});

test('checkpoints: the log signature and witness cosignatures verify; tampering does not', async () => {
  const signer = newEd25519Signer('example.com/log', new Uint8Array(32).fill(3));
  const witness = newCosigner('witness.example', new Uint8Array(32).fill(4));
  const text = 'example.com/log\n5\n' + Buffer.alloc(32, 9).toString('base64') + '\n';
  const note = signCheckpoint({ origin: 'example.com/log', treeSize: 5n, rootHash: new Uint8Array(32).fill(9), extensions: [] }, [signer]) + witness.cosign(text, 1_700_000_000n);
  const logKey = await parseVkey(signer.vkey);
  const wKey = await parseVkey(witness.vkey);
  const v = await verifyCheckpoint(note, logKey, [wKey]);
  assert.equal(v.checkpoint.treeSize, 5n);
  assert.deepEqual(v.cosignatures.map((c) => [c.name, c.timestamp, c.verified]), [['witness.example', 1_700_000_000n, true]]);
  const unverified = await verifyCheckpoint(note, logKey);
  assert.equal(unverified.cosignatures[0]?.verified, undefined);
  await assert.rejects(verifyCheckpoint(note.replace('\n5\n', '\n6\n'), logKey), /does not verify/);
  const other = await parseVkey(newEd25519Signer('example.com/log', new Uint8Array(32).fill(5)).vkey);
  await assert.rejects(verifyCheckpoint(note, other), /no signature by the trusted log key/);
  await assert.rejects(parseVkey(signer.vkey.replace(/\+[0-9a-f]{8}\+/, '+00000000+')), /key ID/);
});

test('tile verifier: honest store verifies; a flipped byte anywhere in a used tile raises VerificationError', async () => {
  const s = storeOf(600);
  const n = 600n;
  const root = s.roots.get(n)!;
  const cp = { origin: 'o', treeSize: n, rootHash: root, extensions: [] };
  const v = new TileVerifier(fetcherOf(s));
  await v.verifyTree(cp);
  const entries = await v.verifiedBundle(0n, cp); // full tile: authenticated through its parent
  assert.equal(entries.length, 256);
  assert.equal((await v.verifiedBundle(2n, cp)).length, 600 - 512); // partial
  const inc = await v.inclusion(300n, await leafHash(makeEntry(300)), cp);
  assert.equal(toHex(inc.computedRoot!), toHex(root));
  const older = { origin: 'o', treeSize: 300n, rootHash: s.roots.get(300n)!, extensions: [] };
  await v.consistency(older, cp);
  await assert.rejects(v.consistency({ ...older, rootHash: root }, cp), VerificationError);
  await assert.rejects(v.inclusion(300n, await leafHash(makeEntry(301)), cp), VerificationError);

  for (const victim of ['tile/0/000', 'tile/0/002.p/88', 'tile/1/000.p/2', 'tile/entries/001']) {
    const bad = new TileVerifier(fetcherOf(s, (path, b) => {
      if (path !== victim) return b;
      const c = new Uint8Array(b);
      c[c.length - 5] = (c[c.length - 5] ?? 0) ^ 0x40;
      return c;
    }));
    await assert.rejects((async () => {
      await bad.verifyTree(cp);
      for (const i of [0n, 1n, 2n]) await bad.verifiedBundle(i, cp);
    })(), VerificationError, victim);
  }
});

test('tlog-proof files made by the server parse in the browser code', () => {
  const signer = newEd25519Signer('example.com/log', new Uint8Array(32).fill(3));
  const checkpoint = signCheckpoint({ origin: 'example.com/log', treeSize: 2n, rootHash: new Uint8Array(32).fill(1), extensions: [] }, [signer]);
  const text = formatTlogProof({ index: 1n, proof: [new Uint8Array(32).fill(2)], checkpoint, extra: new Uint8Array([1, 2]) });
  const p = parseTlogProof(text);
  assert.equal(p.index, 1n);
  assert.equal(p.proof.length, 1);
  assert.equal(p.checkpoint, checkpoint);
  assert.throws(() => parseTlogProof(text.replace('index 1', 'index 01')));
});

test('entry rows: collector, audit and shipper entries show the ingress event', () => {
  const ev = { kind: 'denied', time: '2026-01-01T00:00:00Z', source: { type: 'ingress-nginx' }, request: { method: 'GET', host: 'h', path: '/p' }, response: { status: 403 }, client: { address: '10.0.0.1', user: 'bob' }, ingress: { namespace: 'ns', name: 'web' } };
  for (const entry of [{ type: 'collector.record/v1', event: ev }, { type: 'k8s.audit/v1', ingressEvent: ev }, { type: 'log.record/v1', event: ev }]) {
    const r = eventRow(Buffer.from(JSON.stringify(entry)));
    assert.deepEqual([r.kind, r.controller, r.namespaceIngress, r.method, r.host, r.path, r.status, r.client, r.user], ['denied', 'ingress-nginx', 'ns/web', 'GET', 'h', '/p', '403', '10.0.0.1', 'bob']);
  }
  assert.equal(eventRow(new Uint8Array([0xff, 0])).kind, 'other');
});
