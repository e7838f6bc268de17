/**
 * A Sigstore `TrustedRoot` (media type `application/vnd.dev.sigstore.trustedroot.v0.2+json`) that lists this log,
 * so that `@sigstore/verify`, cosign and sigstore-python can be configured to trust it (shared/docs/sigstore.md §3).
 *
 * - `logId.keyId` = `checkpointKeyId.keyId` = the full 32-byte C2SP signed-note key hash
 *   SHA-256(origin || 0x0A || 0x01 || public key): its first 4 bytes are the key id on checkpoint signature lines,
 *   which is what Sigstore verifiers match (rekor-tiles computes it the same way).
 * - `baseUrl` must contain the checkpoint key name (the origin): verifiers match the note's key name against it.
 * - `publicKey.rawBytes` is the Ed25519 key as SPKI DER.
 */
import { createHash } from 'node:crypto';
import type { Ed25519NoteSigner } from './core/keys.js';

const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** The full 32-byte key hash of an Ed25519 note key: SHA-256(name || "\n" || 0x01 || pub). */
export function noteKeyHash(name: string, publicKey: Uint8Array): Buffer {
  return createHash('sha256').update(name).update(Buffer.from([0x0a, 0x01])).update(publicKey).digest();
}

export interface TrustedRootOptions {
  /** Public base URL of the log; default `https://<origin>`. Must contain the origin. */
  readonly baseUrl?: string;
  /** Start of the key's validity (RFC 3339); default the Unix epoch. */
  readonly validFrom?: string;
}

/** The TrustedRoot JSON object for a log signed by `signer` (whose name is the origin). */
export function trustedRoot(signer: Pick<Ed25519NoteSigner, 'name' | 'publicKey'>, o: TrustedRootOptions = {}): Record<string, unknown> {
  const baseUrl = o.baseUrl ?? `https://${signer.name}`;
  if (!baseUrl.includes(signer.name)) throw new Error(`the base URL ${baseUrl} must contain the origin ${signer.name} (Sigstore verifiers match the checkpoint key name against it)`);
  const keyId = noteKeyHash(signer.name, signer.publicKey).toString('base64');
  return {
    mediaType: 'application/vnd.dev.sigstore.trustedroot.v0.2+json',
    tlogs: [
      {
        baseUrl,
        hashAlgorithm: 'SHA2_256',
        publicKey: {
          rawBytes: Buffer.concat([ED25519_SPKI_PREFIX, signer.publicKey]).toString('base64'),
          keyDetails: 'PKIX_ED25519',
          validFor: { start: o.validFrom ?? '1970-01-01T00:00:00Z' },
        },
        logId: { keyId },
        checkpointKeyId: { keyId },
      },
    ],
    certificateAuthorities: [],
    ctlogs: [],
    timestampAuthorities: [],
  };
}
