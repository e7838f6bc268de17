/**
 * Rekor v2 entries: the canonicalized entry body (the bytes stored as the log leaf) and the
 * `TransparencyLogEntry` JSON reply, exactly as Rekor v2 (sigstore/rekor-tiles) encodes them:
 *
 *   {"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":{"data":{"algorithm":"SHA2_256","digest":"<b64>"},
 *     "signature":{"content":"<b64>","verifier":{"keyDetails":"…","publicKey":{"rawBytes":"<b64 SPKI>"}}}}}}
 *   {"apiVersion":"0.0.2","kind":"dsse","spec":{"dsseV002":{"payloadHash":{"algorithm":"SHA2_256","digest":"<b64>"},
 *     "signatures":[{"content":"<b64>","verifier":{…}}]}}}
 *
 * canonicalized with RFC 8785 (`canonicalize`). Protobuf JSON conventions: bytes as standard base64, int64 as
 * decimal strings, camelCase names.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { canonicalBytes } from '../ingest/canonical.js';
import { malformed } from '../core/errors.js';
import { encodeBase64 } from '../core/strict.js';
import { dssePae, parseVerifierKey, verifyDigestSignature, verifyMessageSignature, type ParsedKey } from './verify-signature.js';

/** A verifier as it is recorded in the entry: the submitted certificate, or the key as SPKI. */
interface RecordedVerifier {
  readonly parsed: ParsedKey;
  readonly json: Record<string, unknown>;
}

/** A verified request, ready to be logged. */
export interface RekorEntry {
  readonly kind: 'hashedrekord' | 'dsse';
  readonly apiVersion: '0.0.2';
  /** The canonical JSON bytes: the log leaf. */
  readonly body: Uint8Array;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest();

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Strict standard base64 (protobuf JSON also allows URL-safe base64; accept both, padding optional). */
function bytesField(v: unknown, what: string): Buffer {
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(v)) throw malformed(`${what}: want base64`);
  const b = Buffer.from(v.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (b.length === 0) throw malformed(`${what}: empty`);
  return b;
}

/** Parses a Rekor v2 `Verifier` (`{publicKey:{rawBytes}} | {x509Certificate:{rawBytes}}`, keyDetails ignored). */
function parseVerifier(v: unknown, what: string): RecordedVerifier {
  if (!isObject(v)) throw malformed(`${what}: want an object`);
  const cert = v['x509Certificate'];
  const pk = v['publicKey'];
  if ((cert === undefined) === (pk === undefined)) throw malformed(`${what}: want exactly one of publicKey and x509Certificate`);
  const holder = (cert ?? pk) as unknown;
  if (!isObject(holder)) throw malformed(`${what}: want {rawBytes}`);
  const raw = bytesField(holder['rawBytes'], `${what}.rawBytes`);
  const parsed = parseVerifierKey(raw);
  // sigstore-js labels a bare key `x509Certificate`: record what the bytes really are.
  // A certificate is recorded as DER (also when it was sent as PEM).
  let certDer: Buffer | undefined;
  if (cert !== undefined) {
    try {
      certDer = new X509Certificate(raw).raw;
    } catch {
      certDer = undefined;
    }
  }
  const json: Record<string, unknown> = certDer !== undefined
    ? { keyDetails: parsed.keyDetails, x509Certificate: { rawBytes: encodeBase64(certDer) } }
    : { keyDetails: parsed.keyDetails, publicKey: { rawBytes: encodeBase64(parsed.spki) } };
  return { parsed, json };
}

function canonical(entry: unknown): Uint8Array {
  return canonicalBytes(entry, 'entry');
}

/** hashedRekordRequestV002 → verified, canonical hashedrekord 0.0.2 entry. MALFORMED (400) on any failure. */
export function hashedRekordEntry(req: unknown): RekorEntry {
  if (!isObject(req)) throw malformed('hashedRekordRequestV002: want an object');
  const digest = bytesField(req['digest'], 'hashedRekordRequestV002.digest');
  if (digest.length !== 32) throw malformed('hashedRekordRequestV002.digest: want a 32-byte SHA-256 digest');
  const sig = req['signature'];
  if (!isObject(sig)) throw malformed('hashedRekordRequestV002.signature: want an object');
  const content = bytesField(sig['content'], 'hashedRekordRequestV002.signature.content');
  const verifier = parseVerifier(sig['verifier'], 'hashedRekordRequestV002.signature.verifier');
  verifyDigestSignature(verifier.parsed, digest, content);
  const entry = {
    apiVersion: '0.0.2',
    kind: 'hashedrekord',
    spec: { hashedRekordV002: { data: { algorithm: 'SHA2_256', digest: encodeBase64(digest) }, signature: { content: encodeBase64(content), verifier: verifier.json } } },
  };
  return { kind: 'hashedrekord', apiVersion: '0.0.2', body: canonical(entry) };
}

/**
 * dsseRequestV002 → verified, canonical dsse 0.0.2 entry. Every envelope signature must verify over the PAE with
 * one of the verifiers; every verifier must be used (Rekor v2's rule). MALFORMED (400) on any failure.
 */
export function dsseEntry(req: unknown): RekorEntry {
  if (!isObject(req)) throw malformed('dsseRequestV002: want an object');
  const env = req['envelope'];
  if (!isObject(env)) throw malformed('dsseRequestV002.envelope: want an object');
  const payload = bytesField(env['payload'], 'dsseRequestV002.envelope.payload');
  const payloadType = env['payloadType'];
  if (typeof payloadType !== 'string' || payloadType === '') throw malformed('dsseRequestV002.envelope.payloadType: want a string');
  const sigs = env['signatures'];
  if (!Array.isArray(sigs) || sigs.length === 0) throw malformed('dsseRequestV002.envelope.signatures: want at least one');
  const vs = req['verifiers'];
  if (!Array.isArray(vs) || vs.length === 0) throw malformed('dsseRequestV002.verifiers: want at least one');
  const verifiers = vs.map((v, i) => parseVerifier(v, `dsseRequestV002.verifiers[${i}]`));
  const pae = dssePae(payloadType, payload);
  const used = new Set<number>();
  const signatures = sigs.map((s, i) => {
    if (!isObject(s)) throw malformed(`dsseRequestV002.envelope.signatures[${i}]: want an object`);
    const content = bytesField(s['sig'], `dsseRequestV002.envelope.signatures[${i}].sig`);
    const j = verifiers.findIndex((v) => verifyMessageSignature(v.parsed, pae, content));
    if (j < 0) throw malformed(`dsseRequestV002: signature ${i} does not verify with any of the given verifiers`);
    used.add(j);
    return { content: encodeBase64(content), verifier: (verifiers[j] as RecordedVerifier).json };
  });
  if (used.size !== verifiers.length) throw malformed('dsseRequestV002: a verifier matches no signature');
  const entry = {
    apiVersion: '0.0.2',
    kind: 'dsse',
    spec: { dsseV002: { payloadHash: { algorithm: 'SHA2_256', digest: encodeBase64(sha256(payload)) }, signatures } },
  };
  return { kind: 'dsse', apiVersion: '0.0.2', body: canonical(entry) };
}

/** A `CreateEntryRequest` JSON object → verified entry. MALFORMED (400) if neither or both specs are given. */
export function entryFromRequest(req: unknown): RekorEntry {
  if (!isObject(req)) throw malformed('want a JSON object');
  const h = req['hashedRekordRequestV002'];
  const d = req['dsseRequestV002'];
  if ((h === undefined) === (d === undefined)) throw malformed('want exactly one of hashedRekordRequestV002 and dsseRequestV002');
  return h !== undefined ? hashedRekordEntry(h) : dsseEntry(d);
}

/** The log's full 32-byte key id, as rekor-tiles' note.KeyHash: SHA-256(origin || 0x0A || 0x01 || pub). */
export function logKeyId(origin: string, publicKey: Uint8Array): Uint8Array {
  return new Uint8Array(sha256(Buffer.concat([Buffer.from(origin, 'utf8'), Buffer.from([0x0a, 0x01]), publicKey])));
}

/** The root hash (third line, base64) of a signed checkpoint's text. */
export function checkpointRoot(checkpoint: string): Uint8Array {
  const line = checkpoint.split('\n')[2];
  if (line === undefined) throw new Error('tlog: bad math: checkpoint without a root line');
  return new Uint8Array(Buffer.from(line, 'base64'));
}

/** The `TransparencyLogEntry` JSON (protobuf JSON mapping) of a logged entry. */
export function transparencyLogEntry(o: {
  readonly entry: Pick<RekorEntry, 'kind' | 'apiVersion' | 'body'>;
  readonly logIndex: bigint;
  readonly keyId: Uint8Array;
  readonly treeSize: bigint;
  readonly proof: readonly Uint8Array[];
  readonly checkpoint: string;
}): Record<string, unknown> {
  return {
    logIndex: o.logIndex.toString(),
    logId: { keyId: encodeBase64(o.keyId) },
    kindVersion: { kind: o.entry.kind, version: o.entry.apiVersion },
    integratedTime: '0',
    inclusionProof: {
      logIndex: o.logIndex.toString(),
      rootHash: encodeBase64(checkpointRoot(o.checkpoint)),
      treeSize: o.treeSize.toString(),
      hashes: o.proof.map((h) => encodeBase64(h)),
      checkpoint: { envelope: o.checkpoint },
    },
    canonicalizedBody: encodeBase64(o.entry.body),
  };
}
