/**
 * Signature checks of Rekor v2 requests (pure): hashedrekord v0.0.2 (a signature over a given SHA-256 digest) and
 * dsse v0.0.2 (signatures over the DSSE PAE of the envelope's payload).
 *
 * The key type is derived from the submitted key itself (sigstore-js labels every verifier `x509Certificate` and
 * hard-codes `keyDetails`): the bytes may be an X.509 certificate (DER or PEM) or an SPKI public key (DER or PEM).
 *
 * node:crypto cannot verify a prehashed digest for ECDSA or RSA, so for hashedrekord:
 * - ECDSA P-256: a small BigInt implementation of ECDSA verification (public data only, no secrets involved);
 * - RSA PKCS#1 v1.5: `publicDecrypt` recovers the DigestInfo, compared with the expected SHA-256 DigestInfo;
 * - Ed25519: refused (a pure Ed25519 signature is over the message, not a digest), as Rekor v2 does.
 * Failures throw a MALFORMED TlogError (HTTP 400).
 */
import { p256 } from '@noble/curves/nist.js';
import { constants, createPublicKey, publicDecrypt, verify as cryptoVerify, X509Certificate, type KeyObject } from 'node:crypto';
import { TlogError, malformed } from '../core/errors.js';

/** The key of a verifier, with the algorithm its type implies. */
export interface ParsedKey {
  readonly key: KeyObject;
  /** 'ecdsa-p256' | 'ed25519' | 'rsa' */
  readonly kind: 'ecdsa-p256' | 'ed25519' | 'rsa';
  /** SPKI DER of the key. */
  readonly spki: Uint8Array;
  /** The keyDetails value Rekor v2 would record for this key. */
  readonly keyDetails: string;
}

const PEM = /-----BEGIN ([A-Z0-9 ]+)-----/;

function invalid(message: string): TlogError {
  return malformed(message);
}

/** Parses certificate or SPKI bytes (DER or PEM) into a key. MALFORMED if neither, or an unsupported type. */
export function parseVerifierKey(raw: Uint8Array): ParsedKey {
  const buf = Buffer.from(raw.buffer, raw.byteOffset, raw.length);
  let key: KeyObject | undefined;
  const text = PEM.test(buf.toString('latin1', 0, Math.min(buf.length, 4096))) ? buf.toString('utf8') : undefined;
  try {
    key = new X509Certificate(buf).publicKey;
  } catch {
    try {
      key = text !== undefined ? createPublicKey({ key: text, format: 'pem' }) : createPublicKey({ key: buf, format: 'der', type: 'spki' });
    } catch {
      key = undefined;
    }
  }
  if (key === undefined) throw invalid('verifier: not an X.509 certificate or an SPKI public key');
  const spki = new Uint8Array(key.export({ format: 'der', type: 'spki' }));
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve !== 'prime256v1' && curve !== 'P-256') throw invalid(`verifier: unsupported elliptic curve ${String(curve)} (only P-256)`);
      return { key, kind: 'ecdsa-p256', spki, keyDetails: 'PKIX_ECDSA_P256_SHA_256' };
    }
    case 'ed25519':
      return { key, kind: 'ed25519', spki, keyDetails: 'PKIX_ED25519' };
    case 'rsa': {
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits < 2048 || bits > 4096 || bits % 1024 !== 0) throw invalid(`verifier: unsupported RSA key size ${bits}`);
      return { key, kind: 'rsa', spki, keyDetails: `PKIX_RSA_PKCS1V15_${bits}_SHA256` };
    }
    default:
      throw invalid(`verifier: unsupported key type ${String(key.asymmetricKeyType)}`);
  }
}

/**
 * ECDSA P-256 verification of a DER signature over a 32-byte digest. node:crypto and WebCrypto always hash the
 * message themselves, so the prehashed check uses @noble/curves (audited, no dependencies) with `prehash: false`;
 * `lowS: false` because OpenSSL-made signatures (Go, Node, cosign) are not normalised to low S.
 */
export function verifyP256Digest(key: KeyObject, digest: Uint8Array, signature: Uint8Array): boolean {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.x === undefined || jwk.y === undefined) return false;
  const pub = Buffer.concat([Buffer.from([0x04]), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]);
  try {
    return p256.verify(signature, digest, pub, { prehash: false, format: 'der', lowS: false });
  } catch {
    return false;
  }
}

const SHA256_DIGEST_INFO_PREFIX = Buffer.from('3031300d060960864801650304020105000420', 'hex');

/** RSA PKCS#1 v1.5 verification over a SHA-256 digest: recover the DigestInfo and compare. */
export function verifyRsaPkcs1Sha256Digest(key: KeyObject, digest: Uint8Array, signature: Uint8Array): boolean {
  const bytes = (key.asymmetricKeyDetails?.modulusLength ?? 0) / 8;
  if (signature.length !== bytes) return false;
  let recovered: Buffer;
  try {
    recovered = publicDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, signature);
  } catch {
    return false;
  }
  return recovered.equals(Buffer.concat([SHA256_DIGEST_INFO_PREFIX, digest]));
}

/**
 * Verifies a hashedrekord signature over a SHA-256 digest. Throws MALFORMED (400) when the key type cannot sign a
 * digest (Ed25519) or the signature does not verify.
 */
export function verifyDigestSignature(k: ParsedKey, digest: Uint8Array, signature: Uint8Array): void {
  if (digest.length !== 32) throw invalid('hashedrekord: the digest must be a 32-byte SHA-256 digest');
  let ok: boolean;
  switch (k.kind) {
    case 'ed25519':
      throw invalid('hashedrekord: Ed25519 keys are not supported for hashedrekord entries (pure Ed25519 signs the message, not a digest); use a dsse entry');
    case 'ecdsa-p256':
      ok = verifyP256Digest(k.key, digest, signature);
      break;
    case 'rsa':
      ok = verifyRsaPkcs1Sha256Digest(k.key, digest, signature);
      break;
  }
  if (!ok) throw invalid('hashedrekord: the signature does not verify with the given key over the given digest');
}

/** The DSSE pre-authentication encoding: "DSSEv1" SP len(type) SP type SP len(body) SP body. */
export function dssePae(payloadType: string, payload: Uint8Array): Uint8Array {
  const t = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${t.length} `, 'utf8'), t, Buffer.from(` ${payload.length} `, 'utf8'), payload]);
}

/** Verifies a signature over a full message (DSSE PAE) with the key's natural algorithm; false if it does not verify. */
export function verifyMessageSignature(k: ParsedKey, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    switch (k.kind) {
      case 'ed25519':
        return cryptoVerify(null, message, k.key, signature);
      case 'ecdsa-p256':
        return cryptoVerify('sha256', message, { key: k.key, dsaEncoding: 'der' }, signature);
      case 'rsa':
        return cryptoVerify('sha256', message, { key: k.key, padding: constants.RSA_PKCS1_PADDING }, signature);
    }
  } catch {
    return false;
  }
}
