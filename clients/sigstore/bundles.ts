/**
 * Sigstore bundles with Tilelog as the transparency log (shared/docs/sigstore.md).
 *
 * - {@link signBundle}: sign an artifact (message signature) or a DSSE payload with a local key through
 *   `@sigstore/sign` (`MessageSignatureBundleBuilder` / `DSSEBundleBuilder`), witnessed by `RekorWitness` with
 *   `majorApiVersion: 2` pointed at a Tilelog. The bundle carries the log's inclusion proof and signed checkpoint.
 * - {@link verifyBundle}: verify a bundle with `@sigstore/verify` against a TrustedRoot listing the log
 *   (`GET /v1/trusted-root.json` or `tilelog trusted-root`) and the signer's public key.
 *
 * Keys: ECDSA P-256 (SHA-256) for message signatures and DSSE; Ed25519 only for DSSE (Sigstore verifies message
 * signatures with SHA-256 prehashing, which Ed25519 does not support). The key hint is SHA-256 of the SPKI DER.
 */
import { createHash, createPublicKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { bundleFromJSON, bundleToJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { DSSEBundleBuilder, MessageSignatureBundleBuilder, RekorWitness, type Signer } from '@sigstore/sign';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';

/** The key hint of a public key: lowercase hex SHA-256 of its SPKI DER. */
export function keyHint(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
}

/** A `@sigstore/sign` Signer over a local private key (ECDSA P-256 or Ed25519). */
export function localKeySigner(privateKey: KeyObject): Signer {
  const publicKey = createPublicKey(privateKey);
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const hint = keyHint(publicKey);
  const digest = privateKey.asymmetricKeyType === 'ed25519' ? null : 'sha256';
  return {
    async sign(data: Buffer) {
      return { signature: cryptoSign(digest, data, privateKey), key: { $case: 'publicKey' as const, publicKey: pem, hint } };
    },
  };
}

export interface SignBundleOptions {
  /** Base URL of the Tilelog (RekorWitness POSTs to `<url>/api/v2/log/entries`). */
  readonly logUrl: string;
  readonly privateKey: KeyObject;
  /** The artifact (message signature) or the DSSE payload. */
  readonly data: Buffer;
  /** `dsse` (with `payloadType`) or `message`. */
  readonly kind: 'dsse' | 'message';
  readonly payloadType?: string;
  /** Per-request timeout; Rekor v2 answers once a checkpoint covers the entry (default 20 s). */
  readonly timeoutMs?: number;
}

/** Signs and logs; returns the bundle as JSON (Sigstore bundle v0.3 for DSSE, v0.2 for message signatures). */
export async function signBundle(o: SignBundleOptions): Promise<unknown> {
  const witness = new RekorWitness({ rekorBaseURL: o.logUrl, majorApiVersion: 2, timeout: o.timeoutMs ?? 20_000, retry: 2 } as ConstructorParameters<typeof RekorWitness>[0]);
  const signer = localKeySigner(o.privateKey);
  const bundle =
    o.kind === 'dsse'
      ? await new DSSEBundleBuilder({ signer, witnesses: [witness] }).create({ data: o.data, type: o.payloadType ?? 'application/octet-stream' })
      : await new MessageSignatureBundleBuilder({ signer, witnesses: [witness] }).create({ data: o.data });
  return bundleToJSON(bundle);
}

export interface VerifyBundleOptions {
  /** The bundle JSON. */
  readonly bundle: unknown;
  /** The artifact, for message-signature bundles. */
  readonly artifact?: Buffer;
  /** A TrustedRoot JSON listing the log. */
  readonly trustedRoot: unknown;
  /** The signer's public key. */
  readonly publicKey: KeyObject;
}

/**
 * Verifies a bundle: the signature with the signer's key, the log entry's body against the bundle, the inclusion
 * proof against the checkpoint, and the checkpoint's signature with the log key from the trusted root. Throws
 * `@sigstore/verify`'s VerificationError on failure. No timestamp authority is required (Rekor v2 entries carry
 * no signed timestamp).
 */
export function verifyBundle(o: VerifyBundleOptions): void {
  const root = TrustedRoot.fromJSON(o.trustedRoot);
  const hint = keyHint(o.publicKey);
  const trust = toTrustMaterial(root, { [hint]: { rawBytes: o.publicKey.export({ type: 'spki', format: 'der' }) } as never });
  const entity = toSignedEntity(bundleFromJSON(o.bundle), o.artifact);
  new Verifier(trust, { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 0 }).verify(entity);
}
