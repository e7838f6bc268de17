/**
 * Parser of C2SP tlog-proof files (c2sp.org/tlog-proof@v1 §Format), strict, for the browser:
 * header, optional `extra <base64>`, `index <decimal>`, 0..63 base64 hashes, empty line, signed checkpoint.
 */
import { fromBase64 } from './bytes.js';
import { HASH_SIZE } from './merkle.js';

export const TLOG_PROOF_HEADER = 'c2sp.org/tlog-proof@v1';

/** A parsed tlog-proof; nothing verified. */
export interface TlogProof {
  readonly index: bigint;
  readonly proof: readonly Uint8Array[];
  readonly checkpoint: string;
  readonly extra?: Uint8Array;
}

/** Parses a tlog-proof; throws an Error on anything malformed. */
export function parseTlogProof(text: string): TlogProof {
  let pos = 0;
  const next = (): string => {
    const end = text.indexOf('\n', pos);
    if (end < 0) throw new Error('tlog-proof: truncated');
    const line = text.slice(pos, end);
    pos = end + 1;
    return line;
  };
  if (next() !== TLOG_PROOF_HEADER) throw new Error(`tlog-proof: first line must be ${TLOG_PROOF_HEADER}`);
  let line = next();
  let extra: Uint8Array | undefined;
  if (line.startsWith('extra ')) {
    extra = fromBase64(line.slice(6), 'tlog-proof extra');
    line = next();
  }
  const m = /^index (0|[1-9][0-9]{0,18})$/.exec(line);
  if (m === null) throw new Error('tlog-proof: want an index line');
  const index = BigInt(m[1]!);
  const proof: Uint8Array[] = [];
  for (;;) {
    line = next();
    if (line === '') break;
    if (proof.length === 63) throw new Error('tlog-proof: too many hashes');
    const h = fromBase64(line, 'tlog-proof hash');
    if (h.length !== HASH_SIZE) throw new Error('tlog-proof: hash must be 32 bytes');
    proof.push(h);
  }
  const checkpoint = text.slice(pos);
  return extra === undefined ? { index, proof, checkpoint } : { index, proof, checkpoint, extra };
}
