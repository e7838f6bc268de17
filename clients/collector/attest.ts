/**
 * Signing at the source: for each acknowledged batch the collector signs an in-toto Statement v1 in a DSSE
 * envelope with its own key (`@sigstore/sign` DSSEBundleBuilder) and logs it through the log's Rekor v2
 * endpoint (`POST /api/v2/log/entries`, dsseRequestV002). The result is a Sigstore bundle (v0.3) that anyone
 * holding the collector's public key verifies with `@sigstore/verify` (see docs/collector.md#attestations).
 *
 * Statement:
 * ```
 * { "_type": "https://in-toto.io/Statement/v1",
 *   "subject": [ { "name": "<origin>/<leafIndex>", "digest": { "rfc6962LeafSha256": "<hex leaf hash>" } }, … ],
 *   "predicateType": "https://tilelog.dev/attestations/collector-batch/v1",
 *   "predicate": { "collector", "node", "log": {"origin"}, "batch", "records", "duplicates",
 *                  "inputs": [{"name","records"}], "timeRange": {"from","to"}, "firstIndex", "lastIndex" } }
 * ```
 * The subjects are the batch's RFC 6962 leaf hashes (SHA-256(0x00 ‖ entry)): whoever holds an entry recomputes
 * its leaf hash and finds it among the subjects. `timeRange` is when the records were spooled (read) here.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { bundleToJSON } from '@sigstore/bundle';
import { PublicKeyDetails, TransparencyLogEntry } from '@sigstore/protobuf-specs';
import { CreateEntryRequest } from '@sigstore/protobuf-specs/rekor/v2';
import { DSSEBundleBuilder, type SignatureBundle, type VerificationMaterial, type Witness } from '@sigstore/sign';
import { localKeySigner } from '../sigstore/bundles.js';
import type { AckedBatch } from './spool.js';
import type { TokenFile } from './transport.js';

export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const PREDICATE_TYPE = 'https://tilelog.dev/attestations/collector-batch/v1';
export const PAYLOAD_TYPE = 'application/vnd.in-toto+json';
/** The DigestSet key of a subject's RFC 6962 leaf hash. */
export const LEAF_DIGEST = 'rfc6962LeafSha256';

/** Reads the collector's signing key: a PEM (PKCS#8 or SEC1) Ed25519 or ECDSA P-256 private key. */
export function readSigningKey(pemOrPath: string): KeyObject {
  const pem = pemOrPath.includes('-----BEGIN') ? pemOrPath : readFileSync(pemOrPath, 'utf8');
  const key = createPrivateKey(pem);
  const t = key.asymmetricKeyType;
  if (t === 'ed25519') return key;
  if (t === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return key;
  throw new Error(`signing key: want an Ed25519 or ECDSA P-256 private key, got ${t ?? 'unknown'}${t === 'ec' ? ` (${String(key.asymmetricKeyDetails?.namedCurve)})` : ''}`);
}

export interface CollectorIdentity {
  readonly collector: string;
  readonly node?: string;
  readonly origin: string;
}

/** The in-toto Statement of an acknowledged batch (see the module comment). */
export function batchStatement(id: CollectorIdentity, batch: AckedBatch): Record<string, unknown> {
  let first: bigint | undefined;
  let last: bigint | undefined;
  let duplicates = 0;
  const subject = batch.entries.map((e) => {
    const i = BigInt(e.index);
    if (first === undefined || i < first) first = i;
    if (last === undefined || i > last) last = i;
    if (e.duplicate) duplicates++;
    return { name: `${id.origin}/${e.index}`, digest: { [LEAF_DIGEST]: Buffer.from(e.leafHash, 'base64').toString('hex') } };
  });
  return {
    _type: STATEMENT_TYPE,
    subject,
    predicateType: PREDICATE_TYPE,
    predicate: {
      collector: id.collector,
      ...(id.node !== undefined ? { node: id.node } : {}),
      log: { origin: id.origin },
      batch: batch.id,
      records: batch.entries.length,
      duplicates,
      inputs: Object.entries(batch.inputs).map(([name, records]) => ({ name, records })),
      timeRange: { from: batch.from, to: batch.to },
      ...(first !== undefined ? { firstIndex: first.toString(), lastIndex: (last as bigint).toString() } : {}),
    },
  };
}

/**
 * A Rekor v2 witness for `@sigstore/sign` that sends the writer's bearer token (the stock RekorWitness cannot
 * send headers). Same request as RekorWitness with majorApiVersion 2: a dsseRequestV002 whose verifier is the
 * signer's public key.
 */
export class TilelogRekorWitness implements Witness {
  constructor(
    private readonly logUrl: string,
    private readonly token: TokenFile,
    private readonly timeoutMs = 30_000,
  ) {}

  async testify(content: SignatureBundle, publicKey: string): Promise<VerificationMaterial> {
    if (content.$case !== 'dsseEnvelope') throw new Error('only DSSE envelopes are attested');
    const der = createPublicKey(publicKey).export({ type: 'spki', format: 'der' });
    const request = {
      spec: {
        $case: 'dsseRequestV002',
        dsseRequestV002: {
          envelope: content.dsseEnvelope,
          verifiers: [{ keyDetails: PublicKeyDetails.PKIX_ECDSA_P256_SHA_256, verifier: { $case: 'x509Certificate', x509Certificate: { rawBytes: der } } }],
        },
      },
    };
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    const t = await this.token.get();
    if (t !== undefined) headers['authorization'] = `Bearer ${t}`;
    const res = await fetch(new URL('/api/v2/log/entries', this.logUrl), {
      method: 'POST',
      headers,
      body: JSON.stringify(CreateEntryRequest.toJSON(request as never)),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await res.text();
    if (res.status !== 200 && res.status !== 201) throw new Error(`POST /api/v2/log/entries: ${res.status} ${text.slice(0, 300)}`);
    return { tlogEntries: [TransparencyLogEntry.fromJSON(JSON.parse(text)) as never] };
  }
}

/** Signs and logs the statement of `batch`; returns the Sigstore bundle JSON and the attestation's log index. */
export async function attestBatch(
  id: CollectorIdentity,
  batch: AckedBatch,
  key: KeyObject,
  witness: Witness,
): Promise<{ bundle: unknown; logIndex: string }> {
  const payload = Buffer.from(JSON.stringify(batchStatement(id, batch)));
  const builder = new DSSEBundleBuilder({ signer: localKeySigner(key), witnesses: [witness] });
  const bundle = bundleToJSON(await builder.create({ data: payload, type: PAYLOAD_TYPE })) as { verificationMaterial?: { tlogEntries?: { logIndex?: string }[] } };
  const logIndex = bundle.verificationMaterial?.tlogEntries?.[0]?.logIndex;
  if (logIndex === undefined) throw new Error('the bundle has no transparency log entry');
  return { bundle, logIndex };
}
