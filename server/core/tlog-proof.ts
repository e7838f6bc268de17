// SPEC: c2sp.org/tlog-proof (c2sp.org/tlog-proof@v1) §Format.
/**
 * Offline-verifiable proof that an entry is in a log ("spicy signature", file extension `.tlog-proof`):
 *
 *   c2sp.org/tlog-proof@v1\n
 *   [extra <base64 opaque, unauthenticated data>\n]
 *   index <canonical decimal>\n
 *   <base64 inclusion-proof hash>\n ...      (0..63 lines, leaf's sibling first, RFC 6962 §2.1.1)
 *   \n
 *   <checkpoint signed note, verbatim, with log signature and any cosignatures>
 *
 * Parsing checks syntax only (nothing is verified): `formatTlogProof(parseTlogProof(s)) === s` for accepted `s`.
 */
import { malformed } from './errors.js';
import { parseCheckpoint } from './checkpoint.js';
import { HASH_SIZE } from './hash.js';
import { MAX_NOTE_SIZE, parseNote } from './note.js';
import { MAX_INT63, decodeBase64Exact, decodeBase64Strict, encodeBase64, parseDecimal } from './strict.js';

/** First line of every proof. */
export const TLOG_PROOF_HEADER = 'c2sp.org/tlog-proof@v1';
/** At most 63 hashes: tree sizes are below 2^63. */
export const MAX_INCLUSION_PROOF_HASHES = 63;
/** Largest extra data accepted, in bytes. */
export const MAX_TLOG_PROOF_EXTRA = 64 * 1024;

/** A tlog-proof. `extra` is untrusted opaque data; when present it is non-empty. */
export interface TlogProof {
  index: bigint;
  proof: Uint8Array[];
  /** The checkpoint signed note, verbatim. */
  checkpoint: string;
  extra?: Uint8Array;
}

/**
 * Formats a tlog-proof. Preconditions (MALFORMED otherwise): 0 ≤ index ≤ 2^63-1, ≤ 63 hashes of 32 bytes,
 * `checkpoint` a well-formed signed checkpoint, `extra` (if given) non-empty. Empty `extra` is not encodable
 * (the spec omits the line when there is no extra data).
 */
export function formatTlogProof(p: TlogProof): string {
  if (p.index < 0n || p.index > MAX_INT63) throw malformed('tlog-proof: index out of range');
  if (p.proof.length > MAX_INCLUSION_PROOF_HASHES) throw malformed('tlog-proof: too many proof hashes');
  checkCheckpointNote(p.checkpoint);
  let out = TLOG_PROOF_HEADER + '\n';
  if (p.extra !== undefined) {
    if (p.extra.length === 0 || p.extra.length > MAX_TLOG_PROOF_EXTRA) throw malformed('tlog-proof: extra must be 1..65536 bytes');
    out += `extra ${encodeBase64(p.extra)}\n`;
  }
  out += `index ${p.index.toString()}\n`;
  for (const h of p.proof) {
    if (h.length !== HASH_SIZE) throw malformed('tlog-proof: proof hash must be 32 bytes');
    out += encodeBase64(h) + '\n';
  }
  return out + '\n' + p.checkpoint;
}

function checkCheckpointNote(note: string): void {
  parseCheckpoint(parseNote(note).text);
}

/**
 * Parses an untrusted tlog-proof strictly: exact header line; optional `extra <canonical non-empty base64>`;
 * `index <canonical decimal ≤ 2^63-1>`; 0..63 lines of canonical base64 of exactly 32 bytes; an empty line; then a
 * signed note whose text is a valid checkpoint. Throws MALFORMED. Does not verify signatures or the proof.
 */
export function parseTlogProof(text: string): TlogProof {
  if (typeof text !== 'string' || text.length > MAX_NOTE_SIZE + 2 * MAX_TLOG_PROOF_EXTRA) throw malformed('tlog-proof: too large');
  let pos = 0;
  const nextLine = (): string => {
    const end = text.indexOf('\n', pos);
    if (end < 0) throw malformed('tlog-proof: truncated');
    const line = text.slice(pos, end);
    pos = end + 1;
    return line;
  };
  if (nextLine() !== TLOG_PROOF_HEADER) throw malformed(`tlog-proof: first line must be ${TLOG_PROOF_HEADER}`);
  let line = nextLine();
  let extra: Uint8Array | undefined;
  if (line.startsWith('extra ')) {
    const b64 = line.slice('extra '.length);
    if (b64.length > 2 * MAX_TLOG_PROOF_EXTRA) throw malformed('tlog-proof: extra too large');
    extra = decodeBase64Strict(b64, 'tlog-proof extra');
    if (extra.length === 0 || extra.length > MAX_TLOG_PROOF_EXTRA) throw malformed('tlog-proof: extra must be 1..65536 bytes');
    line = nextLine();
  }
  if (!line.startsWith('index ')) throw malformed('tlog-proof: want an index line');
  const index = parseDecimal(line.slice('index '.length), 'tlog-proof index');
  const proof: Uint8Array[] = [];
  for (;;) {
    line = nextLine();
    if (line === '') break;
    if (proof.length === MAX_INCLUSION_PROOF_HASHES) throw malformed('tlog-proof: too many proof hashes');
    proof.push(decodeBase64Exact(line, HASH_SIZE, 'tlog-proof hash'));
  }
  const checkpoint = text.slice(pos);
  checkCheckpointNote(checkpoint);
  return extra === undefined ? { index, proof, checkpoint } : { index, proof, checkpoint, extra };
}
