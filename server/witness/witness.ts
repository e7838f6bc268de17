// SPEC: c2sp.org/tlog-witness v1.0.0 §add-checkpoint, §TBD Monitor Retrieval Mechanism; c2sp.org/tlog-cosignature.
/**
 * A tlog-witness: for each known log (origin + the log's note vkeys) it keeps the latest checkpoint it cosigned
 * and cosigns a new checkpoint only if it is signed by the log and provably consistent with that one.
 *
 * Checks of `add-checkpoint`, in order, each with the status the spec assigns:
 *   body does not parse (old line, ≤ 63 base64 32-byte proof lines, empty line, signed checkpoint)  → 400
 *   origin unknown                                                                            → 404
 *   no signature from a trusted log key, or a signature by a trusted (name, ID) that fails    → 403
 *   old size > checkpoint size                                                                → 400
 *   --- atomically per origin (requests for one origin are serialized) ---
 *   old size ≠ size of the latest cosigned checkpoint (0 if none)                             → 409, `<size>\n`
 *   old size = checkpoint size but the root differs from the cosigned one                     → 409, `<size>\n`
 *   consistency proof does not verify (non-empty proof with old 0, size-0 checkpoint whose
 *   root is not SHA-256(""), non-empty proof for equal sizes)                                 → 422
 *   otherwise: cosign, store durably (fsync), and only then reply 200 with the cosignature line.
 *
 * Invariant: the stored size per origin never decreases, and every stored checkpoint is consistent with the
 * previous one (proof verified while holding the origin's lock, so the rollback race of the spec cannot occur).
 */
import { TlogError } from '../core/errors.js';
import { EMPTY_ROOT, sha256 } from '../core/hash.js';
import { parseCheckpoint } from '../core/checkpoint.js';
import { type Cosigner } from '../core/cosignature.js';
import { newVerifier } from '../core/keys.js';
import { formatSignatureLine, parseNote, verifyNote, type NoteVerifier } from '../core/note.js';
import { verifyConsistency } from '../core/proof.js';
import { bytesEqual, encodeHex } from '../core/strict.js';
import { formatTreeSizeBody, parseAddCheckpointRequest, TLOG_SIZE_CONTENT_TYPE, type AddCheckpointRequest } from '../core/witness-protocol.js';
import { ERROR_TABLE } from '../errors.js';
import { WitnessState } from './state.js';

/** A log the witness knows: its origin line and the note vkeys (Ed25519, 0x01) it trusts for it. */
export interface KnownLog {
  readonly origin: string;
  readonly vkeys: readonly string[];
}

export interface WitnessOptions {
  /** LevelDB directory of the witness state. */
  readonly dir: string;
  readonly cosigner: Cosigner;
  readonly logs: readonly KnownLog[];
  /** Clock in ms since the epoch (cosignature timestamps are its seconds). */
  readonly now?: () => number;
  /**
   * Called for requests from a known log with a valid signature that are refused as inconsistent (409 on a
   * different root, 422): possible evidence of log misbehaviour (the spec says the witness MAY log them).
   */
  readonly onRejected?: (e: { origin: string; status: number; reason: string; body: string }) => void;
}

/** An HTTP response, independent of the server framework. */
export interface WitnessResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

const TEXT = 'text/plain; charset=utf-8';

function errorResponse(e: TlogError): WitnessResponse {
  return { status: ERROR_TABLE[e.code].http, contentType: TEXT, body: `${e.message}\n` };
}

function conflict(size: bigint): WitnessResponse {
  return { status: ERROR_TABLE.INCONSISTENT.http, contentType: TLOG_SIZE_CONTENT_TYPE, body: formatTreeSizeBody(size) };
}

/** Parses `ORIGIN=VKEY` (split at the last '=': Ed25519 vkeys carry no base64 padding) or a bare VKEY (origin = key name). */
export function parseKnownLog(s: string): KnownLog {
  const eq = s.lastIndexOf('=');
  if (eq < 0) return { origin: newVerifier(s).name, vkeys: [s] };
  const origin = s.slice(0, eq);
  const vkey = s.slice(eq + 1);
  newVerifier(vkey);
  if (origin.length === 0) throw new Error(`log ${JSON.stringify(s)}: empty origin`);
  return { origin, vkeys: [vkey] };
}

/** Lowercase hex SHA-256 of the origin: the path segment of the monitoring endpoint. */
export function originHash(origin: string): string {
  return encodeHex(sha256(Buffer.from(origin, 'utf8')));
}

export class Witness {
  private readonly verifiers = new Map<string, NoteVerifier[]>();
  private readonly byHash = new Map<string, string>();
  /** Tail of the promise chain of each origin: requests for one origin run one at a time. */
  private readonly locks = new Map<string, Promise<unknown>>();
  private closed = false;

  private constructor(
    private readonly state: WitnessState,
    readonly cosigner: Cosigner,
    logs: readonly KnownLog[],
    private readonly now: () => number,
    private readonly onRejected: WitnessOptions['onRejected'],
  ) {
    for (const l of logs) {
      const list = this.verifiers.get(l.origin) ?? [];
      for (const v of l.vkeys) list.push(newVerifier(v));
      this.verifiers.set(l.origin, list);
      this.byHash.set(originHash(l.origin), l.origin);
    }
  }

  /** Opens the witness state in `o.dir`. Throws on an invalid log vkey. */
  static async open(o: WitnessOptions): Promise<Witness> {
    const logs = o.logs;
    for (const l of logs) for (const v of l.vkeys) newVerifier(v);
    const state = await WitnessState.open(o.dir);
    return new Witness(state, o.cosigner, logs, o.now ?? Date.now, o.onRejected);
  }

  /** The witness's cosigner vkey (0x04), to give to logs and verifiers. */
  get vkey(): string {
    return this.cosigner.vkey;
  }

  /** The origins this witness knows. */
  get origins(): string[] {
    return [...this.verifiers.keys()];
  }

  /** Handles an add-checkpoint request body (UTF-8 text). Never throws for bad input. */
  async addCheckpoint(body: string): Promise<WitnessResponse> {
    let req: AddCheckpointRequest;
    try {
      req = parseAddCheckpointRequest(body);
    } catch (err) {
      if (err instanceof TlogError) return errorResponse(err);
      throw err;
    }
    const origin = req.checkpoint.origin;
    const verifiers = this.verifiers.get(origin);
    if (verifiers === undefined) return errorResponse(new TlogError('NOT_FOUND', `unknown origin ${JSON.stringify(origin)}`));
    let logSignatures;
    try {
      logSignatures = verifyNote(req.parsedNote, verifiers).verified;
    } catch (err) {
      if (err instanceof TlogError) return errorResponse(new TlogError('PERMISSION_DENIED', err.message));
      throw err;
    }
    if (req.oldSize > req.checkpoint.treeSize) {
      return errorResponse(new TlogError('MALFORMED', `old size ${req.oldSize} is larger than the checkpoint size ${req.checkpoint.treeSize}`));
    }
    return this.withLock(origin, async () => {
      if (this.closed) return errorResponse(new TlogError('PUSHBACK', 'the witness is shutting down'));
      const storedNote = await this.state.get(origin);
      const stored = storedNote === undefined ? undefined : parseCheckpoint(parseNote(storedNote).text);
      const storedSize = stored?.treeSize ?? 0n;
      if (req.oldSize !== storedSize) return conflict(storedSize);
      const c = req.checkpoint;
      if (stored !== undefined && c.treeSize === stored.treeSize && !bytesEqual(c.rootHash, stored.rootHash)) {
        this.onRejected?.({ origin, status: 409, reason: 'same size, different root', body });
        return conflict(storedSize);
      }
      const oldRoot = stored?.rootHash ?? EMPTY_ROOT;
      if (!verifyConsistency(req.oldSize, c.treeSize, oldRoot, c.rootHash, req.proof)) {
        this.onRejected?.({ origin, status: 422, reason: 'consistency proof does not verify', body });
        return errorResponse(new TlogError('VERIFICATION_FAILED', `consistency proof from ${req.oldSize} to ${c.treeSize} does not verify`));
      }
      const text = req.parsedNote.text;
      const line = this.cosigner.cosign(text, BigInt(Math.floor(this.now() / 1000)));
      const cosigned = `${text}\n${logSignatures.map(formatSignatureLine).join('')}${line}`;
      // DURABILITY POINT: the new latest checkpoint is fsynced before the cosignature leaves the witness.
      await this.state.put(origin, cosigned);
      return { status: 200, contentType: TEXT, body: line };
    });
  }

  /**
   * The latest cosigned checkpoint (log signatures and this witness's cosignature) for the origin whose lowercase
   * hex SHA-256 is `hash`, or undefined (→ 404) if unknown or never cosigned.
   */
  async latest(hash: string): Promise<string | undefined> {
    const origin = this.byHash.get(hash);
    if (origin === undefined) return undefined;
    return this.state.get(origin);
  }

  /** The latest cosigned checkpoint for `origin`, or undefined. */
  async latestFor(origin: string): Promise<string | undefined> {
    return this.verifiers.has(origin) ? this.state.get(origin) : undefined;
  }

  /** Waits for in-flight requests, then closes the state. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.locks.values()]);
    await this.state.close();
  }

  private withLock<T>(origin: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(origin) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => {});
    this.locks.set(origin, tail);
    void tail.then(() => {
      if (this.locks.get(origin) === tail) this.locks.delete(origin);
    });
    return run;
  }
}
