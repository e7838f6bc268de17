// SPEC: c2sp.org/signed-note v1.0.0 §Signatures (key IDs), §Ed25519 signatures; key strings of golang.org/x/mod/sumdb/note.
/**
 * Ed25519 note keys as strings compatible with Go's golang.org/x/mod/sumdb/note:
 *
 *   vkey:  <name>+<8 lowercase hex key ID>+<base64(0x01 || 32-byte public key)>
 *   skey:  PRIVATE+KEY+<name>+<8 lowercase hex key ID>+<base64(0x01 || 32-byte seed)>
 *
 *   key ID = SHA-256(name || 0x0A || sigType || public key)[:4], read as a big-endian uint32.
 *
 * Parsing is strict (canonical base64, lowercase hex, exact lengths, key ID recomputed) and throws a
 * MALFORMED {@link TlogError}. KeyObjects are imported once per key, never per signature.
 */
import { createPrivateKey, createPublicKey, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { malformed } from './errors.js';
import { sha256 } from './hash.js';
import { isValidKeyName, type NoteSigner, type NoteVerifier } from './note.js';
import { decodeBase64Strict, decodeHexExact, encodeBase64 } from './strict.js';

/** Signature type byte of plain Ed25519 note signatures. */
export const SIG_TYPE_ED25519 = 0x01;
/** Sizes of an Ed25519 seed (private key), public key and signature. */
export const ED25519_SEED_SIZE = 32;
export const ED25519_PUBLIC_KEY_SIZE = 32;
export const ED25519_SIGNATURE_SIZE = 64;

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PRIVATE_KEY_PREFIX = 'PRIVATE+KEY+';

/** key ID = first 4 bytes, big-endian, of SHA-256(name || 0x0A || keyBytes), where keyBytes = sigType || public key. */
export function keyIdFor(name: string, keyBytes: Uint8Array): number {
  const nameBytes = Buffer.from(name, 'utf8');
  const buf = Buffer.alloc(nameBytes.length + 1 + keyBytes.length);
  nameBytes.copy(buf, 0);
  buf[nameBytes.length] = 0x0a;
  buf.set(keyBytes, nameBytes.length + 1);
  const h = sha256(buf);
  return Buffer.from(h.buffer, h.byteOffset, 4).readUInt32BE(0);
}

/** A key ID as exactly 8 lowercase hex digits. */
export function formatKeyId(keyId: number): string {
  return keyId.toString(16).padStart(8, '0');
}

/** Imports a 32-byte Ed25519 seed as a private KeyObject (PKCS#8 DER). Plain Error if the size is wrong. */
export function ed25519KeyFromSeed(seed: Uint8Array): KeyObject {
  if (seed.length !== ED25519_SEED_SIZE) throw new Error(`keys: Ed25519 seed must be 32 bytes, got ${seed.length}`);
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

/** Imports a raw 32-byte Ed25519 public key as a KeyObject (SPKI DER). MALFORMED if rejected. */
export function ed25519PublicKeyObject(pub: Uint8Array): KeyObject {
  if (pub.length !== ED25519_PUBLIC_KEY_SIZE) throw malformed(`keys: Ed25519 public key must be 32 bytes, got ${pub.length}`);
  try {
    return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, pub]), format: 'der', type: 'spki' });
  } catch {
    throw malformed('keys: invalid Ed25519 public key');
  }
}

/** The raw 32-byte public key of an Ed25519 private or public KeyObject. */
export function ed25519RawPublicKey(key: KeyObject): Uint8Array {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const der = pub.export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(der.length - ED25519_PUBLIC_KEY_SIZE));
}

/** Ed25519 signature (RFC 8032, pure) of `message`. */
export function ed25519Sign(key: KeyObject, message: Uint8Array): Uint8Array {
  return new Uint8Array(cryptoSign(null, message, key));
}

/** Ed25519 verification; false (never a throw) for a signature of the wrong size. */
export function ed25519Verify(key: KeyObject, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== ED25519_SIGNATURE_SIZE) return false;
  try {
    return cryptoVerify(null, message, key, signature);
  } catch {
    return false;
  }
}

function typed(sigType: number, key: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + key.length);
  out[0] = sigType;
  out.set(key, 1);
  return out;
}

/**
 * Formats a vkey `<name>+<hex id>+<base64(sigType || key)>` (sigType defaults to Ed25519 0x01).
 * Precondition: valid key name (plain Error otherwise).
 */
export function formatVerifierKey(name: string, publicKey: Uint8Array, sigType: number = SIG_TYPE_ED25519): string {
  if (!isValidKeyName(name)) throw new Error(`keys: invalid key name ${JSON.stringify(name)}`);
  const keyBytes = typed(sigType, publicKey);
  return `${name}+${formatKeyId(keyIdFor(name, keyBytes))}+${encodeBase64(keyBytes)}`;
}

/** Formats a Go-compatible signer key `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>`. Secret! */
export function formatPrivateKey(name: string, seed: Uint8Array): string {
  if (!isValidKeyName(name)) throw new Error(`keys: invalid key name ${JSON.stringify(name)}`);
  const pub = ed25519RawPublicKey(ed25519KeyFromSeed(seed));
  const keyId = keyIdFor(name, typed(SIG_TYPE_ED25519, pub));
  return `${PRIVATE_KEY_PREFIX}${name}+${formatKeyId(keyId)}+${encodeBase64(typed(SIG_TYPE_ED25519, seed))}`;
}

/** The parts of a `<name>+<hex id>+<base64>` string; the base64 may itself contain '+'. */
export interface KeyString {
  name: string;
  keyId: number;
  /** sigType || key material. */
  keyBytes: Uint8Array;
}

/**
 * Splits and strictly decodes `<name>+<8 lowercase hex>+<canonical base64>`: valid key name, non-empty key
 * bytes. Does NOT check the key ID (callers know which public key it is computed over). MALFORMED otherwise.
 */
export function parseKeyString(s: string, what = 'key'): KeyString {
  const i = s.indexOf('+');
  const j = i < 0 ? -1 : s.indexOf('+', i + 1);
  if (i < 0 || j < 0) throw malformed(`${what}: want <name>+<id>+<key>`);
  const name = s.slice(0, i);
  if (!isValidKeyName(name)) throw malformed(`${what}: invalid key name`);
  const id = decodeHexExact(s.slice(i + 1, j), 4, `${what} ID`);
  const keyBytes = decodeBase64Strict(s.slice(j + 1), `${what} data`);
  if (keyBytes.length === 0) throw malformed(`${what}: empty key data`);
  return { name, keyId: Buffer.from(id).readUInt32BE(0), keyBytes };
}

/** A note signer holding an Ed25519 private key, with its vkey. */
export interface Ed25519NoteSigner extends NoteSigner {
  readonly vkey: string;
  readonly publicKey: Uint8Array;
}

/** A note verifier for one Ed25519 public key. */
export interface Ed25519NoteVerifier extends NoteVerifier {
  readonly publicKey: Uint8Array;
}

/** A signer for `name` from a raw 32-byte seed (no string parsing). Precondition: valid name and seed size. */
export function newEd25519Signer(name: string, seed: Uint8Array): Ed25519NoteSigner {
  if (!isValidKeyName(name)) throw new Error(`keys: invalid key name ${JSON.stringify(name)}`);
  const key = ed25519KeyFromSeed(seed);
  const publicKey = ed25519RawPublicKey(key);
  const keyId = keyIdFor(name, typed(SIG_TYPE_ED25519, publicKey));
  const vkey = formatVerifierKey(name, publicKey);
  return { name, keyId, vkey, publicKey, sign: (message) => ed25519Sign(key, message) };
}

/**
 * Parses a Go signer key `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>` strictly: algorithm 0x01,
 * 32-byte seed, and the hex ID equal to the ID recomputed from the derived public key. MALFORMED otherwise.
 */
export function newSigner(skey: string): Ed25519NoteSigner {
  if (!skey.startsWith(PRIVATE_KEY_PREFIX)) throw malformed('signer key: want PRIVATE+KEY+<name>+<id>+<key>');
  const k = parseKeyString(skey.slice(PRIVATE_KEY_PREFIX.length), 'signer key');
  if (k.keyBytes[0] !== SIG_TYPE_ED25519) throw malformed('signer key: unknown algorithm');
  if (k.keyBytes.length !== 1 + ED25519_SEED_SIZE) throw malformed('signer key: want a 32-byte Ed25519 seed');
  const signer = newEd25519Signer(k.name, k.keyBytes.subarray(1));
  if (signer.keyId !== k.keyId) throw malformed('signer key: key ID does not match the key');
  return signer;
}

/**
 * Parses a vkey `<name>+<hex id>+<base64(0x01 || pub)>` strictly: algorithm 0x01, 32-byte key, and the hex ID
 * equal to SHA-256(name || "\n" || 0x01 || pub)[:4]. MALFORMED otherwise.
 */
export function newVerifier(vkey: string): Ed25519NoteVerifier {
  const k = parseKeyString(vkey, 'verifier key');
  if (k.keyBytes[0] !== SIG_TYPE_ED25519) throw malformed('verifier key: unknown algorithm');
  if (k.keyBytes.length !== 1 + ED25519_PUBLIC_KEY_SIZE) throw malformed('verifier key: want a 32-byte Ed25519 key');
  if (keyIdFor(k.name, k.keyBytes) !== k.keyId) throw malformed('verifier key: key ID does not match the key');
  const publicKey = new Uint8Array(k.keyBytes.subarray(1));
  const key = ed25519PublicKeyObject(publicKey);
  return { name: k.name, keyId: k.keyId, publicKey, verify: (message, signature) => ed25519Verify(key, message, signature) };
}
