/**
 * The auditor's configuration: which logs to follow (origin, URL, vkey), from `--log ORIGIN=URL=VKEY` options or a
 * YAML file with a `logs:` list (and optionally `peers:`). Parsed strictly: a wrong shape is a usage error.
 *
 *   logs:
 *     - origin: example.com/log
 *       url: https://example.com/log/
 *       vkey: example.com/log+abcd1234+AQ...
 *   peers: [https://auditor2.example/]
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { newVerifier } from '../../server/core/keys.js';

/** One followed log: its origin (checkpoint line 1), tlog-tiles URL prefix and the vkey its checkpoints are signed with. */
export interface LogConfig {
  readonly origin: string;
  /** The tlog-tiles prefix (http or https). */
  readonly url: string;
  readonly vkey: string;
}

/**
 * The `tilelog audit` options a config file may also set (same names as the flags, camelCase); a flag given on
 * the command line wins over the file.
 */
export interface AuditFileOptions {
  state?: string;
  evidenceDir?: string;
  interval?: string;
  timeout?: string;
  full?: boolean;
  http?: string;
  alarmWebhook?: string;
  logLevel?: string;
  witnessKey?: string;
}

const STRING_OPTIONS = ['state', 'evidenceDir', 'interval', 'timeout', 'http', 'alarmWebhook', 'logLevel', 'witnessKey'] as const;

/** What a config file may hold. */
export interface AuditConfigFile {
  readonly logs: LogConfig[];
  readonly peers: string[];
  readonly options: AuditFileOptions;
}

function checkLog(origin: string, url: string, vkey: string, where: string): LogConfig {
  if (origin === '' || /[\n\r]/.test(origin)) throw new Error(`${where}: empty or invalid origin`);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`${where}: invalid URL ${JSON.stringify(url)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`${where}: URL must be http(s): ${url}`);
  try {
    newVerifier(vkey);
  } catch (err) {
    throw new Error(`${where}: invalid vkey: ${(err as Error).message}`);
  }
  return { origin, url, vkey };
}

/**
 * Parses `ORIGIN=URL=VKEY`: the origin is up to the first `=`, the vkey after the last `=` (a vkey's base64 part
 * encodes 33 bytes, so it never ends in `=` padding), the URL is what lies between.
 */
export function parseLogSpec(s: string): LogConfig {
  const first = s.indexOf('=');
  const last = s.lastIndexOf('=');
  if (first < 0 || last === first) throw new Error(`--log ${JSON.stringify(s)}: want ORIGIN=URL=VKEY`);
  return checkLog(s.slice(0, first), s.slice(first + 1, last), s.slice(last + 1), `--log ${s.slice(0, first)}`);
}

/** Parses the YAML text of a config file (see the module comment). Throws on any unexpected shape. */
export function parseAuditConfig(text: string, where = 'config'): AuditConfigFile {
  const doc: unknown = parseYaml(text);
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new Error(`${where}: want a mapping with a logs: list`);
  const o = doc as Record<string, unknown>;
  const known = new Set<string>(['logs', 'peers', 'full', ...STRING_OPTIONS]);
  for (const k of Object.keys(o)) if (!known.has(k)) throw new Error(`${where}: unknown key ${JSON.stringify(k)} (known: ${[...known].join(', ')})`);
  const options: AuditFileOptions = {};
  for (const k of STRING_OPTIONS) {
    const v = o[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string' || v === '') throw new Error(`${where}: ${k}: want a non-empty string`);
    options[k] = v;
  }
  if (o['full'] !== undefined && o['full'] !== null) {
    if (typeof o['full'] !== 'boolean') throw new Error(`${where}: full: want true or false`);
    options.full = o['full'];
  }
  const logs = o['logs'];
  if (!Array.isArray(logs)) throw new Error(`${where}: logs: must be a list`);
  const out = logs.map((l: unknown, i) => {
    const w = `${where}: logs[${i}]`;
    if (l === null || typeof l !== 'object' || Array.isArray(l)) throw new Error(`${w}: want origin, url, vkey`);
    const r = l as Record<string, unknown>;
    for (const k of Object.keys(r)) if (k !== 'origin' && k !== 'url' && k !== 'vkey') throw new Error(`${w}: unknown key ${JSON.stringify(k)}`);
    const [origin, url, vkey] = [r['origin'], r['url'], r['vkey']];
    if (typeof origin !== 'string' || typeof url !== 'string' || typeof vkey !== 'string') throw new Error(`${w}: origin, url and vkey must be strings`);
    return checkLog(origin, url, vkey, w);
  });
  const peers = o['peers'] ?? [];
  if (!Array.isArray(peers) || !peers.every((p): p is string => typeof p === 'string')) throw new Error(`${where}: peers: must be a list of URLs`);
  return { logs: out, peers, options };
}

/** Reads and parses a config file. */
export function loadAuditConfig(path: string): AuditConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`--config: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseAuditConfig(text, path);
}

/** Merges logs from the config file and the command line; one entry per origin (a duplicate is an error). */
export function mergeLogs(...lists: LogConfig[][]): LogConfig[] {
  const seen = new Map<string, LogConfig>();
  for (const l of lists.flat()) {
    if (seen.has(l.origin)) throw new Error(`log ${JSON.stringify(l.origin)} given twice`);
    seen.set(l.origin, l);
  }
  if (seen.size === 0) throw new Error('no log to audit: give --log ORIGIN=URL=VKEY or --config FILE');
  return [...seen.values()];
}
