/**
 * The client library's Sigstore helpers and `tilelog verify-bundle`, against the started server:
 * sign with a local key through @sigstore/sign (RekorWitness, Rekor v2) → bundle → verify with @sigstore/verify
 * against the TrustedRoot the server publishes at /v1/trusted-root.json.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { signBundle, verifyBundle } from '../../clients/sigstore/bundles.js';
import { cleanupAll, startServer, TILELOG_BIN, type ServerProcess } from '../support/server-process.js';

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [TILELOG_BIN, ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
    });
  });
}

describe('Sigstore bundles through Tilelog', () => {
  let server: ServerProcess;
  let root: unknown;
  const dir = mkdtempSync(join(tmpdir(), 'tilelog-bundles-'));
  before(async () => {
    server = await startServer({ checkpointInterval: '200ms', batchDelay: '5ms' });
    root = await (await fetch(`${server.baseUrl}/v1/trusted-root.json`)).json();
  });
  after(async () => {
    await cleanupAll();
    rmSync(dir, { recursive: true, force: true });
  });

  const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ed25519 = generateKeyPairSync('ed25519');

  for (const [name, keys, kind] of [
    ['DSSE, P-256', p256, 'dsse'],
    ['DSSE, Ed25519', ed25519, 'dsse'],
    ['message signature, P-256', p256, 'message'],
  ] as const) {
    test(`${name}: signBundle → verifyBundle with the served trusted root; a flipped payload byte fails`, async () => {
      const data = Buffer.from(JSON.stringify({ ingress: 'shop', change: name }));
      const bundle = (await signBundle({ logUrl: server.baseUrl, privateKey: keys.privateKey, data, kind, payloadType: 'application/json' })) as Record<string, unknown>;
      const artifact = kind === 'message' ? data : undefined;
      verifyBundle({ bundle, trustedRoot: root, publicKey: keys.publicKey, ...(artifact !== undefined ? { artifact } : {}) });
      if (kind === 'message') {
        assert.throws(() => verifyBundle({ bundle, trustedRoot: root, publicKey: keys.publicKey, artifact: Buffer.from('other') }));
      } else {
        const env = bundle['dsseEnvelope'] as { payload: string };
        const tampered = { ...bundle, dsseEnvelope: { ...env, payload: Buffer.from(Buffer.from(env.payload, 'base64').map((b, i) => (i === 0 ? b ^ 1 : b))).toString('base64') } };
        assert.throws(() => verifyBundle({ bundle: tampered, trustedRoot: root, publicKey: keys.publicKey }));
      }
    });
  }

  test('tilelog verify-bundle: exit 0 for a good bundle (trusted root from --log or a file), 1 for a tampered checkpoint', async () => {
    const data = Buffer.from('artifact for the CLI');
    const bundle = (await signBundle({ logUrl: server.baseUrl, privateKey: p256.privateKey, data, kind: 'message' })) as { verificationMaterial: { tlogEntries: { inclusionProof: { checkpoint: { envelope: string } } }[] } };
    writeFileSync(join(dir, 'bundle.json'), JSON.stringify(bundle));
    writeFileSync(join(dir, 'artifact'), data);
    writeFileSync(join(dir, 'key.pem'), p256.publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(join(dir, 'root.json'), JSON.stringify(root));
    const ok = await runCli(['verify-bundle', '--bundle', join(dir, 'bundle.json'), '--artifact', join(dir, 'artifact'), '--public-key', join(dir, 'key.pem'), '--log', server.baseUrl]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /"verified":true/);
    const ok2 = await runCli(['verify-bundle', '--bundle', join(dir, 'bundle.json'), '--artifact', join(dir, 'artifact'), '--public-key', join(dir, 'key.pem'), '--trusted-root', join(dir, 'root.json')]);
    assert.equal(ok2.code, 0, ok2.stderr);
    const cp = bundle.verificationMaterial.tlogEntries[0]!.inclusionProof.checkpoint;
    cp.envelope = cp.envelope.replace(/\n([A-Za-z0-9+/])/, (_m, c: string) => `\n${c === 'A' ? 'B' : 'A'}`);
    writeFileSync(join(dir, 'bad.json'), JSON.stringify(bundle));
    const bad = await runCli(['verify-bundle', '--bundle', join(dir, 'bad.json'), '--artifact', join(dir, 'artifact'), '--public-key', join(dir, 'key.pem'), '--trusted-root', join(dir, 'root.json')]);
    assert.notEqual(bad.code, 0);
  });
});
