/**
 * `tilelog checkpoint | proof | verify` end to end: a real server (startServer) with entries in several tiles, the
 * CLI run as a child process (TILELOG_BIN), checking stdout, the one-line verdict on stderr and the exit code
 * (0 verified, 1 verification failed, 2 usage/network error):
 *  - happy paths: checkpoint printed verbatim; proof by --index and by --entry; offline verify of both;
 *  - wrong vkey → 1; quorum not met → 1; a tampered proof file or the wrong entry → 1; usage errors → 2;
 *  - cosigned proofs: witness cosignatures added to the checkpoint verify against --witness/--quorum and --policy;
 *  - a node:http proxy that changes one byte of one tile (full level-0, partial level-0, partial level-1) makes
 *    `proof` fail with exit 1 and name the tile; through the untampered proxy it succeeds.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanupAll, startServer, TILELOG_BIN, type ServerProcess } from '../support/server-process.js';
import { postEntries } from '../support/http-tiles.js';
import { newEd25519Signer } from '../../server/core/keys.js';
import { newCosigner } from '../../server/core/cosignature.js';
import { appendSignatures, parseNote } from '../../server/core/note.js';
import { parseTlogProof, formatTlogProof } from '../../server/core/tlog-proof.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function tilelog(args: string[], timeoutMs = 30_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [TILELOG_BIN, ...args], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null;
      resolve({ code, stdout, stderr });
    });
  });
}

function expectExit(r: Run, code: number, label: string): void {
  assert.equal(r.code, code, `${label}: exit ${r.code}\nstdout: ${r.stdout.slice(0, 500)}\nstderr: ${r.stderr.slice(0, 1000)}`);
  assert.equal(r.stderr.trim().split('\n').length >= 1, true);
}

let server: ServerProcess;
let dir: string;
const ENTRIES = 701; // two full level-0 tiles, a partial one of width 189, a partial level-1 tile of width 2
const entryBytes = Buffer.from('an entry of its own, as octets');
let entryIndex: bigint;
let proxy: Server;
let proxyUrl = '';
let tamperPath: string | undefined;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tilelog-cli-'));
  server = await startServer({ checkpointInterval: '100ms', batchDelay: '5ms' });
  const body = JSON.stringify(Array.from({ length: ENTRIES - 1 }, (_, i) => ({ event: 'test', i })));
  const r1 = await postEntries(server.baseUrl, body, { 'Content-Type': 'application/json' }, '?wait=published');
  assert.equal(r1.status, 200, r1.text);
  const r2 = await postEntries(server.baseUrl, entryBytes, { 'Content-Type': 'application/octet-stream' }, '?wait=published');
  assert.equal(r2.status, 200, r2.text);
  entryIndex = (r2.entries[0] as { index: bigint }).index;
  writeFileSync(join(dir, 'entry.bin'), entryBytes);
  writeFileSync(join(dir, 'other.bin'), 'not in the log');

  // A proxy to the server that changes one byte of the tile at `tamperPath`.
  proxy = createServer((req, res) => {
    void (async () => {
      try {
        const up = await fetch(server.baseUrl + (req.url ?? '/'), { signal: AbortSignal.timeout(10_000) });
        let body = new Uint8Array(await up.arrayBuffer());
        if (tamperPath !== undefined && req.url === '/' + tamperPath && body.length > 0) {
          body = Uint8Array.from(body);
          body[body.length - 1] = (body[body.length - 1] as number) ^ 0x01;
        }
        res.writeHead(up.status, { 'Content-Type': up.headers.get('content-type') ?? 'application/octet-stream' });
        res.end(body);
      } catch {
        res.writeHead(502).end();
      }
    })();
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/`;
});

after(async () => {
  proxy?.closeAllConnections();
  await new Promise((r) => proxy?.close(r));
  await cleanupAll();
  rmSync(dir, { recursive: true, force: true });
});

describe('tilelog checkpoint | proof | verify', () => {
  test('checkpoint: prints the verified checkpoint; wrong key → 1; unmet quorum → 1; usage and network errors → 2', async () => {
    const ok = await tilelog(['checkpoint', server.baseUrl, '--vkey', server.vkey]);
    expectExit(ok, 0, 'checkpoint');
    const note = parseNote(ok.stdout);
    assert.match(note.text, new RegExp(`^${server.origin.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\n${ENTRIES}\n`));
    assert.match(ok.stderr, /^tilelog: OK checkpoint .* size 701 /);
    assert.equal(ok.stderr.trim().split('\n').length, 1);

    const other = newEd25519Signer(server.origin, new Uint8Array(32).fill(9)).vkey;
    const bad = await tilelog(['checkpoint', server.baseUrl, '--vkey', other]);
    expectExit(bad, 1, 'wrong vkey');
    assert.match(bad.stderr, /^tilelog: FAILED /);
    assert.equal(bad.stdout, '');

    const witness = newCosigner('witness.example', new Uint8Array(32).fill(3));
    expectExit(await tilelog(['checkpoint', server.baseUrl, '--vkey', server.vkey, '--witness', witness.vkey, '--quorum', '1']), 1, 'quorum unmet');
    const policyFile = join(dir, 'none.policy');
    writeFileSync(policyFile, `log ${server.vkey}\nwitness w ${witness.vkey}\nquorum none\n`);
    expectExit(await tilelog(['checkpoint', server.baseUrl, '--policy', policyFile]), 0, 'policy with quorum none, log key from the policy');

    const usageCases: [string[], string][] = [
      [['checkpoint', server.baseUrl], 'no vkey'],
      [['checkpoint', server.baseUrl, '--vkey', 'garbage'], 'bad vkey'],
      [['checkpoint', server.baseUrl, '--vkey', server.vkey, '--policy', policyFile, '--witness', witness.vkey], 'policy and witness'],
      [['checkpoint', server.baseUrl, '--vkey', server.vkey, '--frobnicate'], 'unknown option'],
      [['checkpoint'], 'no URL'],
      [['checkpoint', 'http://127.0.0.1:1/', '--vkey', server.vkey, '--timeout', '2000'], 'unreachable'],
      [['checkpoint', server.baseUrl + '/nope/', '--vkey', server.vkey], '404'],
    ];
    const runs = await Promise.all(usageCases.map(([args]) => tilelog(args)));
    runs.forEach((res, i) => expectExit(res, 2, usageCases[i]![1]));
  });

  test('proof --index / --entry and offline verify; tampered proof, wrong entry, wrong key → 1', async () => {
    const p5 = join(dir, 'p5.tlog-proof');
    const r = await tilelog(['proof', server.baseUrl, '--vkey', server.vkey, '--index', '5']);
    expectExit(r, 0, 'proof --index');
    assert.match(r.stderr, /^tilelog: OK entry 5 is in checkpoint /);
    const parsed = parseTlogProof(r.stdout);
    assert.equal(parsed.index, 5n);
    assert.equal(parsed.proof.length, 10); // ⌈log2 701⌉
    writeFileSync(p5, r.stdout);

    const pe = join(dir, 'pe.tlog-proof');
    expectExit(await tilelog(['proof', server.baseUrl, '--vkey', server.vkey, '--entry', join(dir, 'entry.bin'), '--out', pe]), 0, 'proof --entry');
    assert.equal(parseTlogProof(readFileSync(pe, 'utf8')).index, entryIndex);
    const v = await tilelog(['verify', '--vkey', server.vkey, pe, join(dir, 'entry.bin')]);
    expectExit(v, 0, 'verify');
    assert.match(v.stderr, new RegExp(`^tilelog: OK entry ${entryIndex} is in checkpoint `));

    expectExit(await tilelog(['verify', '--vkey', server.vkey, pe, join(dir, 'other.bin')]), 1, 'wrong entry');
    const other = newEd25519Signer(server.origin, new Uint8Array(32).fill(9)).vkey;
    expectExit(await tilelog(['verify', '--vkey', other, pe, join(dir, 'entry.bin')]), 1, 'wrong key');
    // Tampered: one proof hash changed (still valid base64), the index changed, a line dropped, the checkpoint changed.
    const text = readFileSync(pe, 'utf8');
    const lines = text.split('\n');
    const tampered = [
      lines.map((l, i) => (i === 3 ? (l[0] === 'A' ? 'B' : 'A') + l.slice(1) : l)).join('\n'),
      text.replace(`index ${entryIndex}\n`, `index ${entryIndex - 1n}\n`),
      lines.filter((_, i) => i !== 3).join('\n'),
      text.replace(`\n${ENTRIES}\n`, `\n${ENTRIES - 1}\n`),
      'garbage\n',
    ];
    const results = await Promise.all(
      tampered.map((t, i) => {
        const f = join(dir, `tampered${i}.tlog-proof`);
        writeFileSync(f, t);
        return tilelog(['verify', '--vkey', server.vkey, f, join(dir, 'entry.bin')]);
      }),
    );
    results.forEach((res, i) => {
      expectExit(res, 1, `tampered proof ${i}`);
      assert.match(res.stderr, /^tilelog: FAILED /);
    });
    const cases: [string[], number, string][] = [
      [['proof', server.baseUrl, '--vkey', server.vkey, '--entry', join(dir, 'other.bin')], 1, 'entry not in the log'],
      [['proof', server.baseUrl, '--vkey', server.vkey, '--index', '701'], 1, 'index beyond the tree'],
      [['proof', server.baseUrl, '--vkey', server.vkey], 2, 'neither --index nor --entry'],
      [['proof', server.baseUrl, '--vkey', server.vkey, '--index', '1', '--entry', join(dir, 'entry.bin')], 2, 'both'],
      [['proof', server.baseUrl, '--vkey', server.vkey, '--index', '-1'], 2, 'bad index'],
      [['verify', '--vkey', server.vkey, join(dir, 'missing'), join(dir, 'entry.bin')], 2, 'missing proof file'],
    ];
    const runs = await Promise.all(cases.map(([args]) => tilelog(args)));
    runs.forEach((res, i) => expectExit(res, cases[i]![1], cases[i]![2]));
  });

  test('verify with witnesses: cosignatures added to the proof\'s checkpoint meet --witness/--quorum and --policy', async () => {
    const pe = join(dir, 'pe.tlog-proof');
    const p = parseTlogProof(readFileSync(pe, 'utf8'));
    const ws = [1, 2, 3].map((i) => newCosigner(`w${i}.example`, new Uint8Array(32).fill(20 + i)));
    const text = parseNote(p.checkpoint).text;
    const cosigned = appendSignatures(p.checkpoint, ws[0]!.cosign(text, 1_700_000_000n) + ws[2]!.cosign(text, 1_700_000_001n));
    const f = join(dir, 'cosigned.tlog-proof');
    writeFileSync(f, formatTlogProof({ ...p, checkpoint: cosigned }));
    const e = join(dir, 'entry.bin');
    const wargs = ws.flatMap((w) => ['--witness', w.vkey]);
    const ok = await tilelog(['verify', '--vkey', server.vkey, ...wargs, '--quorum', '2', f, e]);
    expectExit(ok, 0, '2 of 3');
    assert.match(ok.stderr, /2 of 3 witnesses cosigned \(w1\.example at 2023-11-14T22:13:20Z, w3\.example at 2023-11-14T22:13:21Z\)/);
    expectExit(await tilelog(['verify', '--vkey', server.vkey, ...wargs, f, e]), 1, 'all 3 by default');
    expectExit(await tilelog(['verify', '--vkey', server.vkey, ...wargs, '--quorum', '1', pe, e]), 1, 'no cosignatures');
    const policy = join(dir, 'groups.policy');
    writeFileSync(policy, `log ${server.vkey}\nwitness A ${ws[0]!.vkey}\nwitness B ${ws[1]!.vkey}\nwitness C ${ws[2]!.vkey}\ngroup AB any A B\ngroup Q all AB C\nquorum Q\n`);
    expectExit(await tilelog(['verify', '--policy', policy, f, e]), 0, 'policy groups');
    writeFileSync(policy, `log ${server.vkey}\nwitness A ${ws[0]!.vkey}\nwitness B ${ws[1]!.vkey}\ngroup Q all A B\nquorum Q\n`);
    expectExit(await tilelog(['verify', '--policy', policy, f, e]), 1, 'policy needs B');
    writeFileSync(policy, 'quorum nobody\n');
    expectExit(await tilelog(['verify', '--vkey', server.vkey, '--policy', policy, f, e]), 2, 'bad policy file');
  });

  test('proof through a proxy that changes one byte of one tile fails with exit 1 and names the tile', async () => {
    tamperPath = undefined;
    const clean = await tilelog(['proof', proxyUrl, '--vkey', server.vkey, '--index', '5']);
    expectExit(clean, 0, 'untampered proxy');
    for (const [path, index] of [
      ['tile/0/000', '5'], // full level-0 tile, checked against its parent
      ['tile/0/002.p/189', '600'], // partial level-0 tile on the right edge
      ['tile/1/000.p/2', '5'], // partial level-1 tile: the root check
    ] as const) {
      tamperPath = path;
      const r = await tilelog(['proof', proxyUrl, '--vkey', server.vkey, '--index', index]);
      expectExit(r, 1, `tampered ${path}`);
      assert.match(r.stderr, /^tilelog: FAILED /);
      assert.ok(r.stderr.includes(path.split('.')[0] as string), `${path}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      if (path === 'tile/0/002.p/189') expectExit(await tilelog(['proof', proxyUrl, '--vkey', server.vkey, '--entry', join(dir, 'entry.bin')]), 1, `tampered ${path}, --entry`);
    }
    tamperPath = undefined;
  });
});
