/**
 * The log side of witnessing: the C2SP tlog-policy parser and quorum rule (server/core/policy.ts), and the
 * add-checkpoint client (server/witnessing/cosigning.ts) against a real in-process witness and fake ones:
 * 409 handling, the persisted size hints, bad cosignatures, timeouts, quorum and fail-open.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { signCheckpoint } from '../../server/core/checkpoint.js';
import { newCosignatureVerifier, newCosigner } from '../../server/core/cosignature.js';
import { newEd25519Signer } from '../../server/core/keys.js';
import { openNote, parseNote } from '../../server/core/note.js';
import { parsePolicy, quorumSatisfied, thresholdPolicy, type Policy } from '../../server/core/policy.js';
import { Cosigning } from '../../server/witnessing/cosigning.js';
import { createWitnessHandler } from '../../server/witness/http.js';
import { Witness } from '../../server/witness/witness.js';
import { ReferenceTree, refLeafHash } from '../support/reference-tree.js';

const ORIGIN = 'example.com/log';
const logSigner = newEd25519Signer(ORIGIN, randomBytes(32));
const cosigners = [1, 2, 3].map((i) => newCosigner(`witness.example/w${i}`, randomBytes(32)));
const tree = new ReferenceTree();
for (let i = 0; i < 30; i++) tree.push(refLeafHash(Buffer.from(`e${i}`)));
const note = (n: number) => signCheckpoint({ origin: ORIGIN, treeSize: BigInt(n), rootHash: tree.root(n), extensions: [] }, [logSigner]);
const treeState = (n: number) => ({ treeSize: BigInt(n), rootHash: tree.root(n) });
const proofFn = async (m: bigint, n: bigint) => tree.proof(Number(m), Number(n)).map((e) => e.hash);

const cleanups: (() => Promise<unknown> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});
function newDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tilelog-witnessing-'));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}
async function serve(listener: RequestListener): Promise<string> {
  const server: Server = createServer(listener);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise((r) => server.close(r));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('tlog-policy', () => {
  const [a, b, c] = cosigners.map((x) => x.vkey) as [string, string, string];
  test('parses the spec example shape and evaluates nested groups', () => {
    const p = parsePolicy(`# comment\n  log ${logSigner.vkey} https://log.example\n\nwitness X1 ${a}\n\twitness X2 ${b} https://w2.example/\nwitness Y1 ${c}\ngroup X 2 X1 X2\ngroup Y any Y1\ngroup XY all X Y  \nquorum XY\n`);
    assert.equal(p.logs.length, 1);
    assert.equal(p.logs[0]?.url, 'https://log.example');
    assert.deepEqual(p.witnesses.map((w) => [w.name, w.url]), [['X1', undefined], ['X2', 'https://w2.example/'], ['Y1', undefined]]);
    assert.equal(quorumSatisfied(p.quorum, new Set(['X1', 'X2', 'Y1'])), true);
    assert.equal(quorumSatisfied(p.quorum, new Set(['X1', 'Y1'])), false);
    assert.equal(quorumSatisfied(p.quorum, new Set(['X1', 'X2'])), false);
    assert.equal(parsePolicy('quorum none\n').quorum, undefined);
    assert.equal(quorumSatisfied(undefined, new Set()), true);
    assert.equal(quorumSatisfied(parsePolicy(`witness w ${a}\nquorum w`).quorum, new Set(['w'])), true);
  });
  test('rejects what the spec forbids', () => {
    const bad = [
      `witness w ${a}\n`, // no quorum
      `witness w ${a}\nquorum w\nquorum w\n`, // two quorums
      `quorum w\nwitness w ${a}\n`, // used before defined
      `witness w ${a}\nwitness v ${b}\ngroup g 3 w v\nquorum g\n`, // k > n
      `witness w ${a}\ngroup g 0 w\nquorum g\n`, // k < 1
      `witness w ${a}\ngroup g 1 w w\nquorum g\n`, // member twice
      `witness w ${a}\nwitness v ${a}\nquorum w\n`, // duplicate key
      `witness w ${a}\nwitness w ${b}\nquorum w\n`, // duplicate name
      `witness none ${a}\nquorum none\n`, // reserved name
      `witness w ${a}\ngroup g any none\nquorum g\n`, // none as a member
      `witness w ${logSigner.vkey}\nquorum w\n`, // a 0x01 key as a witness key
      `log ${a}\nquorum none\n`, // a 0x04 key as a log key
      `witness w ${a}\nquorum w\nfrobnicate\n`, // unknown keyword
      `witness w ${a}\r\nquorum w\n`, // control character
      `witness w ${a} https://x extra\nquorum w\n`, // too many fields
    ];
    for (const text of bad) assert.throws(() => parsePolicy(text), { code: 'MALFORMED' }, JSON.stringify(text));
  });
  test('threshold policies from flags', () => {
    const ws = cosigners.map((x, i) => ({ name: `w${i}`, vkey: x.vkey, verifier: newCosignatureVerifier(x.vkey), url: 'http://x' }));
    const p = thresholdPolicy(ws, 2);
    assert.equal(quorumSatisfied(p.quorum, new Set(['w0'])), false);
    assert.equal(quorumSatisfied(p.quorum, new Set(['w0', 'w2'])), true);
    assert.throws(() => thresholdPolicy(ws, 4));
    assert.throws(() => thresholdPolicy([ws[0]!, ws[0]!], 1));
  });
});

function cosigning(policy: Policy, statePath: string, failOpen = false, timeoutMs = 2000): Cosigning {
  return new Cosigning({ policy, failOpen, timeoutMs, statePath, registry: new Registry(), logger: pino({ level: 'silent' }) });
}

describe('Cosigning (add-checkpoint client)', () => {
  test('asks a real witness, handles 409 when its hint is lost, and persists the sizes', async () => {
    const statuses: number[] = [];
    const w = await Witness.open({ dir: newDir(), cosigner: cosigners[0]!, logs: [{ origin: ORIGIN, vkeys: [logSigner.vkey] }] });
    cleanups.push(() => w.close());
    const handler = createWitnessHandler(w, { prefix: '/w', onAddCheckpoint: (s) => statuses.push(s) });
    const url = `${await serve((req, res) => handler(req, res))}/w`;
    const policy = thresholdPolicy([{ name: 'w1', vkey: cosigners[0]!.vkey, verifier: newCosignatureVerifier(cosigners[0]!.vkey), url }], 1);
    const dir = newDir();
    const state = join(dir, 'sizes.json');
    let c = cosigning(policy, state);
    const n5 = await c.cosign(note(5), treeState(5), proofFn);
    assert.ok(n5 !== undefined);
    assert.equal(openNote(n5, [newCosignatureVerifier(cosigners[0]!.vkey)]).verified.length, 1);
    assert.deepEqual(statuses, [200]);
    assert.deepEqual(JSON.parse(readFileSync(state, 'utf8')), { [cosigners[0]!.vkey]: '5' });
    // The persisted hint: a restarted client sends old 5 at once.
    c = cosigning(policy, state);
    assert.ok((await c.cosign(note(9), treeState(9), proofFn)) !== undefined);
    assert.deepEqual(statuses, [200, 200]);
    // Without the hint: old 0 → 409 "9" → old 9 with the proof 9 → 17 → 200.
    c = cosigning(policy, join(dir, 'fresh.json'));
    const n17 = await c.cosign(note(17), treeState(17), proofFn);
    assert.ok(n17 !== undefined);
    assert.deepEqual(statuses, [200, 200, 409, 200]);
    assert.deepEqual([...c.knownSizes], [['w1', 17n]]);
    // The same checkpoint again (publication retried): old 17 = size 17, same root → 200.
    assert.ok((await c.cosign(note(17), treeState(17), proofFn)) !== undefined);
    assert.deepEqual(statuses.slice(4), [200]);
  });

  test('bad cosignatures, other errors and timeouts fail the witness; quorum and fail-open decide', async () => {
    const good = cosigners[0]!;
    const liar = cosigners[1]!; // signs with the right name but a different key
    const goodUrl = await serve((req, res) => {
      let b = '';
      req.on('data', (d) => (b += d)).on('end', () => {
        const text = parseNote(b.slice(b.indexOf('\n\n') + 2)).text;
        res.end(good.cosign(text, 1n));
      });
    });
    const forgedUrl = await serve((req, res) => {
      let b = '';
      req.on('data', (d) => (b += d)).on('end', () => {
        const text = parseNote(b.slice(b.indexOf('\n\n') + 2)).text;
        // A line by another key under the witness's name (other key ID: ignored), then one by the witness's key over
        // another text (known key, bad signature: the whole response is refused, as signed-note verifiers do).
        const line = newCosigner(cosigners[2]!.name, randomBytes(32)).cosign(text, 1n);
        const forged = cosigners[2]!.cosign(text.replace('\n', 'x\n'), 1n);
        res.end(line + forged);
      });
    });
    const errUrl = await serve((_req, res) => res.writeHead(500).end('boom\n'));
    const hangUrl = await serve(() => {}); // never answers
    const w = (name: string, vkey: string, url: string) => ({ name, vkey, verifier: newCosignatureVerifier(vkey), url });
    const witnesses = [w('good', good.vkey, goodUrl), w('forged', cosigners[2]!.vkey, forgedUrl), w('err', liar.vkey, errUrl), w('hang', newCosigner('h', randomBytes(32)).vkey, hangUrl)];
    const dir = newDir();
    const started = Date.now();
    const closed = await cosigning(thresholdPolicy(witnesses, 2), join(dir, 'a.json'), false, 300).cosign(note(3), treeState(3), proofFn);
    assert.equal(closed, undefined, 'the policy needs 2 cosignatures, only one witness gave a valid one');
    assert.ok(Date.now() - started < 5000, 'the hanging witness is bounded by the timeout');
    const open = await cosigning(thresholdPolicy(witnesses, 2), join(dir, 'b.json'), true, 300).cosign(note(3), treeState(3), proofFn);
    assert.ok(open !== undefined);
    const verifiers = witnesses.map((x) => x.verifier);
    const opened = openNote(open, verifiers);
    assert.deepEqual(opened.verified.map((s) => s.name), [good.name], 'only the valid cosignature is attached');
    const one = await cosigning(thresholdPolicy(witnesses, 1), join(dir, 'c.json'), false, 300).cosign(note(3), treeState(3), proofFn);
    assert.ok(one !== undefined);
  });
});
