// SPEC: c2sp.org/tlog-witness v1.0.0 §add-checkpoint (request body, 409 response body).
/**
 * The wire format of a tlog-witness `add-checkpoint` request body:
 *
 *   old <size, canonical decimal>\n
 *   <base64 consistency proof hash>\n      (0 to 63 lines, RFC 6962 consistency proof old → checkpoint size)
 *   \n
 *   <signed checkpoint note, all signature lines included>
 *
 * and of the `409 Conflict` body (`text/x.tlog.size`): `<size>\n`.
 * Parsing is strict (canonical decimals and base64, exact line structure); it checks syntax only: the note is
 * parsed (signed-note) and its text parsed as a checkpoint, but no signature or proof is verified here.
 */
import { parseCheckpoint, type Checkpoint } from './checkpoint.js';
import { malformed } from './errors.js';
import { HASH_SIZE, type Hash } from './hash.js';
import { parseNote, type ParsedNote } from './note.js';
import { decodeBase64Exact, encodeBase64, parseDecimal } from './strict.js';

/** Most consistency proof lines a client may send ("The client MUST NOT send more than 63"). */
export const MAX_PROOF_LINES = 63;

/** The Content-Type of a 409 response body. */
export const TLOG_SIZE_CONTENT_TYPE = 'text/x.tlog.size';

/** A parsed add-checkpoint request. Nothing verified: see {@link parseAddCheckpointRequest}. */
export interface AddCheckpointRequest {
  /** The size of the previous checkpoint the client believes the witness holds (0 if none). */
  readonly oldSize: bigint;
  /** The consistency proof from `oldSize` to `checkpoint.treeSize`. */
  readonly proof: Hash[];
  /** The signed note exactly as sent. */
  readonly note: string;
  readonly parsedNote: ParsedNote;
  readonly checkpoint: Checkpoint;
}

/** Formats an add-checkpoint request body. Precondition: `note` is a signed checkpoint note, ≤ 63 32-byte hashes. */
export function formatAddCheckpointRequest(oldSize: bigint, proof: readonly Hash[], note: string): string {
  if (proof.length > MAX_PROOF_LINES) throw new Error('tlog-witness: more than 63 proof hashes');
  let out = `old ${oldSize.toString()}\n`;
  for (const h of proof) {
    if (h.length !== HASH_SIZE) throw new Error('tlog-witness: proof hash is not 32 bytes');
    out += `${encodeBase64(h)}\n`;
  }
  return `${out}\n${note}`;
}

/**
 * Parses an untrusted add-checkpoint body: `old N` line (canonical decimal ≤ 2^63-1), at most 63 proof lines of
 * canonical base64 of exactly 32 bytes, an empty line, then a signed note whose text is a checkpoint.
 * Throws MALFORMED (→ 400) on anything else.
 */
export function parseAddCheckpointRequest(body: string): AddCheckpointRequest {
  if (typeof body !== 'string') throw malformed('add-checkpoint: body is not text');
  const first = body.indexOf('\n');
  if (first < 0) throw malformed('add-checkpoint: no old size line');
  const oldLine = body.slice(0, first);
  if (!oldLine.startsWith('old ')) throw malformed('add-checkpoint: first line must be "old <size>"');
  const oldSize = parseDecimal(oldLine.slice(4), 'add-checkpoint old size');
  const proof: Hash[] = [];
  let pos = first + 1;
  for (;;) {
    const nl = body.indexOf('\n', pos);
    if (nl < 0) throw malformed('add-checkpoint: no empty line before the checkpoint');
    const line = body.slice(pos, nl);
    pos = nl + 1;
    if (line.length === 0) break;
    if (proof.length === MAX_PROOF_LINES) throw malformed('add-checkpoint: more than 63 consistency proof lines');
    proof.push(decodeBase64Exact(line, HASH_SIZE, 'add-checkpoint proof hash'));
  }
  const note = body.slice(pos);
  const parsedNote = parseNote(note);
  const checkpoint = parseCheckpoint(parsedNote.text);
  return { oldSize, proof, note, parsedNote, checkpoint };
}

/** Formats the 409 body `<size>\n`. */
export function formatTreeSizeBody(size: bigint): string {
  return `${size.toString()}\n`;
}

/** Parses a 409 body: exactly a canonical decimal followed by one newline. MALFORMED otherwise. */
export function parseTreeSizeBody(body: string): bigint {
  if (!body.endsWith('\n')) throw malformed('tlog-witness: size body must end in a newline');
  return parseDecimal(body.slice(0, -1), 'tlog-witness size');
}
