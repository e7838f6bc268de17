/**
 * Sigstore trust material and the Rekor v2 read aliases, against the started server: the served TrustedRoot
 * parses with Sigstore's own protobuf-specs codec, names this log's key the way checkpoint signatures do, and
 * `/api/v2/checkpoint` and `/api/v2/tile/…` serve the same bytes as the C2SP paths.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import { parseNote } from '../../server/core/note.js';
import { newVerifier } from '../../server/core/keys.js';
import { cleanupAll, startServer, type ServerProcess } from '../support/server-process.js';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { TrustedRoot } = require('@sigstore/protobuf-specs') as { TrustedRoot: { fromJSON(j: unknown): { tlogs: { baseUrl: string; logId?: { keyId: Buffer }; checkpointKeyId?: { keyId: Buffer }; publicKey?: { rawBytes?: Buffer } }[] } } };

describe('Sigstore trust material and /api/v2 read aliases', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServer({ checkpointInterval: '100ms', batchDelay: '5ms', origin: 'tilelog.example.test/log' });
    await fetch(`${server.baseUrl}/v1/entries?wait=published`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: 'hello' });
  });
  after(cleanupAll);

  test('GET /v1/trusted-root.json: a TrustedRoot whose log key id matches the checkpoint signatures', async () => {
    const r = await fetch(`${server.baseUrl}/v1/trusted-root.json`);
    assert.equal(r.status, 200);
    const root = TrustedRoot.fromJSON(await r.json());
    const tlog = root.tlogs[0]!;
    assert.ok(tlog.baseUrl.includes(server.origin), 'baseUrl must contain the checkpoint key name');
    assert.equal(tlog.logId?.keyId.length, 32);
    assert.deepEqual(tlog.checkpointKeyId?.keyId, tlog.logId?.keyId);
    const checkpoint = await (await fetch(`${server.baseUrl}/checkpoint`)).text();
    const sig = parseNote(checkpoint).signatures[0]!;
    assert.equal(tlog.logId!.keyId.readUInt32BE(0), sig.keyId, 'the first 4 bytes of logId are the note key id');
    const pub = newVerifier(server.vkey).publicKey;
    assert.deepEqual(tlog.publicKey?.rawBytes?.subarray(-32), Buffer.from(pub), 'SPKI DER ends with the Ed25519 key');
  });

  test('/api/v2/checkpoint and /api/v2/tile/… serve the same bytes as /checkpoint and /tile/…', async () => {
    for (const [a, b] of [['/api/v2/checkpoint', '/checkpoint'], ['/api/v2/tile/0/000.p/1', '/tile/0/000.p/1'], ['/api/v2/tile/entries/000.p/1', '/tile/entries/000.p/1']] as const) {
      const ra = await fetch(`${server.baseUrl}${a}`, { headers: { 'accept-encoding': 'identity' } });
      const rb = await fetch(`${server.baseUrl}${b}`, { headers: { 'accept-encoding': 'identity' } });
      assert.equal(ra.status, 200, a);
      assert.deepEqual(Buffer.from(await ra.arrayBuffer()), Buffer.from(await rb.arrayBuffer()), a);
      assert.equal(ra.headers.get('content-type'), rb.headers.get('content-type'));
    }
    assert.equal((await fetch(`${server.baseUrl}/api/v2/tile/0/999`)).status, 404);
    assert.equal((await fetch(`${server.baseUrl}/api/v2/nothing`)).status, 404);
  });
});
