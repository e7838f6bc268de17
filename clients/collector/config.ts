/**
 * The collector's configuration: a YAML file (deploy/config/collector.example.yaml documents every key) with
 * `${VAR}` expanded from the environment, overridden by flags and environment variables for the common settings
 * (server/commands/collect.ts). Validated strictly at start: an unknown key or a bad value fails naming the
 * option (`inputs[1].paths`), never later at runtime.
 */
import { hostname } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { parseBytes, parseDuration, parseListenAddress, type ListenAddress } from '../../server/config.js';
import { parseKeyString } from '../../server/core/keys.js';
import { RECORD_FORMATS, type RecordFormat } from './entry.js';

export interface FileInputConfig {
  readonly type: 'file' | 'audit-log';
  readonly name: string;
  readonly paths: readonly string[];
  readonly cri: boolean;
  readonly format: RecordFormat;
  readonly readFromStart: boolean;
  readonly maxLineBytes: number;
  readonly pollIntervalMs: number;
}
export interface StdinInputConfig {
  readonly type: 'stdin';
  readonly name: string;
  readonly format: RecordFormat;
  readonly cri: boolean;
  readonly maxLineBytes: number;
}
export interface WebhookInputConfig {
  readonly type: 'audit-webhook';
  readonly name: string;
  readonly listen: ListenAddress;
  readonly path: string;
  readonly maxBodyBytes: number;
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
}
export type InputConfig = FileInputConfig | StdinInputConfig | WebhookInputConfig;

export interface CollectorConfig {
  /** The collector's name: in every entry and attestation. Default: the host name. */
  readonly name: string;
  /** The node it runs on (attestations). Default: $NODE_NAME. */
  readonly node?: string;
  readonly log: {
    /** HTTP base URL: reads (checkpoint, tiles), the Rekor endpoint, and the HTTP transport. */
    readonly url: string;
    /** gRPC address host:port (for transport grpc). */
    readonly grpc?: string;
    readonly transport: 'grpc' | 'http';
    readonly vkey?: string;
    readonly origin: string;
    readonly tokenFile?: string;
    /** Check receipts (needs vkey). Default true. */
    readonly receipts: boolean;
  };
  readonly spool: { readonly dir: string; readonly maxBytes: number };
  /** PEM file of the collector's Ed25519 or P-256 key; without it, batches are not attested (a warning says so). */
  readonly signing?: { readonly keyFile?: string; readonly keyPem?: string };
  readonly batch: { readonly maxRecords: number; readonly maxBytes: number; readonly delayMs: number; readonly inFlight: number };
  readonly metrics?: ListenAddress;
  readonly receiptIntervalMs: number;
  readonly attestConcurrency: number;
  readonly inputs: readonly InputConfig[];
  readonly once: boolean;
  readonly logLevel: string;
}

/** A configuration error naming the option. */
export class ConfigError extends Error {}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Expands `${VAR}` (and `${VAR:-default}`) in every string of a parsed YAML document. Unset without default: error. */
export function expandEnv(v: unknown, env: NodeJS.ProcessEnv, where = ''): unknown {
  if (typeof v === 'string')
    return v.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, dflt: string | undefined) => {
      const x = env[name];
      if (x !== undefined && x !== '') return x;
      if (dflt !== undefined) return dflt;
      throw new ConfigError(`${where || 'config'}: environment variable ${name} is not set`);
    });
  if (Array.isArray(v)) return v.map((x, i) => expandEnv(x, env, `${where}[${i}]`));
  if (isObj(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, expandEnv(x, env, where ? `${where}.${k}` : k)]));
  return v;
}

class Reader {
  constructor(
    private readonly o: Obj,
    private readonly where: string,
    allowed: readonly string[],
  ) {
    for (const k of Object.keys(o)) if (!allowed.includes(k)) throw new ConfigError(`${this.path(k)}: unknown option (known: ${allowed.join(', ')})`);
  }
  path(k: string): string {
    return this.where ? `${this.where}.${k}` : k;
  }
  has(k: string): boolean {
    return this.o[k] !== undefined && this.o[k] !== null;
  }
  str(k: string, dflt?: string): string {
    const v = this.o[k];
    if (v === undefined || v === null) {
      if (dflt !== undefined) return dflt;
      throw new ConfigError(`${this.path(k)}: required`);
    }
    if (typeof v !== 'string' || v === '') throw new ConfigError(`${this.path(k)}: want a non-empty string`);
    return v;
  }
  optStr(k: string): string | undefined {
    return this.has(k) ? this.str(k) : undefined;
  }
  bool(k: string, dflt: boolean): boolean {
    const v = this.o[k];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'boolean') throw new ConfigError(`${this.path(k)}: want true or false`);
    return v;
  }
  int(k: string, dflt: number, min = 1, max = 1_000_000_000): number {
    const v = this.o[k];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new ConfigError(`${this.path(k)}: want an integer from ${min} to ${max}`);
    return v;
  }
  parsed<T>(k: string, parse: (s: string) => T, dflt: T): T {
    const v = this.o[k];
    if (v === undefined || v === null) return dflt;
    try {
      return parse(String(v));
    } catch (err) {
      throw new ConfigError(`${this.path(k)}: ${(err as Error).message}`);
    }
  }
  obj(k: string): Obj {
    const v = this.o[k];
    if (v === undefined || v === null) return {};
    if (!isObj(v)) throw new ConfigError(`${this.path(k)}: want a mapping`);
    return v;
  }
  list(k: string): unknown[] {
    const v = this.o[k];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw new ConfigError(`${this.path(k)}: want a list`);
    return v;
  }
}

function format(r: Reader, k: string, dflt: RecordFormat): RecordFormat {
  const f = r.str(k, dflt);
  if (!(RECORD_FORMATS as readonly string[]).includes(f)) throw new ConfigError(`${r.path(k)}: unknown format ${JSON.stringify(f)} (known: ${RECORD_FORMATS.join(', ')})`);
  return f as RecordFormat;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

function inputConfig(v: unknown, where: string): InputConfig {
  if (!isObj(v)) throw new ConfigError(`${where}: want a mapping`);
  const type = v['type'];
  const name = v['name'];
  if (typeof name !== 'string' || !NAME.test(name)) throw new ConfigError(`${where}.name: want 1–63 characters of A-Z a-z 0-9 . _ -`);
  switch (type) {
    case 'file':
    case 'audit-log': {
      const r = new Reader(v, where, ['type', 'name', 'paths', 'cri', 'format', 'readFromStart', 'maxLineBytes', 'pollInterval']);
      const paths = r.list('paths');
      if (paths.length === 0 || !paths.every((p) => typeof p === 'string' && p !== '')) throw new ConfigError(`${where}.paths: want a non-empty list of paths or globs`);
      return {
        type,
        name,
        paths: paths as string[],
        cri: r.bool('cri', false),
        format: type === 'audit-log' ? 'k8s-audit' : format(r, 'format', 'auto'),
        readFromStart: r.bool('readFromStart', true),
        maxLineBytes: r.parsed('maxLineBytes', parseBytes, 16 * 1024),
        pollIntervalMs: r.parsed('pollInterval', parseDuration, 250),
      };
    }
    case 'stdin': {
      const r = new Reader(v, where, ['type', 'name', 'format', 'cri', 'maxLineBytes']);
      return { type, name, format: format(r, 'format', 'auto'), cri: r.bool('cri', false), maxLineBytes: r.parsed('maxLineBytes', parseBytes, 16 * 1024) };
    }
    case 'audit-webhook': {
      const r = new Reader(v, where, ['type', 'name', 'listen', 'path', 'maxBodyBytes', 'tls']);
      const tls = r.obj('tls');
      const t = new Reader(tls, `${where}.tls`, ['certFile', 'keyFile']);
      return {
        type,
        name,
        listen: r.parsed('listen', parseListenAddress, undefined as unknown as ListenAddress) ?? (() => { throw new ConfigError(`${where}.listen: required (HOST:PORT)`); })(),
        path: r.str('path', '/'),
        maxBodyBytes: r.parsed('maxBodyBytes', parseBytes, 32 * 1024 * 1024),
        ...(Object.keys(tls).length > 0 ? { tls: { certFile: t.str('certFile'), keyFile: t.str('keyFile') } } : {}),
      };
    }
    default:
      throw new ConfigError(`${where}.type: want file, audit-log, stdin or audit-webhook`);
  }
}

/** Parses YAML text (empty = `{}`). */
export function parseConfigText(text: string, file: string): Obj {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`${file}: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) return {};
  if (!isObj(doc)) throw new ConfigError(`${file}: want a mapping at the top level`);
  return doc;
}

/**
 * Builds the configuration from a parsed (env-expanded) document. `overrides` (from flags and environment
 * variables) use the same nested shape and win key by key; `overrides.inputs` are appended.
 */
export function buildConfig(doc: Obj, env: NodeJS.ProcessEnv = process.env): CollectorConfig {
  const r = new Reader(doc, '', ['name', 'node', 'log', 'spool', 'signing', 'batch', 'metrics', 'receiptInterval', 'attestConcurrency', 'inputs', 'once', 'logLevel']);
  const log = new Reader(r.obj('log'), 'log', ['url', 'grpc', 'transport', 'vkey', 'origin', 'tokenFile', 'receipts']);
  const spool = new Reader(r.obj('spool'), 'spool', ['dir', 'maxBytes']);
  const signing = new Reader(r.obj('signing'), 'signing', ['keyFile', 'keyPem']);
  const batch = new Reader(r.obj('batch'), 'batch', ['maxRecords', 'maxBytes', 'delay', 'inFlight']);

  const url = log.str('url');
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('want http or https');
  } catch (err) {
    throw new ConfigError(`log.url: ${JSON.stringify(url)} is not an http(s) URL (${(err as Error).message})`);
  }
  const grpc = log.optStr('grpc');
  if (grpc !== undefined) log.parsed('grpc', parseListenAddress, undefined);
  const transport = log.str('transport', grpc !== undefined ? 'grpc' : 'http');
  if (transport !== 'grpc' && transport !== 'http') throw new ConfigError('log.transport: want grpc or http');
  if (transport === 'grpc' && grpc === undefined) throw new ConfigError('log.grpc: required with transport grpc (HOST:PORT)');
  const vkey = log.optStr('vkey');
  let keyName: string | undefined;
  if (vkey !== undefined) {
    try {
      keyName = parseKeyString(vkey, 'vkey').name;
    } catch (err) {
      throw new ConfigError(`log.vkey: ${(err as Error).message}`);
    }
  }
  const receipts = log.bool('receipts', true);
  if (receipts && vkey === undefined) throw new ConfigError('log.vkey: required to check receipts (or set log.receipts: false)');
  const origin = log.optStr('origin') ?? keyName ?? new URL(url).host;

  const inputs = r.list('inputs').map((v, i) => inputConfig(v, `inputs[${i}]`));
  const names = new Set<string>();
  for (const [i, x] of inputs.entries()) {
    if (names.has(x.name)) throw new ConfigError(`inputs[${i}].name: ${x.name} is used twice`);
    names.add(x.name);
  }
  if (inputs.length === 0) throw new ConfigError('inputs: at least one input is required');
  if (inputs.filter((x) => x.type === 'stdin').length > 1) throw new ConfigError('inputs: at most one stdin input');

  const node = r.optStr('node') ?? (env['NODE_NAME'] !== undefined && env['NODE_NAME'] !== '' ? env['NODE_NAME'] : undefined);
  const name = r.str('name', hostname());
  if (!/^[\x21-\x7e]{1,253}$/.test(name)) throw new ConfigError('name: want 1–253 printable ASCII characters without spaces');
  const keyFile = signing.optStr('keyFile');
  const keyPem = signing.optStr('keyPem');
  return {
    name,
    ...(node !== undefined ? { node } : {}),
    log: { url, ...(grpc !== undefined ? { grpc } : {}), transport, ...(vkey !== undefined ? { vkey } : {}), origin, ...(log.has('tokenFile') ? { tokenFile: log.str('tokenFile') } : {}), receipts },
    spool: { dir: spool.str('dir'), maxBytes: spool.parsed('maxBytes', parseBytes, 256 * 1024 * 1024) },
    ...(keyFile !== undefined || keyPem !== undefined ? { signing: { ...(keyFile !== undefined ? { keyFile } : {}), ...(keyPem !== undefined ? { keyPem } : {}) } } : {}),
    batch: {
      maxRecords: batch.int('maxRecords', 2000, 1, 100_000),
      maxBytes: batch.parsed('maxBytes', parseBytes, 8 * 1024 * 1024),
      delayMs: batch.parsed('delay', parseDuration, 50),
      inFlight: batch.int('inFlight', 4, 1, 64),
    },
    ...(r.has('metrics') ? { metrics: r.parsed('metrics', parseListenAddress, undefined as unknown as ListenAddress) } : {}),
    receiptIntervalMs: r.parsed('receiptInterval', parseDuration, 1000),
    attestConcurrency: r.int('attestConcurrency', 32, 1, 256),
    inputs,
    once: r.bool('once', false),
    logLevel: r.str('logLevel', 'info'),
  };
}
