/**
 * Signed notes, checkpoints, vkeys and cosignatures for the browser (port of the parsing rules of
 * server/core/note.ts, checkpoint.ts, keys.ts, cosignature.ts), with Ed25519 from WebCrypto.
 * SPEC: c2sp.org/signed-note (key ID = SHA-256(name || 0x0A || sigType || key)[:4]), c2sp.org/tlog-checkpoint,
 * c2sp.org/tlog-cosignature (cosignature/v1, signature type 0x04: u64 timestamp || Ed25519 signature over
 * "cosignature/v1\ntime <T>\n" || checkpoint text).
 */
import { ab, bytesEqual, concat, fromBase64, readU32, readU64, utf8 } from './bytes.js';
import { HASH_SIZE, sha256 } from './merkle.js';

/** One signature line: key name, key ID (uint32), signature bytes without the key ID. */
export interface NoteSignature {
  readonly name: string;
  readonly keyId: number;
  readonly signature: Uint8Array;
}

/** A checkpoint's note text, parsed. */
export interface Checkpoint {
  readonly origin: string;
  readonly treeSize: bigint;
  readonly rootHash: Uint8Array;
  readonly extensions: readonly string[];
}

/** A parsed vkey `<name>+<hex id>+<base64(type || key)>` whose key ID was recomputed and matches. */
export interface Vkey {
  readonly name: string;
  readonly keyId: number;
  readonly sigType: number;
  readonly publicKey: Uint8Array;
  readonly text: string;
}

const SIG_TYPE_ED25519 = 0x01;
const SIG_TYPE_COSIGNATURE_V1 = 0x04;
const FORBIDDEN = /[\x00-\x09\x0b-\x1f]/;

/** Splits a signed note at its last empty line (signed-note §Format); throws on malformed input. */
export function parseNote(note: string): { text: string; signatures: NoteSignature[] } {
  if (note.length > 1 << 20) throw new Error('note: too large');
  if (FORBIDDEN.test(note)) throw new Error('note: control character');
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new Error('note: no empty line before the signatures');
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (!block.endsWith('\n')) throw new Error('note: signature lines must end in a newline');
  const signatures = block.slice(0, -1).split('\n').map((line) => {
    if (!line.startsWith('\u2014 ')) throw new Error('note: signature line must start with "— "');
    const rest = line.slice(2);
    const sp = rest.indexOf(' ');
    if (sp <= 0) throw new Error('note: malformed signature line');
    const raw = fromBase64(rest.slice(sp + 1), 'note signature');
    if (raw.length < 5) throw new Error('note: signature too short');
    return { name: rest.slice(0, sp), keyId: readU32(raw, 0), signature: raw.subarray(4) };
  });
  return { text, signatures };
}

/** Parses a checkpoint note text strictly (tlog-checkpoint §Note text). */
export function parseCheckpoint(text: string): Checkpoint {
  if (!text.endsWith('\n')) throw new Error('checkpoint: must end in a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3 || lines.some((l) => l.length === 0)) throw new Error('checkpoint: want ≥ 3 non-empty lines');
  const [origin, size, root, ...extensions] = lines as [string, string, string, ...string[]];
  if (!/^(0|[1-9][0-9]{0,18})$/.test(size) || BigInt(size) > (1n << 63n) - 1n) throw new Error('checkpoint: bad tree size');
  const rootHash = fromBase64(root, 'checkpoint root hash');
  if (rootHash.length !== HASH_SIZE) throw new Error('checkpoint: root hash must be 32 bytes');
  return { origin, treeSize: BigInt(size), rootHash, extensions };
}

/** key ID = SHA-256(name || 0x0A || keyBytes)[:4], big-endian. */
export async function keyIdFor(name: string, keyBytes: Uint8Array): Promise<number> {
  return readU32(await sha256(concat(utf8(name), new Uint8Array([0x0a]), keyBytes)), 0);
}

/** Parses a vkey strictly (Go golang.org/x/mod/sumdb/note format) and recomputes its key ID. */
export async function parseVkey(vkey: string): Promise<Vkey> {
  const text = vkey.trim();
  // The base64 key may itself contain '+': split at the first two only.
  const p1 = text.indexOf('+');
  const p2 = p1 < 0 ? -1 : text.indexOf('+', p1 + 1);
  if (p1 < 0 || p2 < 0) throw new Error('vkey: want <name>+<hex key id>+<base64 key>');
  const name = text.slice(0, p1);
  const id = text.slice(p1 + 1, p2);
  const b64 = text.slice(p2 + 1);
  if (name.length === 0 || /\s/.test(name)) throw new Error('vkey: bad key name');
  if (!/^[0-9a-f]{8}$/.test(id)) throw new Error('vkey: key ID must be 8 lowercase hex digits');
  const keyBytes = fromBase64(b64, 'vkey key');
  if (keyBytes.length !== 33 || (keyBytes[0] !== SIG_TYPE_ED25519 && keyBytes[0] !== SIG_TYPE_COSIGNATURE_V1)) {
    throw new Error('vkey: want an Ed25519 key (type 0x01) or a cosignature/v1 key (type 0x04)');
  }
  const keyId = parseInt(id, 16);
  if ((await keyIdFor(name, keyBytes)) !== keyId) throw new Error('vkey: key ID does not match the key');
  return { name, keyId, sigType: keyBytes[0]!, publicKey: keyBytes.subarray(1), text };
}

/** Ed25519 verification with WebCrypto; false for a bad signature, throws if the browser lacks Ed25519. */
export async function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  if (signature.length !== 64) return false;
  const key = await crypto.subtle.importKey('raw', ab(publicKey), { name: 'Ed25519' }, false, ['verify']);
  return crypto.subtle.verify({ name: 'Ed25519' }, key, ab(signature), ab(message));
}

// A self-test vector made with node:crypto (seed = 32 bytes of 0x07), so that a browser that knows the name
// Ed25519 but verifies wrongly is caught too.
const SELFTEST_PUB = 'ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c';
const SELFTEST_MSG = 'tilelog explorer ed25519 self-test\n';
const SELFTEST_SIG = 'a8b0d1a4483ea609207b5e20263abe15163fa483720e616b066630db3bb2710544270fffae8b6e447fc1045c27b05636cb608dcd688f86bdde8d2d792a101109';

/** True if this browser's WebCrypto verifies Ed25519 (checked on RFC 8032's test vector, not just the name). */
export async function ed25519Supported(): Promise<boolean> {
  try {
    const h = (s: string) => new Uint8Array(s.match(/../g)!.map((x) => parseInt(x, 16)));
    const sig = h(SELFTEST_SIG);
    if (!(await ed25519Verify(h(SELFTEST_PUB), utf8(SELFTEST_MSG), sig))) return false;
    sig[0] = (sig[0] ?? 0) ^ 1;
    return !(await ed25519Verify(h(SELFTEST_PUB), utf8(SELFTEST_MSG), sig));
  } catch {
    return false;
  }
}

/** A cosignature found on a checkpoint. `verified` is undefined when no trusted key for that witness is known. */
export interface CosignatureInfo {
  readonly name: string;
  readonly keyId: number;
  /** Seconds since the epoch, from the signature (trust it only when verified). */
  readonly timestamp: bigint;
  readonly verified: boolean | undefined;
}

/** The outcome of {@link verifyCheckpoint}. */
export interface VerifiedCheckpoint {
  readonly note: string;
  readonly text: string;
  readonly checkpoint: Checkpoint;
  readonly cosignatures: readonly CosignatureInfo[];
  /** Signatures by other keys that are not cosignatures (ignored). */
  readonly otherSignatures: number;
}

/**
 * Opens a signed checkpoint with the trusted log key: every signature by (name, keyId) of `logKey` must verify and
 * there must be one; the origin must equal the key name. Cosignatures (72-byte signatures) are listed with their
 * timestamps, verified against `witnessKeys` when a key with the same name and ID is given (a given key that does
 * not verify is an error). Throws an Error saying what failed.
 */
export async function verifyCheckpoint(note: string, logKey: Vkey, witnessKeys: readonly Vkey[] = []): Promise<VerifiedCheckpoint> {
  const { text, signatures } = parseNote(note);
  const checkpoint = parseCheckpoint(text);
  if (checkpoint.origin !== logKey.name) throw new Error(`checkpoint origin ${JSON.stringify(checkpoint.origin)} is not the trusted key's name ${JSON.stringify(logKey.name)}`);
  const message = utf8(text);
  let logSigned = false;
  const cosignatures: CosignatureInfo[] = [];
  let otherSignatures = 0;
  for (const s of signatures) {
    if (s.name === logKey.name && s.keyId === logKey.keyId) {
      if (!(await ed25519Verify(logKey.publicKey, message, s.signature))) throw new Error(`the log's signature (key ${logKey.name}+${logKey.keyId.toString(16).padStart(8, '0')}) does not verify`);
      logSigned = true;
      continue;
    }
    if (s.signature.length !== 72) {
      otherSignatures++;
      continue;
    }
    const timestamp = readU64(s.signature, 0);
    const wk = witnessKeys.find((k) => k.name === s.name && k.keyId === s.keyId && k.sigType === SIG_TYPE_COSIGNATURE_V1);
    let verified: boolean | undefined;
    if (wk !== undefined) {
      const msg = concat(utf8(`cosignature/v1\ntime ${timestamp}\n`), message);
      verified = await ed25519Verify(wk.publicKey, msg, s.signature.subarray(8));
      if (!verified) throw new Error(`the cosignature of witness ${s.name} does not verify`);
    }
    cosignatures.push({ name: s.name, keyId: s.keyId, timestamp, verified });
  }
  if (!logSigned) throw new Error(`no signature by the trusted log key ${logKey.text}`);
  return { note, text, checkpoint, cosignatures, otherSignatures };
}

/** True if two checkpoints of the same size have the same root (else: a fork, proof of misbehaviour). */
export function sameTree(a: Checkpoint, b: Checkpoint): boolean {
  return a.treeSize === b.treeSize && bytesEqual(a.rootHash, b.rootHash);
}
