// SPEC: c2sp.org/signed-note v1.0.0 (§Format, §Signatures); behaviour of golang.org/x/mod/sumdb/note Open/Sign.
/**
 * Signed notes: a text ending in "\n", an empty line, then one or more signature lines
 *
 *   — <key name> base64(uint32 BE key ID || signature)\n
 *
 * The text (including its final newline) is separated from the signatures by the LAST empty line.
 * Every parser here treats its input as untrusted and throws a MALFORMED {@link TlogError};
 * {@link openNote} throws VERIFICATION_FAILED when signatures do not check out.
 */
import { TlogError, malformed } from './errors.js';
import { decodeBase64Strict, encodeBase64 } from './strict.js';

/** Signs note texts with one key. `keyId` is a uint32; `sign` returns the raw signature (without key ID). */
export interface NoteSigner {
  readonly name: string;
  readonly keyId: number;
  sign(message: Uint8Array): Uint8Array;
}

/** Verifies signatures of one key, identified by (name, keyId). `verify` gets the signature without key ID. */
export interface NoteVerifier {
  readonly name: string;
  readonly keyId: number;
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

/** One signature line of a note. `signature` excludes the 4-byte key ID. */
export interface NoteSignature {
  name: string;
  keyId: number;
  signature: Uint8Array;
}

/** A note split into its text and signatures; nothing has been verified. */
export interface ParsedNote {
  text: string;
  signatures: NoteSignature[];
}

/** The result of {@link openNote}: at least one signature in `verified`. */
export interface OpenedNote {
  text: string;
  /** Signatures by known keys, all verified; at most one per (name, keyId), in note order. */
  verified: NoteSignature[];
  /** Signatures by unknown keys (ignored as the spec requires), identical lines deduplicated. */
  unverified: NoteSignature[];
}

/** Most signature lines a note may carry (Go's note.Open limit; the spec requires accepting ≥ 16). */
export const MAX_NOTE_SIGNATURES = 100;

/** Largest note accepted, in UTF-8 bytes. */
export const MAX_NOTE_SIZE = 1 << 20;

const EM_DASH_SPACE = '\u2014 ';
const SIG_SPLIT = '\n\n';
// ASCII controls other than "\n", and lone UTF-16 surrogates (not encodable as UTF-8).
const FORBIDDEN = /[\x00-\x09\x0b-\x1f]|\p{Cs}/u;
// Unicode White_Space is what Go's unicode.IsSpace tests.
const NAME_FORBIDDEN = /[+\p{White_Space}]|\p{Cs}/u;
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A key name: non-empty, valid Unicode, no Unicode spaces and no '+' (signed-note §Format). */
export function isValidKeyName(name: string): boolean {
  return typeof name === 'string' && name.length > 0 && !NAME_FORBIDDEN.test(name);
}

/** True if `text` is a valid note text: non-empty, ends in "\n", no control characters but "\n", valid Unicode. */
export function isValidNoteText(text: string): boolean {
  return typeof text === 'string' && text.endsWith('\n') && !FORBIDDEN.test(text);
}

function checkKeyId(keyId: number): void {
  if (!Number.isInteger(keyId) || keyId < 0 || keyId > 0xffffffff) throw new Error(`note: key ID ${keyId} is not a uint32`);
}

/**
 * Formats one signature line `— <name> base64(keyId || signature)\n`.
 * Precondition: `name` is a valid key name, `keyId` a uint32, `signature` non-empty (else a plain Error: a bug).
 */
export function formatSignatureLine(sig: NoteSignature): string {
  if (!isValidKeyName(sig.name)) throw new Error(`note: invalid key name ${JSON.stringify(sig.name)}`);
  checkKeyId(sig.keyId);
  if (sig.signature.length === 0) throw new Error('note: empty signature');
  const payload = Buffer.alloc(4 + sig.signature.length);
  payload.writeUInt32BE(sig.keyId, 0);
  payload.set(sig.signature, 4);
  return `${EM_DASH_SPACE}${sig.name} ${encodeBase64(payload)}\n`;
}

/**
 * Signs `text` with every signer and returns `text + "\n" + one signature line per signer`.
 * `text` must be a valid note text ({@link isValidNoteText}), else MALFORMED; at least one signer is required.
 */
export function signNote(text: string, signers: readonly NoteSigner[]): string {
  if (!isValidNoteText(text)) throw malformed('note: text must end in a newline and contain no control characters');
  if (signers.length === 0) throw new Error('note: no signers');
  if (signers.length > MAX_NOTE_SIGNATURES) throw new Error('note: too many signers');
  const message = Buffer.from(text, 'utf8');
  let out = text + '\n';
  for (const s of signers) {
    out += formatSignatureLine({ name: s.name, keyId: s.keyId, signature: s.sign(message) });
  }
  return out;
}

/**
 * Parses signature lines (each `— <name> <base64>\n`, the block ending in "\n"), e.g. a witness response.
 * Rules: valid key name, canonical base64 of ≥ 5 bytes, at most {@link MAX_NOTE_SIGNATURES} lines. MALFORMED otherwise.
 */
export function parseSignatureLines(block: string): NoteSignature[] {
  if (block.length === 0 || !block.endsWith('\n')) throw malformed('note: signature lines must end in a newline');
  if (FORBIDDEN.test(block)) throw malformed('note: control character in signature lines');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES) throw malformed(`note: more than ${MAX_NOTE_SIGNATURES} signatures`);
  return lines.map(parseSignatureLine);
}

function parseSignatureLine(line: string): NoteSignature {
  if (!line.startsWith(EM_DASH_SPACE)) throw malformed('note: signature line must start with "— "');
  const rest = line.slice(EM_DASH_SPACE.length);
  const space = rest.indexOf(' ');
  if (space < 0) throw malformed('note: signature line without signature');
  const name = rest.slice(0, space);
  if (!isValidKeyName(name)) throw malformed('note: invalid key name in signature line');
  const raw = decodeBase64Strict(rest.slice(space + 1), 'note signature');
  if (raw.length < 5) throw malformed('note: signature shorter than 5 bytes');
  const keyId = Buffer.from(raw.buffer, raw.byteOffset, 4).readUInt32BE(0);
  return { name, keyId, signature: raw.subarray(4) };
}

/**
 * Parses an untrusted signed note without verifying anything: valid Unicode, no control characters but "\n",
 * at most {@link MAX_NOTE_SIZE} bytes, text/signatures split at the LAST empty line, each signature line well
 * formed ({@link parseSignatureLines}). Throws MALFORMED otherwise.
 */
export function parseNote(note: string): ParsedNote {
  if (typeof note !== 'string') throw malformed('note: not a string');
  if (note.length > MAX_NOTE_SIZE || Buffer.byteLength(note, 'utf8') > MAX_NOTE_SIZE) throw malformed('note: too large');
  if (FORBIDDEN.test(note)) throw malformed('note: control character or invalid Unicode');
  const split = note.lastIndexOf(SIG_SPLIT);
  if (split < 0) throw malformed('note: no empty line before the signatures');
  const text = note.slice(0, split + 1);
  const signatures = parseSignatureLines(note.slice(split + 2));
  return { text, signatures };
}

/** {@link parseNote} for raw bytes: MALFORMED on invalid UTF-8. A leading BOM is not stripped (it is part of the text). */
export function parseNoteBytes(b: Uint8Array): ParsedNote {
  if (b.length > MAX_NOTE_SIZE) throw malformed('note: too large');
  let s: string;
  try {
    s = utf8Decoder.decode(b);
  } catch {
    throw malformed('note: invalid UTF-8');
  }
  return parseNote(s);
}

function idString(name: string, keyId: number): string {
  return `${name}+${keyId.toString(16).padStart(8, '0')}`;
}

/**
 * Verifies a parsed note against known verifiers (signed-note §Signatures, Go note.Open):
 * signatures from unknown (name, keyId) pairs are ignored and returned in `unverified`; every signature whose
 * (name, keyId) is known MUST verify, else VERIFICATION_FAILED (the whole note is rejected); two verifiers with
 * the same (name, keyId) used by a signature → VERIFICATION_FAILED (ambiguous); no verified signature at all →
 * VERIFICATION_FAILED.
 */
export function verifyNote(parsed: ParsedNote, verifiers: readonly NoteVerifier[]): OpenedNote {
  const known = new Map<string, NoteVerifier[]>();
  for (const v of verifiers) {
    const k = idString(v.name, v.keyId);
    const list = known.get(k);
    if (list) list.push(v);
    else known.set(k, [v]);
  }
  const message = Buffer.from(parsed.text, 'utf8');
  const verified: NoteSignature[] = [];
  const unverified: NoteSignature[] = [];
  const seenVerified = new Set<string>();
  const seenUnverified = new Set<string>();
  for (const sig of parsed.signatures) {
    const id = idString(sig.name, sig.keyId);
    const list = known.get(id);
    if (list === undefined) {
      const line = `${id} ${encodeBase64(sig.signature)}`;
      if (!seenUnverified.has(line)) {
        seenUnverified.add(line);
        unverified.push(sig);
      }
      continue;
    }
    if (list.length > 1) throw new TlogError('VERIFICATION_FAILED', `note: ambiguous key ${id}`);
    const v = list[0]!;
    let ok = false;
    try {
      ok = v.verify(message, sig.signature);
    } catch {
      ok = false;
    }
    // Unlike Go (which skips repeats unverified), every signature by a known key is checked: the spec's MUST.
    if (!ok) throw new TlogError('VERIFICATION_FAILED', `note: invalid signature for key ${id}`);
    if (!seenVerified.has(id)) {
      seenVerified.add(id);
      verified.push(sig);
    }
  }
  if (verified.length === 0) throw new TlogError('VERIFICATION_FAILED', 'note: no known signature verifies (no signature by a trusted key)');
  return { text: parsed.text, verified, unverified };
}

/** {@link parseNote} then {@link verifyNote}: MALFORMED for syntax, VERIFICATION_FAILED for signatures. */
export function openNote(note: string, verifiers: readonly NoteVerifier[]): OpenedNote {
  return verifyNote(parseNote(note), verifiers);
}

/**
 * Appends signature lines (e.g. cosignatures from a witness) to a signed note and returns the new note.
 * Both inputs are untrusted: the note and the lines must parse, and the result must hold at most
 * {@link MAX_NOTE_SIGNATURES} signatures and {@link MAX_NOTE_SIZE} bytes (MALFORMED otherwise).
 * Lines already present verbatim in the note are not repeated.
 */
export function appendSignatures(note: string, lines: string): string {
  const existing = parseNote(note);
  parseSignatureLines(lines);
  const have = new Set(note.slice(existing.text.length + 1, -1).split('\n'));
  let out = note;
  for (const line of lines.slice(0, -1).split('\n')) {
    if (have.has(line)) continue;
    have.add(line);
    out += line + '\n';
  }
  parseNote(out);
  return out;
}
