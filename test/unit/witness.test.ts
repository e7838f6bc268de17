/**
 * The tlog-witness server (server/witness/): every status code of add-checkpoint with its exact body, the
 * monitoring endpoint, atomicity of two concurrent requests for one log, and persistence across reopen.
 * Trees, roots and proofs come from the independent reference tree (test/support/reference-tree.ts).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import express from 'express';
import { newCosigner, newCosignatureVerifier, cosignatureTimestamp } from '../../server/core/cosignature.js';
import { signCheckpoint, openCheckpoint } from '../../server/core/checkpoint.js';
import { newEd25519Signer, newVerifier } from '../../server/core/keys.js';
import { openNote, parseSignatureLines } from '../../server/core/note.js';
import { encodeBase64 } from '../../server/core/strict.js';
import { formatAddCheckpointRequest } from '../../server/core/witness-protocol.js';
import { createWitnessHandler } from '../../server/witness/http.js';
import { Witness, originHash } from '../../server/witness/witness.js';
import { ReferenceTree, refLeafHash } from '../support/reference-tree.js';

const ORIGIN = 'example.com/log';
const NOW = 1_700_000_000_000;
const logSigner = newEd25519Signer(ORIGIN, randomBytes(32));
const otherSigner = newEd25519Signer(ORIGIN, randomBytes(32)); // same name, unknown key
const cosigner = newCosigner('witness.example/w1', randomBytes(32));
const cosVerifier = newCosignatureVerifier(cosigner.vkey);
const tree = new ReferenceTree();
for (let i = 0; i < 40; i++) tree.push(refLeafHash(Buffer.from(`entry ${i}`)));

function note(size: number, signers = [logSigner], origin = ORIGIN, root = tree.root(size)): string {
  return signCheckpoint({ origin, treeSize: BigInt(size), rootHash: root, extensions: [] }, signers);
}
function proof(m: number, n: number): Uint8Array[] {
  return m === 0 || m === n ? [] : tree.proof(m, n).map((e) => e.hash);
}
function body(old: number, size: number, p = proof(old, size), n = note(size)): string {
  return formatAddCheckpointRequest(BigInt(old), p, n);
}

const dirs: string[] = [];
function newDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tilelog-witness-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function openWitness(dir = newDir()): Promise<Witness> {
  return Witness.open({ dir, cosigner, logs: [{ origin: ORIGIN, vkeys: [logSigner.vkey] }], now: () => NOW });
}

describe('add-checkpoint statuses (Witness.addCheckpoint)', () => {
  let w: Witness;
  before(async () => {
    w = await openWitness();
  });
  after(() => w.close());

  test('400: malformed bodies', async () => {
    const cases: [string, string][] = [
      ['', 'no old line'],
      ['old 01\n\n' + note(1), 'leading zero'],
      ['old -1\n\n' + note(1), 'sign'],
      ['Old 0\n\n' + note(1), 'keyword case'],
      ['old 0\nnot base64!\n\n' + note(1), 'bad proof line'],
      [`old 0\n${encodeBase64(new Uint8Array(31))}\n\n` + note(1), '31-byte hash'],
      [`old 0\n${Array(64).fill(encodeBase64(new Uint8Array(32))).join('\n')}\n\n` + note(1), '64 proof lines'],
      ['old 0\n' + note(1), 'no empty line'],
      ['old 0\n\nexample.com/log\n1\n\n', 'no signature'],
      ['old 0\n\n' + note(1).replace('\n1\n', '\n01\n'), 'bad checkpoint size'],
    ];
    for (const [b, why] of cases) {
      const r = await w.addCheckpoint(b);
      assert.equal(r.status, 400, why);
      assert.equal(r.contentType, 'text/plain; charset=utf-8');
      assert.ok(r.body.endsWith('\n') && r.body.length > 1, why);
    }
    // old size > checkpoint size: 400, checked after the signature.
    const r = await w.addCheckpoint(body(5, 3, []));
    assert.equal(r.status, 400);
    assert.equal(r.body, 'old size 5 is larger than the checkpoint size 3\n');
  });

  test('404: unknown origin', async () => {
    const r = await w.addCheckpoint(body(0, 1, [], note(1, [newEd25519Signer('other.example/log', randomBytes(32))], 'other.example/log')));
    assert.equal(r.status, 404);
    assert.equal(r.body, 'unknown origin "other.example/log"\n');
  });

  test('403: no signature by a trusted key, or a bad one by a trusted key', async () => {
    let r = await w.addCheckpoint(body(0, 1, [], note(1, [otherSigner])));
    assert.equal(r.status, 403);
    assert.equal(r.body, 'note: no known signature verifies (no signature by a trusted key)\n');
    // Signed by the log, then the text altered (same size line): the trusted key's signature fails.
    const good = note(2);
    const forged = good.replace(encodeBase64(tree.root(2)), encodeBase64(tree.root(3)));
    r = await w.addCheckpoint(body(0, 2, [], forged));
    assert.equal(r.status, 403);
    assert.match(r.body, /^note: invalid signature for key example\.com\/log\+[0-9a-f]{8}\n$/);
  });

  test('422: empty tree with a wrong root, proof with old 0', async () => {
    let r = await w.addCheckpoint(body(0, 0, [], note(0, [logSigner], ORIGIN, tree.root(1))));
    assert.equal(r.status, 422);
    assert.equal(r.body, 'consistency proof from 0 to 0 does not verify\n');
    r = await w.addCheckpoint(body(0, 4, proof(2, 4)));
    assert.equal(r.status, 422);
    assert.equal(r.body, 'consistency proof from 0 to 4 does not verify\n');
  });

  test('200: a cosignature/v1 line that verifies, with the clock as timestamp; extra unknown signatures ignored', async () => {
    const n = note(5, [logSigner, otherSigner].slice(0, 1)) ;
    const withUnknown = n + note(5, [newEd25519Signer('someone.else', randomBytes(32))]).split('\n\n')[1];
    const r = await w.addCheckpoint(body(0, 5, [], withUnknown));
    assert.equal(r.status, 200, r.body);
    assert.equal(r.contentType, 'text/plain; charset=utf-8');
    const sigs = parseSignatureLines(r.body);
    assert.equal(sigs.length, 1);
    assert.equal(sigs[0]?.name, 'witness.example/w1');
    assert.equal(cosignatureTimestamp(sigs[0]!), BigInt(NOW / 1000));
    // The client appends the lines to its checkpoint and runs a note verifier with the witness key.
    const opened = openNote(n + r.body, [cosVerifier]);
    assert.equal(opened.verified.length, 1);
    openCheckpoint(n + r.body, [newVerifier(logSigner.vkey)], ORIGIN);
  });

  test('409: old size differs from the latest cosigned size, with text/x.tlog.size', async () => {
    let r = await w.addCheckpoint(body(0, 9));
    assert.equal(r.status, 409);
    assert.equal(r.contentType, 'text/x.tlog.size');
    assert.equal(r.body, '5\n');
    r = await w.addCheckpoint(body(7, 9));
    assert.deepEqual([r.status, r.body], [409, '5\n']);
  });

  test('422: bad consistency proof from the stored size', async () => {
    const p = proof(5, 9);
    p[0] = new Uint8Array(32);
    const r = await w.addCheckpoint(body(5, 9, p));
    assert.equal(r.status, 422);
    assert.equal(r.body, 'consistency proof from 5 to 9 does not verify\n');
    // A checkpoint of another history (root of a different tree) with a well-formed proof of ours.
    const fork = new ReferenceTree(tree.leaves.slice(0, 9));
    fork.leaves[7] = refLeafHash(Buffer.from('forked'));
    const r2 = await w.addCheckpoint(body(5, 9, proof(5, 9), note(9, [logSigner], ORIGIN, new ReferenceTree(fork.leaves).root(9))));
    assert.equal(r2.status, 422);
  });

  test('200 then same size: same root → 200 again, different root → 409; proof for equal sizes → 422', async () => {
    let r = await w.addCheckpoint(body(5, 9));
    assert.equal(r.status, 200, r.body);
    r = await w.addCheckpoint(body(9, 9));
    assert.equal(r.status, 200, r.body);
    r = await w.addCheckpoint(body(9, 9, [], note(9, [logSigner], ORIGIN, tree.root(8))));
    assert.deepEqual([r.status, r.contentType, r.body], [409, 'text/x.tlog.size', '9\n']);
    r = await w.addCheckpoint(body(9, 9, [tree.root(9)]));
    assert.equal(r.status, 422);
  });

  test('monitoring: latest cosigned checkpoint by hex SHA-256(origin), 404 otherwise', async () => {
    const latest = await w.latest(originHash(ORIGIN));
    assert.ok(latest !== undefined);
    const opened = openCheckpoint(latest, [newVerifier(logSigner.vkey)], ORIGIN);
    assert.equal(opened.checkpoint.treeSize, 9n);
    assert.equal(openNote(latest, [cosVerifier]).verified.length, 1);
    assert.equal(await w.latest('00'.repeat(32)), undefined);
  });
});

describe('atomic check-and-update', () => {
  test('two concurrent add-checkpoint with the same old size: exactly one succeeds, the other gets 409', async () => {
    const w = await openWitness();
    try {
      assert.equal((await w.addCheckpoint(body(0, 3))).status, 200);
      for (let round = 0; round < 5; round++) {
        const base = round === 0 ? 3 : 3 + round * 5;
        const [a, b] = await Promise.all([w.addCheckpoint(body(base, base + 4)), w.addCheckpoint(body(base, base + 5))]);
        const statuses = [a.status, b.status].sort();
        assert.deepEqual(statuses, [200, 409], `round ${round}: ${a.body} ${b.body}`);
        // The winner's size is the stored size; a rollback to the loser's size never happens.
        const winner = a.status === 200 ? base + 4 : base + 5;
        const loser = a.status === 200 ? b : a;
        assert.equal(loser.body, `${winner}\n`);
        const latest = await w.latest(originHash(ORIGIN));
        assert.equal(openCheckpoint(latest!, [newVerifier(logSigner.vkey)]).checkpoint.treeSize, BigInt(winner));
        if (winner !== base + 5) assert.equal((await w.addCheckpoint(body(winner, base + 5))).status, 200);
      }
    } finally {
      await w.close();
    }
  });
});

describe('persistence', () => {
  test('the latest cosigned checkpoint survives close and reopen', async () => {
    const dir = newDir();
    let w = await openWitness(dir);
    assert.equal((await w.addCheckpoint(body(0, 12))).status, 200);
    await w.close();
    w = await openWitness(dir);
    try {
      const r = await w.addCheckpoint(body(0, 13));
      assert.deepEqual([r.status, r.body], [409, '12\n']);
      assert.equal((await w.addCheckpoint(body(12, 13))).status, 200);
    } finally {
      await w.close();
    }
  });
});

describe('HTTP handler', () => {
  let w: Witness;
  let server: Server;
  let base: string;
  before(async () => {
    w = await openWitness();
    const handler = createWitnessHandler(w);
    server = createServer((req, res) => handler(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await w.close();
  });

  test('POST /add-checkpoint and GET /<hash>/checkpoint over HTTP', async () => {
    let res = await fetch(`${base}/add-checkpoint`, { method: 'POST', body: body(0, 2) });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /^— witness\.example\/w1 [A-Za-z0-9+/]+=*\n$/);
    res = await fetch(`${base}/add-checkpoint`, { method: 'POST', body: body(0, 3) });
    assert.equal(res.status, 409);
    assert.equal(res.headers.get('content-type'), 'text/x.tlog.size');
    assert.equal(await res.text(), '2\n');
    res = await fetch(`${base}/add-checkpoint`);
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'POST');
    await res.text();
    res = await fetch(`${base}/add-checkpoint`, { method: 'POST', body: Buffer.from([0x6f, 0x6c, 0x64, 0x20, 0xff, 0x0a]) });
    assert.equal(res.status, 400);
    assert.equal(await res.text(), 'body is not valid UTF-8\n');
    res = await fetch(`${base}/${originHash(ORIGIN)}/checkpoint`);
    assert.equal(res.status, 200);
    const latest = await res.text();
    assert.equal(openCheckpoint(latest, [newVerifier(logSigner.vkey)]).checkpoint.treeSize, 2n);
    assert.equal(openNote(latest, [cosVerifier]).verified.length, 1);
    res = await fetch(`${base}/${originHash('unknown')}/checkpoint`);
    assert.equal(res.status, 404);
    await res.text();
    res = await fetch(`${base}/nope`);
    assert.equal(res.status, 404);
    await res.text();
  });
});

test('the handler mounts in express under a prefix and passes other paths on', async () => {
  const w = await openWitness();
  const app = express();
  app.use('/witness', createWitnessHandler(w));
  app.get('/other', (_req, res) => void res.send('other'));
  const server = createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    let res = await fetch(`${base}/witness/add-checkpoint`, { method: 'POST', body: body(0, 4) });
    assert.equal(res.status, 200);
    await res.text();
    res = await fetch(`${base}/witness/${originHash(ORIGIN)}/checkpoint`);
    assert.equal(openCheckpoint(await res.text(), [newVerifier(logSigner.vkey)]).checkpoint.treeSize, 4n);
    res = await fetch(`${base}/other`);
    assert.equal(await res.text(), 'other');
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await w.close();
  }
});
