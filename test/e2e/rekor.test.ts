/**
 * Rekor v2 write API (server/rekor): `@sigstore/sign` (local key + RekorWitness v2) → our route → bundle →
 * `@sigstore/verify` 3.1.1 against a TrustedRoot for our log. Runs the router in-process (a Log over MemoryStorage,
 * an Ingest, express on 127.0.0.1:0) so it passes before the route is wired into the app; the last test runs the
 * same flow against the real server process.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { DSSEBundleBuilder, MessageSignatureBundleBuilder, RekorWitness, type Signer } from '@sigstore/sign';
import { bundleFromJSON, bundleToJSON, type SerializedBundle } from '@sigstore/bundle';
import { TrustedRoot, TransparencyLogEntry } from '@sigstore/protobuf-specs';
import { VerificationError, Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import { Authenticator } from '../../server/auth.js';
import { newEd25519Signer, newVerifier } from '../../server/core/keys.js';
import { Ingest } from '../../server/ingest.js';
import { Log } from '../../server/log.js';
import { Metrics } from '../../server/metrics.js';
import { MemoryStorage } from '../../server/storage/memory-storage.js';
import { rekorRoutes } from '../../server/rekor/routes.js';
import { logKeyId } from '../../server/rekor/entries.js';
import { cleanupAll, startServer } from '../support/server-process.js';

const ORIGIN = 'rekor.example.test/log';
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

interface Target {
  readonly baseUrl: string;
  readonly origin: string;
  readonly vkey: string;
}

/** A local-key signer for @sigstore/sign. */
function localSigner(type: 'ec' | 'ed25519'): { signer: Signer; publicKey: KeyObject; hint: string; spki: Buffer } {
  const { privateKey, publicKey } = type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const hint = createHash('sha256').update(spki).digest('hex');
  const signer: Signer = {
    async sign(data: Buffer) {
      return { signature: cryptoSign(type === 'ec' ? 'sha256' : null, data, privateKey), key: { $case: 'publicKey', publicKey: pem, hint } };
    },
  };
  return { signer, publicKey, hint, spki };
}

/** The trusted root of a log (sigstore.md §3): baseUrl holds the origin, logId = checkpointKeyId = full key id. */
function trustedRoot(t: Target): TrustedRoot {
  const pub = newVerifier(t.vkey).publicKey;
  const keyId = Buffer.from(logKeyId(t.origin, pub)).toString('base64');
  return TrustedRoot.fromJSON({
    mediaType: 'application/vnd.dev.sigstore.trustedroot.v0.2+json',
    tlogs: [
      {
        baseUrl: `https://${t.origin}`,
        hashAlgorithm: 'SHA2_256',
        publicKey: { rawBytes: Buffer.concat([SPKI_ED25519_PREFIX, pub]).toString('base64'), keyDetails: 'PKIX_ED25519', validFor: { start: '2020-01-01T00:00:00Z' } },
        logId: { keyId },
        checkpointKeyId: { keyId },
      },
    ],
    certificateAuthorities: [],
    ctlogs: [],
    timestampAuthorities: [],
  });
}

function verifyBundle(t: Target, json: SerializedBundle, key: { hint: string; spki: Buffer }, artifact?: Buffer): void {
  const trust = toTrustMaterial(trustedRoot(t), { [key.hint]: { rawBytes: key.spki, keyDetails: 0 } });
  const verifier = new Verifier(trust, { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 0 });
  verifier.verify(toSignedEntity(bundleFromJSON(json), artifact));
}

function witness(t: Target): RekorWitness {
  return new RekorWitness({ rekorBaseURL: t.baseUrl, majorApiVersion: 2, timeout: 20000, retry: 0 });
}

const clone = (b: SerializedBundle): SerializedBundle => JSON.parse(JSON.stringify(b)) as SerializedBundle;
function flipB64(s: string, at = 0): string {
  const b = Buffer.from(s, 'base64');
  b[at] = (b[at] as number) ^ 0x01;
  return b.toString('base64');
}

async function postJson(t: Target, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${t.baseUrl}/api/v2/log/entries`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

function hashedRekordRequest(_key: KeyObject, spki: Buffer, artifact: Buffer, sig: Buffer): unknown {
  return {
    hashedRekordRequestV002: {
      digest: createHash('sha256').update(artifact).digest('base64'),
      signature: { content: sig.toString('base64'), verifier: { publicKey: { rawBytes: spki.toString('base64') }, keyDetails: 'PKIX_ECDSA_P256_SHA_256' } },
    },
  };
}

/** The tests, against any server serving the routes. */
function suite(target: () => Target): void {
  test('DSSE bundle with a P-256 key verifies; flipped payload / signature / proof hash / checkpoint fail', async () => {
    const t = target();
    const k = localSigner('ec');
    // A first entry, so the proof of the second has hashes.
    await new DSSEBundleBuilder({ signer: k.signer, witnesses: [witness(t)] }).create({ data: Buffer.from('{"n":0}'), type: 'application/json' });
    const bundle = await new DSSEBundleBuilder({ signer: k.signer, witnesses: [witness(t)] }).create({ data: Buffer.from(JSON.stringify({ event: 'deploy', at: Date.now() })), type: 'application/json' });
    const json = bundleToJSON(bundle);
    verifyBundle(t, json, k);
    const entry = json.verificationMaterial.tlogEntries[0];
    assert.ok(entry?.inclusionProof);
    assert.equal(entry.kindVersion?.kind, 'dsse');
    assert.equal(entry.kindVersion?.version, '0.0.2');
    assert.ok(entry.inclusionProof.hashes.length > 0);

    const cases: [string, (b: SerializedBundle) => void][] = [
      ['payload', (b) => void (b.dsseEnvelope!.payload = flipB64(b.dsseEnvelope!.payload))],
      ['signature', (b) => void (b.dsseEnvelope!.signatures[0]!.sig = flipB64(b.dsseEnvelope!.signatures[0]!.sig, 10))],
      ['inclusion proof hash', (b) => void (b.verificationMaterial.tlogEntries[0]!.inclusionProof!.hashes[0] = flipB64(b.verificationMaterial.tlogEntries[0]!.inclusionProof!.hashes[0]!))],
      [
        'checkpoint',
        (b) => {
          const cp = b.verificationMaterial.tlogEntries[0]!.inclusionProof!.checkpoint;
          const lines = cp.envelope.split('\n');
          lines[2] = flipB64(lines[2]!);
          cp.envelope = lines.join('\n');
        },
      ],
      ['canonicalized body', (b) => void (b.verificationMaterial.tlogEntries[0]!.canonicalizedBody = flipB64(b.verificationMaterial.tlogEntries[0]!.canonicalizedBody, 40))],
    ];
    for (const [what, tamper] of cases) {
      const bad = clone(json);
      tamper(bad);
      assert.throws(
        () => verifyBundle(t, bad, k),
        (err: unknown) => {
          if (process.env['REKOR_TEST_DEBUG']) console.log(what, '→', (err as { code?: string }).code, (err as Error).message);
          return err instanceof VerificationError;
        },
        `a bundle with a flipped ${what} must not verify`,
      );
    }
  });

  test('DSSE bundle with an Ed25519 key verifies', async () => {
    const t = target();
    const k = localSigner('ed25519');
    const bundle = await new DSSEBundleBuilder({ signer: k.signer, witnesses: [witness(t)] }).create({ data: Buffer.from('{"ed":25519}'), type: 'application/json' });
    verifyBundle(t, bundleToJSON(bundle), k);
  });

  test('message-signature bundle with a P-256 key verifies; another artifact does not', async () => {
    const t = target();
    const k = localSigner('ec');
    const artifact = Buffer.from(`artifact ${Date.now()} ${Math.random()}`);
    const bundle = await new MessageSignatureBundleBuilder({ signer: k.signer, witnesses: [witness(t)] }).create({ data: artifact });
    const json = bundleToJSON(bundle);
    assert.equal(json.verificationMaterial.tlogEntries[0]?.kindVersion?.kind, 'hashedrekord');
    verifyBundle(t, json, k, artifact);
    const other = Buffer.from(artifact);
    other[0] = (other[0] as number) ^ 1;
    assert.throws(() => verifyBundle(t, json, k, other), VerificationError);
  });

  test('a signature that does not match its key is refused with a Rekor-style 400; Ed25519 hashedrekord too', async () => {
    const t = target();
    const k = localSigner('ec');
    const artifact = Buffer.from('signed by someone else');
    const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const r = await postJson(t, hashedRekordRequest(k.publicKey, k.spki, artifact, cryptoSign('sha256', artifact, otherKey)));
    assert.equal(r.status, 400);
    assert.equal(r.json['code'], 400);
    assert.match(String(r.json['message']), /does not verify/);

    const ed = generateKeyPairSync('ed25519');
    const edSpki = ed.publicKey.export({ type: 'spki', format: 'der' });
    const r2 = await postJson(t, hashedRekordRequest(ed.publicKey, edSpki, artifact, cryptoSign(null, artifact, ed.privateKey)));
    assert.equal(r2.status, 400);
    assert.match(String(r2.json['message']), /Ed25519/);

    // DSSE whose signature is over another payload.
    const pae = (p: Buffer) => Buffer.concat([Buffer.from(`DSSEv1 16 application/json ${p.length} `), p]);
    const sig = cryptoSign('sha256', pae(Buffer.from('{"a":1}')), otherKey);
    const r3 = await postJson(t, {
      dsseRequestV002: {
        envelope: { payload: Buffer.from('{"a":2}').toString('base64'), payloadType: 'application/json', signatures: [{ sig: sig.toString('base64'), keyid: '' }] },
        verifiers: [{ x509Certificate: { rawBytes: k.spki.toString('base64') }, keyDetails: 'PKIX_ECDSA_P256_SHA_256' }],
      },
    });
    assert.equal(r3.status, 400);
    assert.equal(r3.json['code'], 400);

    const r4 = await postJson(t, { nothing: true });
    assert.equal(r4.status, 400);
  });

  test('a duplicate submission returns the first entry (same logIndex, 2xx); RSA keys are accepted', async () => {
    const t = target();
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const spki = rsa.publicKey.export({ type: 'spki', format: 'der' });
    const artifact = Buffer.from(`rsa artifact ${Date.now()}`);
    const req = hashedRekordRequest(rsa.publicKey, spki, artifact, cryptoSign('sha256', artifact, rsa.privateKey));
    const a = await postJson(t, req);
    assert.equal(a.status, 201, JSON.stringify(a.json));
    const b = await postJson(t, req);
    assert.ok(b.status >= 200 && b.status < 300);
    assert.equal(b.json['logIndex'], a.json['logIndex']);
    assert.equal(b.json['canonicalizedBody'], a.json['canonicalizedBody']);
    const tle = TransparencyLogEntry.fromJSON(b.json);
    assert.equal(tle.logIndex, a.json['logIndex']);
    assert.equal(Buffer.from(tle.logId!.keyId).toString('base64'), Buffer.from(logKeyId(t.origin, newVerifier(t.vkey).publicKey)).toString('base64'));
    assert.equal(tle.logId!.keyId.length, 32);
  });

  test('GET /api/v2/checkpoint serves the signed checkpoint', async () => {
    const t = target();
    const res = await fetch(`${t.baseUrl}/api/v2/checkpoint`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await res.text();
    assert.ok(text.startsWith(`${t.origin}\n`));
    assert.match(text, /\n\n\u2014 /);
  });
}

describe('rekor v2 API (in-process router)', () => {
  let log: Log;
  let server: Server;
  let t: Target;
  before(async () => {
    const signer = newEd25519Signer(ORIGIN, new Uint8Array(32).fill(9));
    log = await Log.open({ storage: new MemoryStorage(), signer, origin: ORIGIN, sequencer: { batchSize: 64, batchDelayMs: 2, maxPending: 10_000 }, checkpointIntervalMs: 100 });
    const ingest = new Ingest(log, undefined, new Metrics());
    const app = express();
    app.use(rekorRoutes({ log, ingest, auth: new Authenticator(undefined), maxBodyBytes: 1 << 20 }));
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    t = { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, origin: ORIGIN, vkey: signer.vkey };
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await log.drain();
    await log.close();
  });
  suite(() => t);
});

describe('rekor v2 API (real server process)', () => {
  after(cleanupAll);
  test('sign → our log → verify through the started server', async () => {
    const s = await startServer({ checkpointInterval: '200ms' });
    const t: Target = { baseUrl: s.baseUrl, origin: s.origin, vkey: s.vkey };
    // An empty request is refused by the mounted route with a Rekor-style 400.
    const probe = await fetch(`${t.baseUrl}/api/v2/log/entries`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    await probe.arrayBuffer();
    assert.equal(probe.status, 400);
    const k = localSigner('ec');
    const bundle = await new DSSEBundleBuilder({ signer: k.signer, witnesses: [witness(t)] }).create({ data: Buffer.from('{"real":true}'), type: 'application/json' });
    verifyBundle(t, bundleToJSON(bundle), k);
    const artifact = Buffer.from(`real artifact ${Date.now()}`);
    const m = await new MessageSignatureBundleBuilder({ signer: k.signer, witnesses: [witness(t)] }).create({ data: artifact });
    verifyBundle(t, bundleToJSON(m), k, artifact);
  });
});
