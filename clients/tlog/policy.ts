// SPEC: c2sp.org/tlog-policy (transparency log trust policy; = the Sigsum policy format with vkeys).
/**
 * Witness policies: which logs are accepted, which witnesses are known, and the quorum of cosignatures a
 * checkpoint needs.
 *
 *   log <vkey> [<url>]
 *   witness <name> <vkey> [<url>]
 *   group <name> all|any|<k> <name>...
 *   quorum <name>|none
 *
 * Items are separated by ASCII spaces/tabs; blank lines and `#` comment lines are ignored. A group or the quorum
 * may only name witnesses and groups defined on earlier lines; every name is used at most once per group; exactly
 * one quorum line. Log keys are Ed25519 note vkeys (type 0x01), witness keys cosignature/v1 vkeys (type 0x04);
 * two keys wrapping the same public key are duplicates and rejected.
 */
import { malformed } from '../../server/core/errors.js';
import { newCosignatureVerifier } from '../../server/core/cosignature.js';
import { newVerifier } from '../../server/core/keys.js';
import { encodeBase64, parseDecimal } from '../../server/core/strict.js';

/** A log the policy accepts. */
export interface PolicyLog {
  readonly vkey: string;
  readonly url?: string;
}

/** A known witness. `name` is local to the policy (not necessarily the key name). */
export interface PolicyWitness {
  readonly name: string;
  readonly vkey: string;
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

const WS = /[ \t]+/;

/**
 * Parses a c2sp.org/tlog-policy file strictly. MALFORMED (with the line number) on any error: unknown keyword,
 * wrong arity, a name defined twice or `none` redefined, a member undefined or listed twice, a threshold not in
 * 1..n, a key of the wrong type, a duplicate key, a control character other than tab, or not exactly one quorum.
 */
export function parseTlogPolicy(text: string): WitnessPolicy {
  if (typeof text !== 'string') throw malformed('policy: not a string');
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
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const [kw, ...args] = line.split(WS) as [string, ...string[]];
    const defineName = (name: string): void => {
      if (name === 'none') fail('the name "none" is reserved');
      if (rules.has(name)) fail(`name ${JSON.stringify(name)} defined twice`);
    };
    switch (kw) {
      case 'log': {
        if (args.length < 1 || args.length > 2) fail('want: log <vkey> [<url>]');
        const vkey = args[0] as string;
        let pub: string;
        try {
          pub = encodeBase64(newVerifier(vkey).publicKey);
        } catch (err) {
          return fail(`log key: ${(err as Error).message}`);
        }
        if (logKeys.has(pub)) fail('duplicate log key');
        logKeys.add(pub);
        logs.push(args[1] !== undefined ? { vkey, url: args[1] } : { vkey });
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
          if (r === undefined) fail(`quorum ${JSON.stringify(name)} is not defined on an earlier line`);
          quorum = r as QuorumRule;
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
 * The policy "at least `quorum` of these witnesses" (one group over all of them), accepting `logVkeys`. Each
 * witness is named by its key name (suffixed `#<i>` if two share a name). `quorum` 0 means no cosignature is
 * required. MALFORMED for a bad or duplicate key or a quorum not in 0..witnessVkeys.length.
 */
export function simplePolicy(witnessVkeys: readonly string[], quorum: number, logVkeys: readonly string[] = []): WitnessPolicy {
  if (!Number.isInteger(quorum) || quorum < 0 || quorum > witnessVkeys.length) {
    throw malformed(`quorum ${quorum} not in 0..${witnessVkeys.length} (the number of witnesses)`);
  }
  const keyName = (v: string): string => (v.includes('+') ? v.slice(0, v.indexOf('+')) : v);
  const count = new Map<string, number>();
  for (const v of witnessVkeys) count.set(keyName(v), (count.get(keyName(v)) ?? 0) + 1);
  const names = witnessVkeys.map((v, i) => ((count.get(keyName(v)) ?? 0) > 1 || keyName(v) === 'none' ? `${keyName(v)}#${i}` : keyName(v)));
  const lines = logVkeys.map((v) => `log ${v}`);
  witnessVkeys.forEach((v, i) => lines.push(`witness ${names[i]} ${v}`));
  if (quorum === 0) lines.push('quorum none');
  else {
    const group = names.includes('quorum') ? 'quorum#' : 'quorum';
    lines.push(`group ${group} ${quorum} ${names.join(' ')}`, `quorum ${group}`);
  }
  return parseTlogPolicy(lines.join('\n') + '\n');
}

/** True if the witnesses named in `cosigned` satisfy `rule` (null = `quorum none`: always). */
export function quorumSatisfied(rule: QuorumRule | null, cosigned: ReadonlySet<string>): boolean {
  if (rule === null) return true;
  if (rule.kind === 'witness') return cosigned.has(rule.name);
  let n = 0;
  for (const m of rule.members) if (quorumSatisfied(m, cosigned)) n++;
  return n >= rule.threshold;
}

/** Formats a policy back into the tlog-policy text format (groups flattened in definition order). */
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

