/**
 * Backup and restore of the data directory, as docs/operations.md describes it:
 * - cold backup: stop the server (SIGTERM drains and publishes), copy the directory, start from the copy: the same
 *   checkpoint, entries and proofs; fsck passes on the copy; the restored log grows consistently;
 * - crash-consistent snapshot (a volume snapshot is a copy of the disk at one instant, as after kill -9): copy after
 *   SIGKILL, start from the copy: every acknowledged entry is there, the checkpoint is at least the last one
 *   served, fsck passes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { parseCheckpoint } from '../../server/core/checkpoint.js';
import { verifyConsistency } from '../../server/core/proof.js';
import { decodeBase64Strict } from '../../server/core/strict.js';
import { cleanupAll, newDataDir, REPO_ROOT, ServerProcess, startServer, TILELOG_BIN } from '../support/server-process.js';

const get = async (s: ServerProcess, path: string): Promise<string> => {
  const r = await fetch(`${s.baseUrl}${path}`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(r.status, 200, `${path}: ${r.status}`);
  return Buffer.from(await r.arrayBuffer()).toString('latin1');
};

async function add(s: ServerProcess, from: number, n: number): Promise<{ checkpoint: string }> {
  const body = Array.from({ length: n }, (_, i) => JSON.stringify({ backup: from + i })).join('\n');
  const r = await fetch(`${s.baseUrl}/v1/entries?wait=published`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body, signal: AbortSignal.timeout(20_000) });
  const text = await r.text();
  assert.equal(r.status, 200, text);
  return JSON.parse(text) as { checkpoint: string };
}

function fsck(dir: string): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [TILELOG_BIN, 'fsck', '--data', dir], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, out: r.stdout + r.stderr };
}

const b64 = (s: string): Uint8Array => decodeBase64Strict(s);

describe('backup and restore of the data directory', () => {
  after(cleanupAll);

  test('cold backup: stop, copy, start from the copy: same checkpoint and proofs; fsck clean; grows consistently', async (t) => {
    const original = await startServer({ checkpointInterval: '100ms' }, t);
    await add(original, 0, 300);
    const reads = ['/checkpoint', '/v1/proof/inclusion?index=5', '/v1/proof/inclusion?index=299', '/v1/proof/consistency?from=100', '/v1/entries/42', '/tile/0/000', '/tile/entries/000', '/tile/1/000.p/1', '/v1/log'];
    const before = await Promise.all(reads.map((p) => get(original, p)));
    await original.stop();

    const copy = newDataDir('tilelog-restore-');
    cpSync(original.dataDir, copy, { recursive: true });
    const check = fsck(copy);
    assert.equal(check.status, 0, check.out);

    const restored = await ServerProcess.start({ dataDir: copy, checkpointInterval: '100ms' });
    assert.equal(restored.vkey, original.vkey, 'same key (it lives in the data directory here)');
    const afterRestore = await Promise.all(reads.map((p) => get(restored, p)));
    // /v1/log carries integratedTreeSize too, equal here; everything is byte-identical.
    assert.deepEqual(afterRestore, before);

    // The restored log goes on from where the backup was taken, consistently with the old checkpoint.
    const old = parseCheckpoint(before[0]?.split('\n\n')[0] + '\n');
    const grown = await add(restored, 300, 50);
    const now = parseCheckpoint(grown.checkpoint.split('\n\n')[0] + '\n');
    assert.equal(now.treeSize, 350n);
    const proof = JSON.parse(await get(restored, `/v1/proof/consistency?from=${old.treeSize}&to=${now.treeSize}`)) as { proof: string[] };
    assert.ok(verifyConsistency(old.treeSize, now.treeSize, old.rootHash, now.rootHash, proof.proof.map(b64)));
    await restored.stop();
  });

  test('crash-consistent snapshot: copy after kill -9, start from the copy: nothing acknowledged is lost; fsck clean', async (t) => {
    const original = await startServer({ checkpointInterval: '100ms' }, t);
    await add(original, 0, 200);
    const last = await add(original, 200, 57);
    const served = parseCheckpoint(last.checkpoint.split('\n\n')[0] + '\n');
    await original.kill();

    const snapshot = newDataDir('tilelog-snapshot-');
    cpSync(original.dataDir, snapshot, { recursive: true });
    const check = fsck(snapshot);
    assert.equal(check.status, 0, check.out);

    const restored = await ServerProcess.start({ dataDir: snapshot, checkpointInterval: '100ms' });
    const cp = parseCheckpoint((await get(restored, '/checkpoint')).split('\n\n')[0] + '\n');
    assert.ok(cp.treeSize >= served.treeSize, `checkpoint ${cp.treeSize} ≥ last served ${served.treeSize}`);
    assert.equal(await get(restored, '/v1/entries/256'), JSON.stringify({ backup: 256 }));
    const proof = JSON.parse(await get(restored, `/v1/proof/consistency?from=${served.treeSize}&to=${cp.treeSize}`)) as { proof: string[] };
    assert.ok(verifyConsistency(served.treeSize, cp.treeSize, served.rootHash, cp.rootHash, proof.proof.map(b64)));
    await restored.stop();
  });
});
