// SPEC: c2sp.org/tlog-checkpoint v1.0.0 §Note text, §Signatures.
/**
 * Checkpoints: the note text of a log's signed tree head.
 *
 *   <origin>\n
 *   <tree size, canonical decimal>\n
 *   <root hash, standard base64 of 32 bytes>\n
 *   [<extension line>\n ...]        (opaque, non-empty, NOT RECOMMENDED)
 *
 * Parsing is strict, so `formatCheckpoint(parseCheckpoint(s)) === s` for every accepted `s`.
 */
import { TlogError, malformed } from './errors.js';
import { HASH_SIZE } from './hash.js';
import { MAX_NOTE_SIZE, isValidNoteText, parseNote, signNote, verifyNote, type NoteSignature, type NoteSigner, type NoteVerifier } from './note.js';
import { MAX_INT63, decodeBase64Exact, encodeBase64, parseDecimal } from './strict.js';

/** A parsed checkpoint. Invariants: origin non-empty, 0 ≤ treeSize ≤ 2^63-1, rootHash 32 bytes, extensions non-empty lines. */
export interface Checkpoint {
  origin: string;
  treeSize: bigint;
  rootHash: Uint8Array;
  extensions: string[];
}

/** The result of {@link openCheckpoint}. */
export interface OpenedCheckpoint {
  checkpoint: Checkpoint;
  /** The signed note exactly as given. */
  note: string;
  /** The note text (= formatCheckpoint(checkpoint)). */
  text: string;
  verified: NoteSignature[];
  unverified: NoteSignature[];
}

function checkLine(line: string, what: string): void {
  if (line.length === 0) throw malformed(`checkpoint: empty ${what}`);
  if (!isValidNoteText(line + '\n') || line.includes('\n')) throw malformed(`checkpoint: invalid ${what}`);
}

/**
 * Formats the checkpoint note text `origin\nsize\nbase64(root)\n` + each extension line + "\n".
 * Throws MALFORMED if `c` breaks an invariant of {@link Checkpoint} (e.g. an origin with a newline).
 */
export function formatCheckpoint(c: Checkpoint): string {
  checkLine(c.origin, 'origin');
  if (c.treeSize < 0n || c.treeSize > MAX_INT63) throw malformed('checkpoint: tree size out of range');
  if (c.rootHash.length !== HASH_SIZE) throw malformed('checkpoint: root hash must be 32 bytes');
  let text = `${c.origin}\n${c.treeSize.toString()}\n${encodeBase64(c.rootHash)}\n`;
  for (const ext of c.extensions) {
    checkLine(ext, 'extension line');
    text += ext + '\n';
  }
  return text;
}

/**
 * Parses an untrusted checkpoint note text: ≥ 3 non-empty lines each ending in "\n", no control characters,
 * non-empty origin (any characters: Rekor v1 origins contain spaces), canonical decimal size ≤ 2^63-1,
 * canonical base64 root of exactly 32 bytes, non-empty extension lines. MALFORMED otherwise.
 */
export function parseCheckpoint(text: string): Checkpoint {
  if (typeof text !== 'string' || text.length > MAX_NOTE_SIZE) throw malformed('checkpoint: not a string or too large');
  if (!isValidNoteText(text)) throw malformed('checkpoint: text must end in a newline and contain no control characters');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw malformed('checkpoint: want at least 3 lines');
  if (lines.some((l) => l.length === 0)) throw malformed('checkpoint: empty line');
  const [origin, size, root, ...extensions] = lines as [string, string, string, ...string[]];
  return {
    origin,
    treeSize: parseDecimal(size, 'checkpoint tree size'),
    rootHash: decodeBase64Exact(root, HASH_SIZE, 'checkpoint root hash'),
    extensions,
  };
}

/** Formats `c` and signs it as a note with every signer (the log's key name SHOULD equal `c.origin`). */
export function signCheckpoint(c: Checkpoint, signers: readonly NoteSigner[]): string {
  return signNote(formatCheckpoint(c), signers);
}

/**
 * Opens an untrusted signed checkpoint: parses the note (MALFORMED), parses its text as a checkpoint (MALFORMED),
 * checks `origin === expectedOrigin` when given (VERIFICATION_FAILED), then verifies signatures like
 * {@link verifyNote} (VERIFICATION_FAILED). Pass the LOG's verifiers: any one verified signature opens the note,
 * so passing witness verifiers here would accept a checkpoint that only a witness signed.
 */
export function openCheckpoint(note: string, verifiers: readonly NoteVerifier[], expectedOrigin?: string): OpenedCheckpoint {
  const parsed = parseNote(note);
  const checkpoint = parseCheckpoint(parsed.text);
  if (expectedOrigin !== undefined && checkpoint.origin !== expectedOrigin) {
    throw new TlogError('VERIFICATION_FAILED', `checkpoint: origin ${JSON.stringify(checkpoint.origin)} is not ${JSON.stringify(expectedOrigin)}`);
  }
  const { verified, unverified } = verifyNote(parsed, verifiers);
  return { checkpoint, note, text: parsed.text, verified, unverified };
}
