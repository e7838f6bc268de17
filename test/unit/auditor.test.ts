/**
 * Unit tests of clients/auditor's pure parts: the `--log` / YAML config parsers and `verifyEvidence` (what a third
 * party can conclude from an evidence file alone), with checkpoints signed here and proofs from a reference tree.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAuditConfig, parseLogSpec, mergeLogs, verifyEvidence, evidenceProof, type Evidence } from '../../clients/auditor/index.js';
import { newEd25519Signer } from '../../server/core/keys.js';
import { signCheckpoint } from '../../server/core/checkpoint.js';
import { leafHash, nodeHash, type Hash } from '../../server/core/hash.js';
import { consistencyProof } from '../../server/core/tile-proof.js';
import { TILE_WIDTH, type TileRef } from '../../server/core/tile.js';

const origin = 'example.com/log';
const signer = newEd25519Signer(origin, new Uint8Array(32).fill(1));
const other = newEd25519Signer(origin, new Uint8Array(32).fill(2));

/** MTH of leaves [0, n) (RFC 9162 §2.1.1), recursively: small trees only. */
function mth(leaves: Hash[]): Hash {
  if (leaves.length === 1) return leaves[0] as Hash;
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return nodeHash(mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}

/** A TileReader over level-0 tiles of `leaves` plus computed higher levels (trees < 65536 leaves). */
function reader(leaves: Hash[]) {
  return async (tiles: readonly TileRef[]) =>
    tiles.map((t) => {
      const span = TILE_WIDTH ** t.level;
      const out = new Uint8Array(t.width * 32);
      for (let i = 0; i < t.width; i++) {
        const start = (Number(t.index) * TILE_WIDTH + i) * span;
        out.set(mth(leaves.slice(start, start + span)), i * 32);
      }
      return out;
    });
}

const leavesA = Array.from({ length: 20 }, (_, i) => leafHash(Buffer.from(`a${i}`)));
const leavesB = Array.from({ length: 20 }, (_, i) => leafHash(Buffer.from(i < 5 ? `a${i}` : `b${i}`)));
const note = (s: typeof signer, leaves: Hash[], n: number) => signCheckpoint({ origin, treeSize: BigInt(n), rootHash: mth(leaves.slice(0, n)), extensions: [] }, [s]);
const ev = (kind: Evidence['kind'], notes: string[], extra: Partial<Evidence> = {}): string =>
  JSON.stringify({ kind, origin, time: '2026-01-01T00:00:00Z', detail: 'test', checkpoints: notes.map((n) => ({ source: 'test', note: n })), ...extra });

describe('config', () => {
  test('--log ORIGIN=URL=VKEY, URLs with = and ports', () => {
    const l = parseLogSpec(`${origin}=http://127.0.0.1:8080/x?a=b=${signer.vkey}`);
    assert.deepEqual(l, { origin, url: 'http://127.0.0.1:8080/x?a=b', vkey: signer.vkey });
    assert.throws(() => parseLogSpec('nonsense'));
    assert.throws(() => parseLogSpec(`${origin}=ftp://x/=${signer.vkey}`));
    assert.throws(() => parseLogSpec(`${origin}=http://x/=garbage`));
    assert.throws(() => mergeLogs([l], [l]), /twice/);
    assert.throws(() => mergeLogs([]), /no log/);
  });
  test('YAML config: logs and peers; unknown keys and wrong types rejected', () => {
    const c = parseAuditConfig(`logs:\n  - origin: ${origin}\n    url: https://log.example/\n    vkey: ${signer.vkey}\npeers: [http://a.example/]\n`);
    assert.equal(c.logs[0]?.url, 'https://log.example/');
    assert.deepEqual(c.peers, ['http://a.example/']);
    assert.throws(() => parseAuditConfig('logs: 3\n'));
    assert.throws(() => parseAuditConfig(`logs: []\nextra: 1\n`), /unknown key/);
    assert.throws(() => parseAuditConfig(`logs:\n  - origin: x\n    url: https://l/\n    vkey: ${signer.vkey}\n    color: red\n`), /unknown key/);
    assert.throws(() => parseAuditConfig(`logs:\n  - origin: 1\n    url: https://l/\n    vkey: v\n`));
    // The flags' options too (camelCase), so that one file configures a deployed auditor.
    const withOptions = parseAuditConfig(`logs: []\nstate: /var/lib/a\nhttp: 0.0.0.0:9465\ninterval: 30s\nfull: true\n`);
    assert.deepEqual(withOptions.options, { state: '/var/lib/a', http: '0.0.0.0:9465', interval: '30s', full: true });
    assert.throws(() => parseAuditConfig(`logs: []\nfull: yes please\n`), /full: want true or false/);
    assert.throws(() => parseAuditConfig(`logs: []\nstate: 3\n`), /state: want a non-empty string/);
  });
});

describe('verifyEvidence', () => {
  test('same size, different roots, both signed: proven; with a wrong key or one note: not', () => {
    const text = ev('split-view', [note(signer, leavesA, 10), note(signer, leavesB, 10)]);
    assert.equal(verifyEvidence(text, signer.vkey).proven, true);
    assert.equal(verifyEvidence(text, other.vkey).proven, false);
    assert.equal(verifyEvidence(ev('split-view', [note(signer, leavesA, 10)]), signer.vkey).proven, false);
    assert.equal(verifyEvidence(ev('split-view', [note(signer, leavesA, 10), note(signer, leavesA, 10)]), signer.vkey).proven, false);
    // A note signed by someone else under the log's name does not count.
    assert.equal(verifyEvidence(ev('split-view', [note(signer, leavesA, 10), note(other, leavesB, 10)]), signer.vkey).proven, false);
    assert.equal(verifyEvidence('{"kind":"nope"}', signer.vkey).proven, false);
    assert.equal(verifyEvidence('not json', signer.vkey).proven, false);
  });

  test('different sizes: proven only with a verifying consistency proof whose old root differs from the signed one', async () => {
    const big = note(signer, leavesB, 17);
    const small = note(signer, leavesA, 7);
    const proof = await consistencyProof(7n, 17n, reader(leavesB));
    const p = evidenceProof(7n, 17n, mth(leavesB.slice(0, 7)), proof);
    assert.equal(verifyEvidence(ev('split-view', [big, small], { proof: p }), signer.vkey).proven, true);
    // Without a proof, or with a tampered one, it is not provable from the file.
    assert.equal(verifyEvidence(ev('split-view', [big, small]), signer.vkey).proven, false);
    const bad = { ...p, consistencyProof: [...p.consistencyProof.slice(1), p.consistencyProof[0] as string] };
    assert.equal(verifyEvidence(ev('split-view', [big, small], { proof: bad }), signer.vkey).proven, false);
    // A proof that shows the small tree IS a prefix: no misbehaviour.
    const honestSmall = note(signer, leavesB, 7);
    assert.equal(verifyEvidence(ev('split-view', [big, honestSmall], { proof: p }), signer.vkey).proven, false);
  });

  test('rollback: the later checkpoint smaller → proven; not smaller → not', () => {
    assert.equal(verifyEvidence(ev('rollback', [note(signer, leavesA, 12), note(signer, leavesA, 5)]), signer.vkey).proven, true);
    assert.equal(verifyEvidence(ev('rollback', [note(signer, leavesA, 5), note(signer, leavesA, 12)]), signer.vkey).proven, false);
  });
});
