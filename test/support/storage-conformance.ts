/**
 * Storage conformance: every LogStorage implementation must pass these (cf. sumdb `storage/test.go`).
 * The contract is in server/storage/storage.ts. Used by test/unit/storage-conformance.test.ts (memory, LevelDB)
 * and test/e2e/s3-storage.test.ts (S3 against a real Ceph RGW).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EMPTY_EDGE, integrate } from '../../server/core/edge.js';
import { leafHash } from '../../server/core/hash.js';
import type { LogStorage } from '../../server/storage/storage.js';

export interface Backend {
  name: string;
  open(): Promise<{ storage: LogStorage; reopen(): Promise<LogStorage>; cleanup(): void }>;
}

const entries = (from: number, n: number) => Array.from({ length: n }, (_, i) => new TextEncoder().encode(`e${from + i}`));

/** Registers the conformance tests of one backend. */
export function conformance(b: Backend, opts: { skip?: string | false } = {}): void {
  describe(`storage conformance: ${b.name}`, { skip: opts.skip ?? false }, () => {
    test('a new store is empty', async () => {
      const s = await b.open();
      assert.equal(await s.storage.readTree(), undefined);
      assert.equal(await s.storage.readCheckpoint(), undefined);
      assert.deepEqual(await s.storage.lookupLeafHashes([leafHash(new Uint8Array(1))]), [undefined]);
      assert.deepEqual(await s.storage.readTiles([{ kind: 'hash', level: 0, index: 0n, width: 1 }]), [undefined]);
      await s.storage.close();
      s.cleanup();
    });

    test('commits are read back, survive reopening, and tiles are extended in place', async () => {
      const s = await b.open();
      assert.equal(await s.storage.readTree(), undefined);
      const es1 = entries(0, 300);
      const i1 = integrate(EMPTY_EDGE, es1, es1.map(leafHash));
      await s.storage.commit({ tiles: i1.tiles, leafIndexes: es1.map((e, i) => ({ leafHash: leafHash(e), leafIndex: BigInt(i) })), tree: { treeSize: 300n, rootHash: i1.rootHash } });
      const es2 = entries(300, 10);
      const i2 = integrate(i1.edge, es2, es2.map(leafHash));
      await s.storage.commit({ tiles: i2.tiles, leafIndexes: es2.map((e, i) => ({ leafHash: leafHash(e), leafIndex: 300n + BigInt(i) })), tree: { treeSize: 310n, rootHash: i2.rootHash } });
      await s.storage.writeCheckpoint('example\n310\nAAAA\n');
      await s.storage.close();
      const r = await s.reopen();
      const tree = await r.readTree();
      assert.equal(tree?.treeSize, 310n);
      assert.deepEqual(Buffer.from(tree!.rootHash), Buffer.from(i2.rootHash));
      assert.equal(await r.readCheckpoint(), 'example\n310\nAAAA\n');
      const [full, partial, bundle] = await r.readTiles([
        { kind: 'hash', level: 0, index: 0n, width: 256 },
        { kind: 'hash', level: 0, index: 1n, width: 54 },
        { kind: 'entries', level: 0, index: 1n, width: 54 },
      ]);
      assert.equal(full?.length, 256 * 32);
      assert.equal(partial?.length, 54 * 32, 'the partial tile holds its latest width');
      assert.ok(bundle !== undefined);
      assert.deepEqual(await r.lookupLeafHashes([leafHash(es1[5]!), leafHash(es2[9]!), leafHash(new Uint8Array([9]))]), [5n, 309n, undefined]);
      await r.close();
      s.cleanup();
    });
  });
}
