// SPEC: c2sp.org/tlog-policy (editor's copy): §Structure, §Defining a log/witness/quorum/group, §Character set.
/**
 * Transparency log trust policies: which logs and witnesses are known and which subsets of witnesses
 * ("quorum") must have cosigned a checkpoint for it to be valid.
 *
 *   log <vkey> [<url>]
 *   witness <name> <vkey> [<url>]
 *   group <name> all|any|<k> <member>...
 *   quorum <name>|none                     (exactly one)
 *
 * Whitespace = ASCII space and tab; `#` comment lines and blank lines are ignored; names are defined before
 * use (so groups cannot be circular); each name is a group member at most once per group; duplicate keys
 * (same underlying public key) are rejected. Log vkeys are Ed25519 note keys (0x01), witness vkeys are
 * cosignature/v1 keys (0x04). Every violation throws MALFORMED.
 */
import { newCosignatureVerifier, type CosignatureVerifier } from './cosignature.js';
import { malformed } from './errors.js';
import { newVerifier, type Ed25519NoteVerifier } from './keys.js';
import { encodeBase64 } from './strict.js';

export interface PolicyLog {
  readonly vkey: string;
  readonly verifier: Ed25519NoteVerifier;
  readonly url: string | undefined;
}

export interface PolicyWitness {
  /** The policy-local name (not the key name). */
  readonly name: string;
  readonly vkey: string;
  readonly verifier: CosignatureVerifier;
  /** The witness's submission prefix, if given. */
  readonly url: string | undefined;
}

/** A quorum rule: a single witness, or at least `threshold` of `members`. */
export type QuorumNode =
  | { readonly kind: 'witness'; readonly name: string }
  | { readonly kind: 'group'; readonly name: string; readonly threshold: number; readonly members: readonly QuorumNode[] };

export interface Policy {
  readonly logs: readonly PolicyLog[];
  readonly witnesses: readonly PolicyWitness[];
  /** undefined for `quorum none` (no cosignature required). */
  readonly quorum: QuorumNode | undefined;
}

const NONE = 'none';

/** Parses a policy file (bytes or text). MALFORMED on any syntax or semantic error. */
export function parsePolicy(input: string | Uint8Array): Policy {
  const text = typeof input === 'string' ? input : Buffer.from(input).toString('latin1');
  // Allowed octets: tab, newline, 0x20-0x7E, and anything ≥ 0x80 (opaque).
  if (/[\x00-\x08\x0b-\x1f\x7f]/.test(text)) throw malformed('policy: control character');
  const logs: PolicyLog[] = [];
  const witnesses: PolicyWitness[] = [];
  const names = new Map<string, QuorumNode>();
  const keys = new Set<string>();
  let quorum: QuorumNode | undefined;
  let quorumSeen = false;
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const where = `policy line ${i + 1}`;
    const line = raw.replace(/^[ \t]+|[ \t]+$/g, '');
    if (line === '' || line.startsWith('#')) return;
    const f = line.split(/[ \t]+/);
    const kw = f[0] as string;
    const uniqueKey = (pub: Uint8Array) => {
      const k = encodeBase64(pub);
      if (keys.has(k)) throw malformed(`${where}: duplicate key`);
      keys.add(k);
    };
    const defineName = (name: string, node: QuorumNode) => {
      if (name === NONE) throw malformed(`${where}: "none" is a reserved name`);
      if (names.has(name)) throw malformed(`${where}: ${JSON.stringify(name)} is already defined`);
      names.set(name, node);
    };
    switch (kw) {
      case 'log': {
        if (f.length < 2 || f.length > 3) throw malformed(`${where}: want "log <vkey> [<url>]"`);
        const verifier = newVerifier(f[1] as string);
        uniqueKey(verifier.publicKey);
        logs.push({ vkey: f[1] as string, verifier, url: f[2] });
        return;
      }
      case 'witness': {
        if (f.length < 3 || f.length > 4) throw malformed(`${where}: want "witness <name> <vkey> [<url>]"`);
        const name = f[1] as string;
        const verifier = newCosignatureVerifier(f[2] as string);
        uniqueKey(verifier.publicKey);
        defineName(name, { kind: 'witness', name });
        witnesses.push({ name, vkey: f[2] as string, verifier, url: f[3] });
        return;
      }
      case 'group': {
        if (f.length < 4) throw malformed(`${where}: want "group <name> all|any|<k> <member>..."`);
        const name = f[1] as string;
        const memberNames = f.slice(3);
        const seen = new Set<string>();
        const members = memberNames.map((m) => {
          if (seen.has(m)) throw malformed(`${where}: member ${JSON.stringify(m)} listed twice`);
          seen.add(m);
          const node = names.get(m);
          if (node === undefined) throw malformed(`${where}: ${JSON.stringify(m)} is not defined on a preceding line`);
          return node;
        });
        const k = f[2] as string;
        let threshold: number;
        if (k === 'all') threshold = members.length;
        else if (k === 'any') threshold = 1;
        else if (/^[1-9][0-9]{0,5}$/.test(k)) threshold = Number(k);
        else throw malformed(`${where}: threshold must be all, any or a decimal k`);
        if (threshold < 1 || threshold > members.length) throw malformed(`${where}: want 1 <= k <= ${members.length}`);
        defineName(name, { kind: 'group', name, threshold, members });
        return;
      }
      case 'quorum': {
        if (f.length !== 2) throw malformed(`${where}: want "quorum <name>"`);
        if (quorumSeen) throw malformed(`${where}: a second quorum line`);
        quorumSeen = true;
        const name = f[1] as string;
        if (name === NONE) return;
        const node = names.get(name);
        if (node === undefined) throw malformed(`${where}: ${JSON.stringify(name)} is not defined on a preceding line`);
        quorum = node;
        return;
      }
      default:
        throw malformed(`${where}: unknown keyword ${JSON.stringify(kw)}`);
    }
  });
  if (!quorumSeen) throw malformed('policy: no quorum line');
  return { logs, witnesses, quorum };
}

/**
 * A policy requiring `threshold` of `witnesses` (the command-line form `--witness … --witness-quorum K`).
 * threshold 0 or no witnesses → `quorum none`. Preconditions: distinct names and keys, 0 ≤ threshold ≤ n.
 */
export function thresholdPolicy(witnesses: readonly PolicyWitness[], threshold: number): Policy {
  if (!Number.isInteger(threshold) || threshold < 0 || threshold > witnesses.length) throw malformed(`witness quorum must be between 0 and ${witnesses.length}`);
  const names = new Set(witnesses.map((w) => w.name));
  if (names.size !== witnesses.length) throw malformed('witness names must be distinct');
  const keys = new Set(witnesses.map((w) => encodeBase64(w.verifier.publicKey)));
  if (keys.size !== witnesses.length) throw malformed('witness keys must be distinct');
  if (threshold === 0) return { logs: [], witnesses, quorum: undefined };
  const members: QuorumNode[] = witnesses.map((w) => ({ kind: 'witness', name: w.name }));
  return { logs: [], witnesses, quorum: { kind: 'group', name: 'witnesses', threshold, members } };
}

/** True if the set of witness names that validly cosigned satisfies `quorum` (undefined = none = always). */
export function quorumSatisfied(quorum: QuorumNode | undefined, cosigned: ReadonlySet<string>): boolean {
  if (quorum === undefined) return true;
  if (quorum.kind === 'witness') return cosigned.has(quorum.name);
  let n = 0;
  for (const m of quorum.members) if (quorumSatisfied(m, cosigned)) n++;
  return n >= quorum.threshold;
}
