// SPEC: c2sp.org/signed-note, c2sp.org/tlog-cosignature — interop with Go's golang.org/x/mod/sumdb/note.
//
// Needs Go and golang.org/x/mod in GOPATH mode (Debian/Ubuntu):
//   apt-get install -y golang-go golang-golang-x-mod-dev
// Without `go` on PATH (or without the x/mod sources) every test here is skipped with that message.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { TlogError } from '../../server/core/errors.js';
import { formatCheckpoint, signCheckpoint, type Checkpoint } from '../../server/core/checkpoint.js';
import { newCosigner } from '../../server/core/cosignature.js';
import { formatPrivateKey, newEd25519Signer, newSigner, newVerifier } from '../../server/core/keys.js';
import { appendSignatures, openNote, parseNoteBytes, signNote, verifyNote, type NoteSignature } from '../../server/core/note.js';
import { generateKey } from '../../server/keygen.js';

const GOPATH = process.env['TILELOG_GO_XMOD_GOPATH'] ?? '/usr/share/gocode';
const INSTALL = 'apt-get install -y golang-go golang-golang-x-mod-dev';

interface GoSig {
  name: string;
  hash: number;
  base64: string;
}
interface GoResult {
  ok: boolean;
  error?: string;
  text?: string;
  note?: string;
  sigs?: GoSig[];
  unverified?: GoSig[];
  many?: GoResult[];
}

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'test/interop/go/notecheck/main.go'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('go-note.test: repository root not found');
    dir = up;
  }
}

let skipReason: string | false = false;
let binDir = '';
let bin = '';

before(() => {
  const v = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (v.error || v.status !== 0) {
    skipReason = `go not installed (install with: ${INSTALL})`;
    return;
  }
  if (!existsSync(join(GOPATH, 'src/golang.org/x/mod/sumdb/note/note.go'))) {
    skipReason = `golang.org/x/mod not found in ${GOPATH} (install with: ${INSTALL})`;
    return;
  }
  binDir = mkdtempSync(join(tmpdir(), 'tilelog-notecheck-'));
  bin = join(binDir, 'notecheck');
  const env: NodeJS.ProcessEnv = { ...process.env, GO111MODULE: 'off', GOPATH, GOFLAGS: '' };
  if (!env['GOCACHE'] && !env['HOME']) env['GOCACHE'] = join(binDir, 'gocache');
  const b = spawnSync('go', ['build', '-o', bin, './test/interop/go/notecheck'], { cwd: repoRoot(), env, encoding: 'utf8' });
  if (b.status !== 0) throw new Error(`go build notecheck failed:\n${b.stderr}`);
});

after(() => {
  if (binDir) rmSync(binDir, { recursive: true, force: true });
});

function go(args: string[], stdin: string | Uint8Array): GoResult {
  const r = spawnSync(bin, args, { input: stdin, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`notecheck ${args[0]} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as GoResult;
}

const b64sig = (s: NoteSignature): string => {
  const raw = Buffer.alloc(4 + s.signature.length);
  raw.writeUInt32BE(s.keyId, 0);
  raw.set(s.signature, 4);
  return raw.toString('base64');
};
const asGo = (sigs: NoteSignature[]): GoSig[] => sigs.map((s) => ({ name: s.name, hash: s.keyId, base64: b64sig(s) }));

const NAMES = ['example.com/tilelog', 'é.example/日本', 'a—b', 'x'];
const TEXTS = ['hello\n', 'a\n\nb\n', '\n', 'é 😀 \u2028 + — \x7f\n', 'example.com/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n'];

test('Go accepts our vkeys and opens notes we sign', (t) => {
  if (skipReason) return t.skip(skipReason);
  for (const name of NAMES) {
    const { skey, vkey } = generateKey(name);
    const signer = newSigner(skey);
    for (const text of TEXTS) {
      const note = signNote(text, [signer]);
      const r = go(['open', vkey], note);
      assert.equal(r.error, undefined, `${name} ${JSON.stringify(text)}`);
      assert.equal(r.text, text);
      assert.deepEqual(r.sigs, [{ name, hash: signer.keyId, base64: note.slice(note.lastIndexOf('\n\n') + 2).trim().split(' ')[2] }]);
    }
  }
});

test('Go note.NewSigner on our PRIVATE+KEY strings signs byte-identical notes, which we open', (t) => {
  if (skipReason) return t.skip(skipReason);
  for (const name of NAMES) {
    const seed = new Uint8Array(32).map((_, i) => (i * 7 + name.length) & 0xff);
    const skey = formatPrivateKey(name, seed);
    const ours = newEd25519Signer(name, seed);
    const other = generateKey('other.example');
    for (const text of TEXTS) {
      const r = go(['sign', skey, other.skey], text);
      assert.equal(r.error, undefined);
      assert.equal(r.note, signNote(text, [ours, newSigner(other.skey)]));
      const opened = openNote(r.note!, [newVerifier(ours.vkey)]);
      assert.equal(opened.text, text);
      assert.equal(opened.verified.length, 1);
      assert.equal(opened.unverified.length, 1);
    }
  }
  // Go rejects what we reject when signing.
  assert.match(go(['sign', formatPrivateKey('x', new Uint8Array(32))], 'no newline').error ?? '', /malformed note/);
});

test('Go and we agree on verified/unverified signatures of a multi-signed note', (t) => {
  if (skipReason) return t.skip(skipReason);
  const a = newSigner(generateKey('a.example').skey);
  const b = newSigner(generateKey('b.example').skey);
  const note = appendSignatures(signNote('multi\n', [a, b]), '— grease.example AAAAAQID\n');
  const ours = openNote(note, [newVerifier(a.vkey)]);
  const r = go(['open', a.vkey], note);
  assert.deepEqual(r.sigs, asGo(ours.verified));
  assert.deepEqual(r.unverified, asGo(ours.unverified));
});

test('Go verifies our cosignatures (independent cosignature/v1 verifier on crypto/ed25519)', (t) => {
  if (skipReason) return t.skip(skipReason);
  const log = newSigner(generateKey('example.com/log').skey);
  const cp: Checkpoint = { origin: 'example.com/log', treeSize: 123n, rootHash: new Uint8Array(32).fill(5), extensions: ['ext'] };
  const witness = newCosigner('witness.example/w1', new Uint8Array(32).fill(9));
  const note = appendSignatures(signCheckpoint(cp, [log]), witness.cosign(formatCheckpoint(cp), 1679315147n));
  const r = go(['cosigned', witness.vkey], note);
  assert.equal(r.error, undefined);
  assert.equal(r.sigs?.length, 1);
  assert.equal(r.unverified?.length, 1);
  assert.equal(go(['open', log.vkey], note).sigs?.length, 1, 'the log key still verifies with Go note.Open');
  assert.match(go(['cosigned', witness.vkey], note.replace('\next\n', '\nexu\n')).error ?? '', /invalid signature/);
});

test('differential: mutated notes — everything we accept, Go accepts identically', (t) => {
  if (skipReason) return t.skip(skipReason);
  const a = newSigner(generateKey('a.example').skey);
  const b = newSigner(generateKey('b.example').skey);
  const verifiers = [newVerifier(a.vkey)];
  const base = [
    signNote('hello\n', [a]),
    signNote('a\n\nb\n', [a, b]),
    appendSignatures(signNote('é😀\n', [b, a]), '— grease.example AAAAAQID\n'),
  ];
  const mutated = fc.sample(
    fc.tuple(fc.constantFrom(...base), fc.nat(), fc.nat({ max: 7 }), fc.constantFrom('flip', 'delete', 'dup-line')).map(([n, pos, bit, kind]) => {
      const bytes = Buffer.from(n);
      const i = pos % bytes.length;
      if (kind === 'flip') {
        bytes[i]! ^= 1 << bit;
        return bytes;
      }
      if (kind === 'delete') return Buffer.concat([bytes.subarray(0, i), bytes.subarray(i + 1)]);
      const lines = n.split('\n');
      const j = pos % lines.length;
      lines.splice(j, 0, lines[j]!);
      return Buffer.from(lines.join('\n'));
    }),
    { numRuns: 1500, seed: 42 },
  );
  const cases = [...base.map((n) => Buffer.from(n)), ...mutated];
  const results = go(['openmany', a.vkey], JSON.stringify(cases.map((c) => c.toString('base64')))).many!;
  assert.equal(results.length, cases.length);
  let agree = 0;
  const divergences: string[] = [];
  cases.forEach((c, i) => {
    const g = results[i]!;
    let ours: ReturnType<typeof verifyNote> | TlogError;
    try {
      ours = verifyNote(parseNoteBytes(c), verifiers);
    } catch (e) {
      if (!(e instanceof TlogError)) throw e;
      ours = e;
    }
    if (!(ours instanceof TlogError)) {
      assert.ok(g.ok, `Go rejected a note we accept: ${JSON.stringify(c.toString())}: ${g.error}`);
      assert.equal(g.text, ours.text);
      assert.deepEqual(g.sigs, asGo(ours.verified));
      assert.deepEqual(g.unverified ?? [], asGo(ours.unverified));
      agree++;
    } else if (!g.ok) {
      agree++;
    } else {
      // Known, deliberate strictness: canonical base64 only (Go's StdEncoding ignores trailing bits).
      assert.match(ours.message, /canonical base64/, `we reject, Go accepts: ${JSON.stringify(c.toString())}`);
      divergences.push(ours.message);
    }
  });
  t.diagnostic(`${agree} agreements, ${divergences.length} notes only Go accepts (non-canonical base64)`);
  assert.ok(agree > cases.length * 0.9);
});

test('documented divergences: where we are deliberately stricter than Go note.Open', (t) => {
  if (skipReason) return t.skip(skipReason);
  const a = newSigner(generateKey('a.example').skey);
  const note = signNote('strict\n', [a]);
  const sigLine = note.slice(note.lastIndexOf('\n\n') + 2);
  // 1. Non-canonical base64 (non-zero trailing bits) in an unknown signature: Go ignores it, we reject the note.
  const loose = note + '— unknown.example AAAAAAB=\n';
  assert.equal(go(['open', a.vkey], loose).ok, true);
  assert.throws(() => openNote(loose, [newVerifier(a.vkey)]), (e: unknown) => e instanceof TlogError && e.code === 'MALFORMED');
  // 2. A repeated signature line from a known key whose second copy is bad: Go skips the repeat unverified;
  //    we verify every signature from a known key (signed-note: "verifiers MUST verify the signature").
  const raw = Buffer.from(sigLine.trim().split(' ')[2]!, 'base64');
  raw[10]! ^= 1;
  const repeated = note + `— a.example ${raw.toString('base64')}\n`;
  assert.equal(go(['open', a.vkey], repeated).ok, true);
  assert.throws(() => openNote(repeated, [newVerifier(a.vkey)]), (e: unknown) => e instanceof TlogError && e.code === 'VERIFICATION_FAILED');
});
