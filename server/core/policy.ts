// SPEC: c2sp.org/tlog-policy (editor's copy): §Structure, §Public key representation, §Defining a log/witness/
// quorum/witness group, §Character set, §Implementation limits. (= the Sigsum policy format with vkeys.)
/**
 * Transparency log trust policies: which logs are accepted, which witnesses are known, and the quorum of
 * cosignatures a checkpoint needs. The one parser of the format (the log's witnessing, `tilelog` commands and
 * clients/tlog all use it; clients/tlog/policy.ts re-exports this module).
 *
 *   log <vkey> [<url>]
 *   witness <name> <vkey> [<url>]
 *   group <name> all|any|<k> <name>...
 *   quorum <name>|none                     (exactly one)
 *
 * Items are separated by ASCII spaces and tabs only; blank lines and `#` comment lines are ignored. A group or the
 * quorum may only name witnesses and groups defined on earlier lines (so groups cannot be circular); every name is
 * listed at most once per group. Log keys are Ed25519 note vkeys (type 0x01), witness keys cosignature/v1 vkeys
 * (type 0x04); two log lines, or two witness lines, whose vkeys wrap the same public key are duplicates and
 * rejected. Pure: no I/O; every violation throws MALFORMED (with the line number).
 */
import { newCosignatureVerifier } from './cosignature.js';
import { malformed } from './errors.js';
import { newVerifier } from './keys.js';
import { encodeBase64, parseDecimal } from './strict.js';

/** A log the policy accepts (§Defining a log). */
export interface PolicyLog {
  readonly vkey: string;
  readonly url?: string;
}

/** A known witness (§Defining a witness). `name` is local to the policy (not necessarily the key name). */
export interface PolicyWitness {
  readonly name: string;
  readonly vkey: string;
  /** The witness's submission prefix (c2sp.org/tlog-witness), if given. */
  readonly url?: string;
}

/**
 * A quorum rule: a single witness, or a group satisfied when at least `threshold` of its members are
 * (1 ≤ threshold ≤ members.length).
 */
export type QuorumRule =
  | { readonly kind: 'witness'; readonly name: string }
  | { readonly kind: 'group'; readonly name: string; readonly threshold: number; readonly members: readonly QuorumRule[] };

/** A witness policy. `quorum` null means `quorum none`: no cosignature required. */
export interface WitnessPolicy {
  readonly logs: readonly PolicyLog[];
  readonly witnesses: readonly PolicyWitness[];
  readonly quorum: QuorumRule | null;
}

/** Most lines of a policy file accepted (the spec recommends supporting ≥ 32 logs, witnesses and groups each). */
export const MAX_POLICY_LINES = 4096;

/** §Structure: "whitespace" is ASCII space and tab only. */
const WS = /[ \t]+/;
const TRIM = /^[ \t]+|[ \t]+$/g;

/**
 * Parses a c2sp.org/tlog-policy file strictly: text, or the file's octets (read as latin1, so non-ASCII octets stay
 * opaque as §Character set requires). MALFORMED (with the line number) on any error: unknown keyword, wrong arity,
 * a name defined twice or `none` redefined, a member undefined or listed twice, a threshold not in 1..n, a key of
 * the wrong type, a duplicate log or witness key, a control character other than tab, more than
 * MAX_POLICY_LINES lines, or not exactly one quorum line.
 */
export function parseTlogPolicy(input: string | Uint8Array): WitnessPolicy {
  if (typeof input !== 'string' && !(input instanceof Uint8Array)) throw malformed('policy: not text');
  const text = typeof input === 'string' ? input : Buffer.from(input).toString('latin1');
  // §Character set: allowed octets are tab, newline, 0x20-0x7E and anything ≥ 0x80 (opaque).
  if (/[\x00-\x08\x0b-\x1f\x7f]/.test(text)) throw malformed('policy: control character (only tab and newline are allowed)');
  const lines = text.split('\n');
  if (lines.length > MAX_POLICY_LINES) throw malformed('policy: too many lines');
  const logs: PolicyLog[] = [];
  const witnesses: PolicyWitness[] = [];
  const rules = new Map<string, QuorumRule>();
  const logKeys = new Set<string>();
  const witnessKeys = new Set<string>();
  let quorum: QuorumRule | null | undefined;
  lines.forEach((raw, i) => {
    const fail = (msg: string): never => {
      throw malformed(`policy line ${i + 1}: ${msg}`);
    };
    const line = raw.replace(TRIM, '');
    if (line === '' || line.startsWith('#')) return;
    const [kw, ...args] = line.split(WS) as [string, ...string[]];
    const defineName = (name: string): void => {
      if (name === 'none') fail('the name "none" is reserved');
      if (rules.has(name)) fail(`name ${JSON.stringify(name)} defined twice`);
    };
    switch (kw) {
      case 'log': {
        if (args.length < 1 || args.length > 2) fail('want: log <vkey> [<url>]');
        const [vkey, url] = args as [string, string | undefined];
        let pub: string;
        try {
          pub = encodeBase64(newVerifier(vkey).publicKey);
        } catch (err) {
          return fail(`log key: ${(err as Error).message}`);
        }
        if (logKeys.has(pub)) fail('duplicate log key');
        logKeys.add(pub);
        logs.push(url !== undefined ? { vkey, url } : { vkey });
        return;
      }
      case 'witness': {
        if (args.length < 2 || args.length > 3) fail('want: witness <name> <vkey> [<url>]');
        const [name, vkey, url] = args as [string, string, string | undefined];
        defineName(name);
        let pub: string;
        try {
          pub = encodeBase64(newCosignatureVerifier(vkey).publicKey);
        } catch (err) {
          return fail(`witness key: ${(err as Error).message}`);
        }
        if (witnessKeys.has(pub)) fail('duplicate witness key');
        witnessKeys.add(pub);
        witnesses.push(url !== undefined ? { name, vkey, url } : { name, vkey });
        rules.set(name, { kind: 'witness', name });
        return;
      }
      case 'group': {
        if (args.length < 3) fail('want: group <name> all|any|<k> <name>...');
        const [name, k, ...memberNames] = args as [string, string, ...string[]];
        defineName(name);
        const seen = new Set<string>();
        const members = memberNames.map((m) => {
          if (seen.has(m)) fail(`member ${JSON.stringify(m)} listed twice`);
          seen.add(m);
          const r = rules.get(m);
          if (r === undefined) return fail(`member ${JSON.stringify(m)} is not defined on an earlier line`);
          return r;
        });
        let threshold: number;
        if (k === 'all') threshold = members.length;
        else if (k === 'any') threshold = 1;
        else {
          let t: bigint;
          try {
            t = parseDecimal(k, 'threshold');
          } catch {
            return fail('threshold must be all, any or a decimal number');
          }
          if (t < 1n || t > BigInt(members.length)) fail(`threshold ${k} not in 1..${members.length}`);
          threshold = Number(t);
        }
        rules.set(name, { kind: 'group', name, threshold, members });
        return;
      }
      case 'quorum': {
        if (args.length !== 1) fail('want: quorum <name>|none');
        if (quorum !== undefined) fail('more than one quorum line');
        const name = args[0] as string;
        if (name === 'none') quorum = null;
        else {
          const r = rules.get(name);
          if (r === undefined) return fail(`quorum ${JSON.stringify(name)} is not defined on an earlier line`);
          quorum = r;
        }
        return;
      }
      default:
        fail(`unknown keyword ${JSON.stringify(kw)}`);
    }
  });
  if (quorum === undefined) throw malformed('policy: no quorum line');
  return { logs, witnesses, quorum };
}

/**
 * The policy "at least `quorum` of these witnesses" (one group, named `quorum`, over all of them), accepting
 * `logVkeys`: the command-line form (`serve --witness NAME=URL=VKEY … --witness-quorum K`). `quorum` 0 or no
 * witnesses means `quorum none`. Built as policy text and parsed, so every rule of the format holds. MALFORMED for
 * a name or URL that is empty or contains whitespace, a bad or duplicate key or name, or a quorum not in
 * 0..witnesses.length.
 */
export function thresholdPolicy(witnesses: readonly PolicyWitness[], quorum: number, logVkeys: readonly string[] = []): WitnessPolicy {
  if (!Number.isInteger(quorum) || quorum < 0 || quorum > witnesses.length) {
    throw malformed(`quorum ${quorum} not in 0..${witnesses.length} (the number of witnesses)`);
  }
  const item = (s: string, what: string): string => {
    if (s === '' || /[ \t\n]/.test(s)) throw malformed(`witness ${what} ${JSON.stringify(s)}: empty or contains whitespace`);
    return s;
  };
  const lines = logVkeys.map((v) => `log ${item(v, 'log vkey')}`);
  for (const w of witnesses) {
    const fields = [item(w.name, 'name'), item(w.vkey, 'vkey'), ...(w.url !== undefined ? [item(w.url, 'URL')] : [])];
    lines.push(`witness ${fields.join(' ')}`);
  }
  if (quorum === 0) lines.push('quorum none');
  else {
    const names = witnesses.map((w) => w.name);
    let group = 'quorum';
    while (names.includes(group)) group += '#';
    lines.push(`group ${group} ${quorum} ${names.join(' ')}`, `quorum ${group}`);
  }
  return parseTlogPolicy(lines.join('\n') + '\n');
}

/**
 * {@link thresholdPolicy} over bare witness vkeys (`tilelog … --witness VKEY --quorum K`): each witness is named by
 * its key name (suffixed `#<i>` if two share a name, or the name is `none`; `#` appended while still taken).
 */
export function simplePolicy(witnessVkeys: readonly string[], quorum: number, logVkeys: readonly string[] = []): WitnessPolicy {
  const keyName = (v: string): string => (v.includes('+') ? v.slice(0, v.indexOf('+')) : v);
  const count = new Map<string, number>();
  for (const v of witnessVkeys) count.set(keyName(v), (count.get(keyName(v)) ?? 0) + 1);
  const taken = new Set<string>();
  const witnesses = witnessVkeys.map((vkey, i) => {
    const k = keyName(vkey);
    let name = (count.get(k) ?? 0) > 1 || k === 'none' ? `${k}#${i}` : k;
    while (taken.has(name)) name += '#'; // a key literally named like another's suffixed name
    taken.add(name);
    return { name, vkey };
  });
  return thresholdPolicy(witnesses, quorum, logVkeys);
}

/** True if the witnesses named in `cosigned` satisfy `rule` (null = `quorum none`: always). */
export function quorumSatisfied(rule: QuorumRule | null, cosigned: ReadonlySet<string>): boolean {
  if (rule === null) return true;
  if (rule.kind === 'witness') return cosigned.has(rule.name);
  let n = 0;
  for (const m of rule.members) if (quorumSatisfied(m, cosigned)) n++;
  return n >= rule.threshold;
}

/** Formats a policy back into the tlog-policy text format (groups emitted in dependency order). */
export function formatTlogPolicy(p: WitnessPolicy): string {
  const out: string[] = [];
  for (const l of p.logs) out.push(l.url !== undefined ? `log ${l.vkey} ${l.url}` : `log ${l.vkey}`);
  for (const w of p.witnesses) out.push(w.url !== undefined ? `witness ${w.name} ${w.vkey} ${w.url}` : `witness ${w.name} ${w.vkey}`);
  const done = new Set<string>();
  const emit = (r: QuorumRule): void => {
    if (r.kind === 'witness' || done.has(r.name)) return;
    r.members.forEach(emit);
    done.add(r.name);
    out.push(`group ${r.name} ${r.threshold} ${r.members.map((m) => m.name).join(' ')}`);
  };
  if (p.quorum !== null) emit(p.quorum);
  out.push(`quorum ${p.quorum === null ? 'none' : p.quorum.name}`);
  return out.join('\n') + '\n';
}
