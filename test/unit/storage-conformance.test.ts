/**
 * Storage conformance of the embedded backends (the suite is in test/support/storage-conformance.ts; the S3
 * backend runs it in test/e2e/s3-storage.test.ts against a real Ceph RGW).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { LevelStorage } from '../../server/storage/level-storage.js';
import { MemoryStorage } from '../../server/storage/memory-storage.js';
import { conformance, type Backend } from '../support/storage-conformance.js';

const backends: Backend[] = [
  {
    name: 'memory',
    async open() {
      const storage = new MemoryStorage();
      return { storage, reopen: async () => storage, cleanup: () => {} };
    },
  },
  {
    name: 'level',
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'tilelog-storage-'));
      const storage = await LevelStorage.open(dir);
      return { storage, reopen: () => LevelStorage.open(dir), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
];

for (const b of backends) conformance(b);

describe('level storage holds the data directory lock', () => {
  test('a second open of the same directory fails instead of corrupting the log', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tilelog-lock-'));
    const a = await LevelStorage.open(dir);
    await assert.rejects(LevelStorage.open(dir));
    await a.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
