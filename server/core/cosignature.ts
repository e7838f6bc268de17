// SPEC: c2sp.org/tlog-cosignature v1.0.1 §Format, §Signed message (Ed25519, signature type 0x04).
/**
 * Witness cosignatures: note signatures over a checkpoint, whose payload is
 *
 *   keyID(4) || u64 BE timestamp || Ed25519 signature(64)        (76 bytes)
 *   key ID  = SHA-256(name || "\n" || 0x04 || 32-byte public key)[:4]
 *
 * and whose signed message is
 *
 *   cosignature/v1\n
 *   time <timestamp, canonical decimal>\n
 *   <the whole checkpoint note text, extension lines and final newline included>
 *
 * The timestamp (seconds since the UNIX epoch) is always passed in: there is no clock here.
 */
import { malformed } from './errors.js';
import {
  ED25519_PUBLIC_KEY_SIZE,
  ED25519_SIGNATURE_SIZE,
  ed25519KeyFromSeed,
  ed25519PublicKeyObject,
  ed25519RawPublicKey,
  ed25519Sign,
  ed25519Verify,
  formatVerifierKey,
  keyIdFor,
  parseKeyString,
} from './keys.js';
import { parseCheckpoint } from './checkpoint.js';
import { formatSignatureLine, isValidKeyName, type NoteSignature, type NoteVerifier } from './note.js';
import { MAX_INT63 } from './strict.js';

/** Signature type byte of timestamped Ed25519 cosignatures (cosignature/v1). */
export const SIG_TYPE_COSIGNATURE_V1 = 0x04;
/** Size of a cosignature without its key ID: u64 timestamp + 64-byte Ed25519 signature. */
export const COSIGNATURE_SIZE = 8 + ED25519_SIGNATURE_SIZE;

const U64_MAX = (1n << 64n) - 1n;

/** A witness key that cosigns checkpoints. */
export interface Cosigner {
  readonly name: string;
  readonly keyId: number;
  readonly publicKey: Uint8Array;
  /** The 0x04 vkey to give to clients. */
  readonly vkey: string;
  /**
   * Returns the signature line `— <name> base64(keyId || timestamp || sig)\n` over `checkpointText`.
   * Preconditions: `checkpointText` parses as a checkpoint (MALFORMED otherwise); 0 ≤ timestamp ≤ 2^63-1.
   */
  cosign(checkpointText: string, timestamp: bigint): string;
  /** Like {@link cosign} but returns the parsed signature. */
  cosignature(checkpointText: string, timestamp: bigint): NoteSignature;
}

/** A cosignature verifier, usable with openNote/verifyNote. */
export interface CosignatureVerifier extends NoteVerifier {
  readonly publicKey: Uint8Array;
}

function typed(pub: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + pub.length);
  out[0] = SIG_TYPE_COSIGNATURE_V1;
  out.set(pub, 1);
  return out;
}

/** key ID = SHA-256(name || "\n" || 0x04 || pub)[:4] as a big-endian uint32. */
export function cosignatureKeyId(name: string, publicKey: Uint8Array): number {
  return keyIdFor(name, typed(publicKey));
}

/** The cosignature/v1 signed message for `checkpointText` at `timestamp` (UTF-8 bytes). */
export function cosignatureMessage(checkpointText: string, timestamp: bigint): Uint8Array {
  if (timestamp < 0n || timestamp > U64_MAX) throw new Error('cosignature: timestamp out of u64 range');
  return Buffer.from(`cosignature/v1\ntime ${timestamp.toString()}\n${checkpointText}`, 'utf8');
}

/** Formats the vkey `<name>+<hex id>+base64(0x04 || pub)` of a cosigner. Precondition: valid name, 32-byte key. */
export function formatCosignerVkey(name: string, publicKey: Uint8Array): string {
  if (publicKey.length !== ED25519_PUBLIC_KEY_SIZE) throw new Error('cosignature: public key must be 32 bytes');
  return formatVerifierKey(name, publicKey, SIG_TYPE_COSIGNATURE_V1);
}

/** A cosigner for witness `name` from a 32-byte Ed25519 seed. Preconditions: valid key name and seed size. */
export function newCosigner(name: string, seed: Uint8Array): Cosigner {
  if (!isValidKeyName(name)) throw new Error(`cosignature: invalid key name ${JSON.stringify(name)}`);
  const key = ed25519KeyFromSeed(seed);
  const publicKey = ed25519RawPublicKey(key);
  const keyId = cosignatureKeyId(name, publicKey);
  const cosignature = (checkpointText: string, timestamp: bigint): NoteSignature => {
    parseCheckpoint(checkpointText);
    if (typeof timestamp !== 'bigint' || timestamp < 0n || timestamp > MAX_INT63) {
      throw malformed('cosignature: timestamp must be in [0, 2^63-1]');
    }
    const signature = Buffer.alloc(COSIGNATURE_SIZE);
    signature.writeBigUInt64BE(timestamp, 0);
    signature.set(ed25519Sign(key, cosignatureMessage(checkpointText, timestamp)), 8);
    return { name, keyId, signature: new Uint8Array(signature) };
  };
  return {
    name,
    keyId,
    publicKey,
    vkey: formatCosignerVkey(name, publicKey),
    cosignature,
    cosign: (checkpointText, timestamp) => formatSignatureLine(cosignature(checkpointText, timestamp)),
  };
}

/**
 * Parses a cosigner vkey strictly: signature type 0x04, 32-byte key, hex ID equal to the recomputed
 * {@link cosignatureKeyId}. MALFORMED otherwise. The verifier rebuilds the signed message from the timestamp
 * inside each signature; it accepts any u64 timestamp (policy on times belongs to the caller,
 * see {@link cosignatureTimestamp}).
 */
export function newCosignatureVerifier(vkey: string): CosignatureVerifier {
  const k = parseKeyString(vkey, 'cosigner key');
  if (k.keyBytes[0] !== SIG_TYPE_COSIGNATURE_V1) throw malformed('cosigner key: signature type is not 0x04');
  if (k.keyBytes.length !== 1 + ED25519_PUBLIC_KEY_SIZE) throw malformed('cosigner key: want a 32-byte Ed25519 key');
  if (keyIdFor(k.name, k.keyBytes) !== k.keyId) throw malformed('cosigner key: key ID does not match the key');
  const publicKey = new Uint8Array(k.keyBytes.subarray(1));
  const key = ed25519PublicKeyObject(publicKey);
  return {
    name: k.name,
    keyId: k.keyId,
    publicKey,
    verify(message: Uint8Array, signature: Uint8Array): boolean {
      if (signature.length !== COSIGNATURE_SIZE) return false;
      // Like transparency-dev/formats: the cosigned note text must have at least 3 lines.
      let newlines = 0;
      for (const byte of message) if (byte === 0x0a) newlines++;
      if (newlines < 2) return false;
      const b = Buffer.from(signature.buffer, signature.byteOffset, signature.byteLength);
      const header = Buffer.from(`cosignature/v1\ntime ${b.readBigUInt64BE(0).toString()}\n`, 'utf8');
      return ed25519Verify(key, Buffer.concat([header, message]), signature.subarray(8));
    },
  };
}

/**
 * The u64 timestamp (seconds since the UNIX epoch) inside an Ed25519 cosignature. Only meaningful once the
 * signature has been verified. MALFORMED if the signature is not 72 bytes.
 */
export function cosignatureTimestamp(sig: NoteSignature): bigint {
  if (sig.signature.length !== COSIGNATURE_SIZE) throw malformed('cosignature: want 72 bytes (timestamp || Ed25519 signature)');
  return Buffer.from(sig.signature.buffer, sig.signature.byteOffset, sig.signature.byteLength).readBigUInt64BE(0);
}
