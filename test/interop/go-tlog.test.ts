// SPEC: c2sp.org/tlog-tiles, c2sp.org/tlog-checkpoint, RFC 9162 §2.1 — the served log, audited end to end with
// Go's reference packages golang.org/x/mod/sumdb/tlog and sumdb/note (test/interop/go/tlogcheck/main.go).
//
// A real server gets 70,000 entries in batches (sizes with full and partial tiles on levels 0, 1 and 2:
// 70,000 = 273·256 + 112, 273 = 1·256 + 17, and one level-2 hash), keeps the signed checkpoints it published at
// sizes 1, 300, 65,536 and 65,537, and the Go checker then proves the final checkpoint from the tiles alone
// (tlog.TileHashReader + TreeHash), checks every entry bundle against the tree, and compares Go's
// ProveRecord / ProveTree with the server's /v1/proof/inclusion and /v1/proof/consistency element by element.
//
// Needs Go and golang.org/x/mod in GOPATH mode (Debian/Ubuntu):
//   apt-get install -y golang-go golang-golang-x-mod-dev
// Without `go` on PATH (or without the x/mod sources) every test here is skipped with that message.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKey } from '../../server/keygen.js';
import { REPO_ROOT, cleanupAll, startServer, type ServerProcess } from '../support/server-process.js';

const GOPATH = process.env['TILELOG_GO_XMOD_GOPATH'] ?? '/usr/share/gocode';
const INSTALL = 'apt-get install -y golang-go golang-golang-x-mod-dev';

/** Final size and the sizes whose published checkpoints are kept for the consistency checks. */
const FINAL_SIZE = 70_000;
const OLD_SIZES = [1, 300, 65_536, 65_537];
const BATCH = 1_000;

interface GoResult {
  ok: boolean;
  origin: string;
  size: number;
  root: string;
  signatures: number;
  entriesChecked: number;
  bundles: number;
  partialBundleWidth: number;
  inclusionProofs: number;
  sampleIndexes: number[];
  old: { size: number; root: string; proofLen: number; serverSame: boolean }[] | null;
  hashTiles: number;
  tilesAuthenticatedByParent: number;
  tilePathsSample: string[] | null;
  requests: number;
  gzipResponses: number;
  ms: number;
}

interface OldCheckpoint {
  size: number;
  root: string;
  file: string;
}

let skipReason: string | false = false;
let workDir = '';
let bin = '';
let server: ServerProcess | undefined;
const olds: OldCheckpoint[] = [];
let finalRoot = '';

before(async () => {
  const v = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (v.error || v.status !== 0) {
    skipReason = `go not installed (install with: ${INSTALL})`;
    return;
  }
  if (!existsSync(join(GOPATH, 'src/golang.org/x/mod/sumdb/tlog/tile.go')) || !existsSync(join(GOPATH, 'src/golang.org/x/mod/sumdb/note/note.go'))) {
    skipReason = `golang.org/x/mod not found in ${GOPATH} (install with: ${INSTALL})`;
    return;
  }
  workDir = mkdtempSync(join(tmpdir(), 'tilelog-tlogcheck-'));
  bin = join(workDir, 'tlogcheck');
  const env: NodeJS.ProcessEnv = { ...process.env, GO111MODULE: 'off', GOPATH, GOFLAGS: '' };
  if (!env['GOCACHE'] && !env['HOME']) env['GOCACHE'] = join(workDir, 'gocache');
  const built = runAsync('go', ['build', '-o', bin, './test/interop/go/tlogcheck'], { cwd: REPO_ROOT, env });

  server = await startServer({ checkpointInterval: '20ms', batchDelay: '2ms' });
  await fillLog(server);
  const b = await built;
  if (b.code !== 0) throw new Error(`go build tlogcheck failed:\n${b.stderr}`);
});

after(async () => {
  if (server !== undefined && server.exited === undefined) await server.stop();
  await cleanupAll();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command without blocking the event loop (the server's stdout pipe must keep draining). */
function runAsync(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { ...opts, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The entry with global index i: NDJSON values of varying shape and length (some non-ASCII). */
function entryLine(i: number): string {
  return JSON.stringify({ i, verb: ['create', 'update', 'patch', 'delete'][i % 4], ns: `ns-${i % 17}`, note: 'é'.repeat(i % 5), pad: 'x'.repeat(i % 23) });
}

async function post(base: string, from: number, count: number, wait: boolean): Promise<{ treeSize?: number; checkpoint?: string; entries: { index: number }[] }> {
  const lines: string[] = [];
  for (let i = from; i < from + count; i++) lines.push(entryLine(i));
  const res = await fetch(`${base}/v1/entries${wait ? '?wait=published' : ''}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson' },
    body: lines.join('\n') + '\n',
    signal: AbortSignal.timeout(20_000),
  });
  const text = await res.text();
  assert.equal(res.status, 200, `POST ${count} entries at ${from}: ${text.slice(0, 300)}`);
  const body = JSON.parse(text) as { treeSize?: number; checkpoint?: string; entries: { index: number }[] };
  assert.equal(body.entries.length, count);
  assert.equal(body.entries[0]!.index, from, `first index of the batch at ${from}`);
  assert.equal(body.entries[count - 1]!.index, from + count - 1);
  return body;
}

/** The size and root of a checkpoint note (the Go checker re-verifies and re-parses it). */
function checkpointBody(note: string): { size: number; root: string } {
  const [origin, size, root] = note.split('\n');
  assert.ok(origin && size && root, `checkpoint: ${note}`);
  return { size: Number(size), root };
}

/** Appends FINAL_SIZE entries; at each of OLD_SIZES waits for the published checkpoint and keeps it. */
async function fillLog(s: ServerProcess): Promise<void> {
  assert.equal(s.startTreeSize, 0n);
  const stops = [...OLD_SIZES, FINAL_SIZE];
  let size = 0;
  for (const stop of stops) {
    while (size < stop) {
      // Batches of BATCH aligned to multiples of BATCH, so the log passes through many sizes.
      const n = Math.min(stop - size, BATCH - (size % BATCH));
      const last = size + n === stop;
      const r = await post(s.baseUrl, size, n, last);
      size += n;
      if (last) {
        assert.equal(r.treeSize, stop, `published size after appending up to ${stop}`);
        const cp = r.checkpoint!;
        const { size: cpSize, root } = checkpointBody(cp);
        assert.equal(cpSize, stop);
        if (stop === FINAL_SIZE) {
          finalRoot = root;
        } else {
          const file = join(workDir, `checkpoint-${stop}`);
          writeFileSync(file, cp);
          olds.push({ size: stop, root, file });
        }
      }
    }
  }
}

/** Runs the checker with a fresh sample seed (printed in failures, so a failing sample can be replayed). */
async function tlogcheck(args: string[]): Promise<Run & { seed: number }> {
  const seed = Date.now() % 1_000_000;
  return { ...(await runAsync(bin, ['-seed', String(seed), ...args])), seed };
}

test('Go sumdb/tlog + sumdb/note prove the served log: tree hash, every entry bundle, inclusion and consistency proofs', async (t) => {
  if (skipReason) return t.skip(skipReason);
  const s = server!;
  // The final checkpoint is the one /checkpoint serves (nothing is appended after fillLog).
  const now = checkpointBody(await (await fetch(`${s.baseUrl}/checkpoint`)).text());
  assert.deepEqual(now, { size: FINAL_SIZE, root: finalRoot });

  const args = [...olds.flatMap((o) => ['-oldnote', o.file]), '-samples', '200', s.baseUrl, s.vkey];
  const r = await tlogcheck(args);
  assert.equal(r.code, 0, `tlogcheck -seed ${r.seed} failed (exit ${r.code}):\n${r.stderr}\n${r.stdout}\n${s.describe()}`);
  const g = JSON.parse(r.stdout) as GoResult;
  t.diagnostic(
    `Go: size ${g.size}, ${g.entriesChecked} entries in ${g.bundles} bundles (partial ${g.partialBundleWidth}), ` +
      `${g.inclusionProofs} inclusion proofs, ${g.old?.length ?? 0} consistency proofs, ${g.hashTiles} hash tiles, ` +
      `${g.requests} requests (${g.gzipResponses} gzip), ${g.ms} ms; tiles: ${(g.tilePathsSample ?? []).join(' ')}`,
  );
  assert.equal(g.ok, true);
  assert.equal(g.origin, s.origin);
  assert.equal(g.size, FINAL_SIZE);
  assert.equal(g.root, finalRoot);
  assert.equal(g.signatures, 1);
  assert.equal(g.entriesChecked, FINAL_SIZE);
  assert.equal(g.bundles, 274);
  assert.equal(g.partialBundleWidth, 112);
  assert.equal(g.tilesAuthenticatedByParent, 273 + 1, 'every full tile (0/000..0/272, 1/000) checked against its parent');
  assert.ok(g.gzipResponses >= 274, 'entry bundles came gzip-encoded (Go asked for gzip)');
  assert.ok(g.inclusionProofs >= 150, `${g.inclusionProofs} inclusion proofs`);
  for (const i of [0, 255, 256, 65_535, 65_536, FINAL_SIZE - 1]) assert.ok(g.sampleIndexes.includes(i), `index ${i} sampled`);
  assert.deepEqual(
    (g.old ?? []).map((o) => [o.size, o.root, o.serverSame]),
    olds.map((o) => [o.size, o.root, true]),
  );
  // Go's TileHashReader asked for (and authenticated) partial tiles on all three levels.
  const tiles = g.tilePathsSample ?? [];
  for (const p of ['/tile/0/273.p/112', '/tile/1/001.p/17', '/tile/1/000', '/tile/2/000.p/1']) assert.ok(tiles.includes(p), `Go read ${p}: ${tiles.join(' ')}`);
});

test('negative controls: the Go checker fails on a wrong vkey and on a wrong old root', async (t) => {
  if (skipReason) return t.skip(skipReason);
  const s = server!;
  // Same key name (so the origin check would pass), different key.
  const wrongVkey = generateKey(s.origin).vkey;
  assert.notEqual(wrongVkey, s.vkey);
  const bad = await tlogcheck([s.baseUrl, wrongVkey]);
  assert.equal(bad.code, 1, `exit ${bad.code}: ${bad.stdout}${bad.stderr}`);
  assert.match(bad.stderr, /note verification of \/checkpoint failed: note\.Open: note has no verifiable signatures/);

  // A consistency claim against a root that is not the log's: TreeHash(old) over the authenticated tiles differs.
  const o = olds[1]!;
  const flipped = Buffer.from(o.root, 'base64');
  flipped[0]! ^= 1;
  const lie = await tlogcheck(['-samples', '0', '-old', `${o.size}:${flipped.toString('base64')}`, s.baseUrl, s.vkey]);
  assert.equal(lie.code, 1, `exit ${lie.code}: ${lie.stdout}${lie.stderr}`);
  assert.match(lie.stderr, new RegExp(`tlog\\.TreeHash\\(${o.size}\\) over the tiles of size ${FINAL_SIZE} = ${escape(o.root)}, but the old checkpoint's root is`));
});

test('negative control: a tampered full hash tile is caught (tile checked against its parent)', async (t) => {
  if (skipReason) return t.skip(skipReason);
  const s = server!;
  // /tile/1/000 is a full level-1 tile that is not on the right edge of the 70,000-entry tree, so only its
  // parent /tile/2/000.p/1 vouches for it. The proxy flips the last bit of its last hash.
  const proxy = await tamperingProxy(s.baseUrl, '/tile/1/000');
  t.after(() => new Promise<void>((resolve) => proxy.server.close(() => resolve())));
  const r = await tlogcheck(['-samples', '0', proxy.url, s.vkey]);
  assert.equal(r.code, 1, `exit ${r.code}: ${r.stdout}${r.stderr}`);
  assert.match(r.stderr, /tile \/tile\/1\/000 does not match its parent \/tile\/2\/000\.p\/1/);
  assert.ok(proxy.tampered() > 0);
  // For the record: what Go's tlog.TileHashReader alone makes of it (x/mod 0.7.0 skips some parent checks).
  const goOnly = await tlogcheck(['-samples', '0', '-no-own-tile-auth', proxy.url, s.vkey]);
  t.diagnostic(`with -no-own-tile-auth: exit ${goOnly.code}: ${goOnly.stderr.trim().slice(0, 300) || 'accepted'}`);
});

/** An HTTP proxy to `target` that flips the last bit of the body of GET `path` (bytes passed through raw). */
async function tamperingProxy(target: string, path: string): Promise<{ server: Server; url: string; tampered: () => number }> {
  let tampered = 0;
  const server = createServer((req, res) => {
    const up = httpRequest(`${target}${req.url ?? '/'}`, { method: req.method, headers: { ...req.headers, host: new URL(target).host } }, (ur) => {
      const chunks: Buffer[] = [];
      ur.on('data', (c: Buffer) => chunks.push(c));
      ur.on('end', () => {
        const body = Buffer.concat(chunks);
        if (req.url === path && body.length > 0) {
          body[body.length - 1]! ^= 1;
          tampered++;
        }
        const headers = { ...ur.headers };
        delete headers['content-length'];
        delete headers['transfer-encoding'];
        res.writeHead(ur.statusCode ?? 502, { ...headers, 'content-length': body.length });
        res.end(body);
      });
    });
    up.on('error', (e) => {
      res.writeHead(502);
      res.end(String(e));
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${addr.port}`, tampered: () => tampered };
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

