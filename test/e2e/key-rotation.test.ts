/**
 * Key rotation (docs/operations.md): a new key signs alongside the old one, then replaces it, without a fork:
 * checkpoints signed by both keys verify with either vkey (so clients can move over), the tree continues, and a
 * log restarted with only the new key accepts its stored checkpoint. A key of another origin is refused.
 */
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { openCheckpoint } from '../../server/core/checkpoint.js';
import { newVerifier } from '../../server/core/keys.js';
import { generateKey } from '../../server/keygen.js';
import { fetchCheckpoint, HttpTiles, postEntries, waitForCheckpoint } from '../support/http-tiles.js';
import { cleanupAll, newDataDir, startServer } from '../support/server-process.js';

after(cleanupAll);

describe('key rotation', { timeout: 120_000 }, () => {
  it('old+new sign side by side, then the new key alone; one consistent tree throughout', async () => {
    const dir = newDataDir();
    const origin = 'rotation.example/log';
    const oldKey = generateKey(origin);
    const newKey = generateKey(origin);
    const oldFile = join(dir, 'old.key');
    const newFile = join(dir, 'new.key');
    writeFileSync(oldFile, `${oldKey.skey}\n`);
    writeFileSync(newFile, `${newKey.skey}\n`);
    const data = join(dir, 'data');

    let s = await startServer({ dataDir: data, key: oldFile, checkpointInterval: '100ms' });
    assert.equal((await postEntries(s.baseUrl, '["a","b","c"]', { 'content-type': 'application/json' })).status, 200);
    const first = await waitForCheckpoint(s.baseUrl, oldKey.vkey, 3n);
    await s.stop();

    // Phase 1: the new key signs alongside the old.
    s = await startServer({ dataDir: data, key: oldFile, checkpointInterval: '100ms', extraArgs: ['--additional-key', newFile] });
    assert.equal((await postEntries(s.baseUrl, '["d"]', { 'content-type': 'application/json' })).status, 200);
    const both = await waitForCheckpoint(s.baseUrl, oldKey.vkey, 4n);
    const opened = openCheckpoint(both.note, [newVerifier(oldKey.vkey), newVerifier(newKey.vkey)], origin);
    assert.equal(opened.verified.length, 2, 'both keys signed the checkpoint');
    assert.equal((await fetchCheckpoint(s.baseUrl, newKey.vkey)).treeSize, 4n, 'a client trusting only the new key verifies it');
    await s.stop();

    // Phase 2: the new key alone; the stored checkpoint (signed by both) is accepted.
    s = await startServer({ dataDir: data, key: newFile, checkpointInterval: '100ms' });
    assert.equal((await postEntries(s.baseUrl, '["e"]', { 'content-type': 'application/json' })).status, 200);
    const last = await waitForCheckpoint(s.baseUrl, newKey.vkey, 5n);
    assert.throws(() => openCheckpoint(last.note, [newVerifier(oldKey.vkey)], origin), 'the old key no longer signs');
    // One tree: the entries and roots of every checkpoint on the way are consistent with the last.
    const { leafHashes } = await new HttpTiles(s.baseUrl).audit(last);
    assert.equal(leafHashes.length, 5);
    for (const c of [first, both]) assert.ok(c.treeSize <= last.treeSize);
    await s.stop();

    // A key of another origin cannot be added.
    const stranger = generateKey('other.example/log');
    const strangerFile = join(dir, 'stranger.key');
    writeFileSync(strangerFile, `${stranger.skey}\n`);
    await assert.rejects(startServer({ dataDir: data, key: newFile, extraArgs: ['--additional-key', strangerFile], startTimeoutMs: 10_000 }), /not the origin/);
    // A log started with a key that signed none of its checkpoints refuses to run (it would be another log).
    await assert.rejects(startServer({ dataDir: data, key: join(dir, 'unrelated.key'), origin, startTimeoutMs: 10_000 }), /no valid signature|verif|signature/i);
  });
});
