/**
 * OTLP logs → log entries (pure: no I/O). One entry per LogRecord: the RFC 8785 canonical JSON of
 *
 *   {"type":"otlp.log/v1", "submitter"?: <subject, only when authenticated>,
 *    "resource": {"attributes":[…], "droppedAttributesCount"?},
 *    "scope": {"name","version","attributes":[…], "droppedAttributesCount"?, "schemaUrl"?},
 *    "schemaUrl"?: <the ResourceLogs schema URL>,
 *    "logRecord": {…the record in OTLP/JSON form…}}
 *
 * Both wire forms go through one normaliser into the OTLP/JSON representation (lowerCamelCase names, 64-bit
 * integers as decimal strings, trace/span ids as lowercase hex, other bytes as padded standard base64, enums as
 * integers, non-finite doubles as "NaN"/"Infinity"/"-Infinity", scalar fields at their default value omitted),
 * so the same record sent as protobuf or as OTLP/JSON yields the same entry bytes.
 *
 * Untrusted input: anything of the wrong type throws MALFORMED. Unknown fields are ignored (OTLP/JSON rule), but
 * the snake_case spelling of a known field is refused (OTLP/JSON keys are lowerCamelCase only; silently ignoring
 * `resource_logs` would drop audit data). A record whose entry would exceed 65,535 bytes is rejected on its own
 * (counted as a partial success), not the whole request.
 */
import { canonicalBytes } from '../ingest/canonical.js';
import type { Principal } from '../auth.js';
import { malformed } from '../core/errors.js';
import { MAX_ENTRY_SIZE } from '../core/entry-bundle.js';

/** The `type` of every OTLP log entry. */
export const OTLP_LOG_ENTRY_TYPE = 'otlp.log/v1';

/** Deepest AnyValue nesting accepted (arrays and kvlists in arrays and kvlists …). */
export const MAX_ANY_VALUE_DEPTH = 32;

// ---- the normalised (OTLP/JSON) form ----

export type AnyValue =
  | { stringValue: string }
  | { boolValue: boolean }
  | { intValue: string }
  | { doubleValue: number | string }
  | { bytesValue: string }
  | { arrayValue: { values: AnyValue[] } }
  | { kvlistValue: { values: KeyValue[] } }
  | Record<string, never>;

export interface KeyValue {
  key: string;
  value?: AnyValue;
}

export interface LogRecord {
  timeUnixNano?: string;
  observedTimeUnixNano?: string;
  severityNumber?: number;
  severityText?: string;
  body?: AnyValue;
  attributes?: KeyValue[];
  droppedAttributesCount?: number;
  flags?: number;
  traceId?: string;
  spanId?: string;
}

export interface Scope {
  name: string;
  version: string;
  attributes: KeyValue[];
  droppedAttributesCount?: number;
}

export interface ScopeLogs {
  scope: Scope;
  logRecords: LogRecord[];
  schemaUrl?: string;
}

export interface Resource {
  attributes: KeyValue[];
  droppedAttributesCount?: number;
}

export interface ResourceLogs {
  resource: Resource;
  scopeLogs: ScopeLogs[];
  schemaUrl?: string;
}

/** A normalised ExportLogsServiceRequest. */
export interface LogsRequest {
  resourceLogs: ResourceLogs[];
}

/** Entries made from a request, and the records refused (for `partial_success`). */
export interface Converted {
  readonly entries: Uint8Array[];
  /** Number of log records in the request. */
  readonly total: number;
  readonly rejected: number;
  /** Why records were rejected (set when `rejected > 0`). */
  readonly errorMessage?: string;
}

// ---- normalisation ----

type Source = 'json' | 'protobuf';
type Obj = Record<string, unknown>;

const SNAKE: Readonly<Record<string, string>> = {
  resourceLogs: 'resource_logs',
  scopeLogs: 'scope_logs',
  schemaUrl: 'schema_url',
  logRecords: 'log_records',
  droppedAttributesCount: 'dropped_attributes_count',
  timeUnixNano: 'time_unix_nano',
  observedTimeUnixNano: 'observed_time_unix_nano',
  severityNumber: 'severity_number',
  severityText: 'severity_text',
  traceId: 'trace_id',
  spanId: 'span_id',
  stringValue: 'string_value',
  boolValue: 'bool_value',
  intValue: 'int_value',
  doubleValue: 'double_value',
  arrayValue: 'array_value',
  kvlistValue: 'kvlist_value',
  bytesValue: 'bytes_value',
};

const MAX_U64 = (1n << 64n) - 1n;
const MIN_I64 = -(1n << 63n);
const MAX_I64 = (1n << 63n) - 1n;

class Normaliser {
  constructor(private readonly src: Source) {}

  /** A field of `o` by its lowerCamelCase name; null counts as absent (proto3 JSON). */
  field(o: Obj, name: string, path: string): unknown {
    if (this.src === 'json') {
      const snake = SNAKE[name];
      if (snake !== undefined && Object.hasOwn(o, snake)) throw malformed(`${path}.${snake}: OTLP/JSON field names are lowerCamelCase; use "${name}"`);
    }
    if (!Object.hasOwn(o, name)) return undefined;
    const v = o[name];
    return v === null ? undefined : v;
  }

  obj(v: unknown, path: string): Obj {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) throw malformed(`${path}: want an object`);
    return v as Obj;
  }

  arr(v: unknown, path: string): unknown[] {
    if (v === undefined) return [];
    if (!Array.isArray(v)) throw malformed(`${path}: want an array`);
    return v;
  }

  str(v: unknown, path: string): string {
    if (typeof v !== 'string') throw malformed(`${path}: want a string`);
    return v;
  }

  /** A string field, omitted when absent or empty. */
  optStr(o: Obj, name: string, path: string): string | undefined {
    const v = this.field(o, name, path);
    if (v === undefined) return undefined;
    const s = this.str(v, `${path}.${name}`);
    return s === '' ? undefined : s;
  }

  /** An integer (JSON number, or decimal string) in [min, max]. */
  int(v: unknown, path: string, min: bigint, max: bigint, allowString: boolean): bigint {
    let n: bigint;
    if (typeof v === 'number') {
      if (!Number.isInteger(v)) throw malformed(`${path}: want an integer`);
      n = BigInt(v);
    } else if (typeof v === 'string' && allowString) {
      if (!/^-?(0|[1-9][0-9]*)$/.test(v) || v === '-0') throw malformed(`${path}: want a decimal integer`);
      n = BigInt(v);
    } else throw malformed(`${path}: want an integer${allowString ? ' (number or decimal string)' : ''}`);
    if (n < min || n > max) throw malformed(`${path}: out of range`);
    return n;
  }

  /** A uint32 field, omitted when 0. */
  optU32(o: Obj, name: string, path: string): number | undefined {
    const v = this.field(o, name, path);
    if (v === undefined) return undefined;
    const n = Number(this.int(v, `${path}.${name}`, 0n, 0xffffffffn, true));
    return n === 0 ? undefined : n;
  }

  /** An int64/uint64/fixed64 field as a decimal string, omitted when 0. */
  optI64(o: Obj, name: string, path: string, signed: boolean): string | undefined {
    const v = this.field(o, name, path);
    if (v === undefined) return undefined;
    const n = this.int(v, `${path}.${name}`, signed ? MIN_I64 : 0n, signed ? MAX_I64 : MAX_U64, true);
    return n === 0n ? undefined : n.toString();
  }

  /** trace_id / span_id: hex in OTLP/JSON (any case), raw bytes in protobuf; lowercase hex out, omitted when empty. */
  optId(o: Obj, name: string, path: string): string | undefined {
    const v = this.field(o, name, path);
    if (v === undefined) return undefined;
    let hex: string;
    if (this.src === 'protobuf') {
      if (!(v instanceof Uint8Array)) throw malformed(`${path}.${name}: want bytes`);
      hex = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
    } else {
      const s = this.str(v, `${path}.${name}`);
      if (!/^(?:[0-9a-fA-F]{2})*$/.test(s)) throw malformed(`${path}.${name}: want hex digits (OTLP/JSON encodes ids as hex, not base64)`);
      hex = s.toLowerCase();
    }
    return hex === '' ? undefined : hex;
  }

  /** A `bytes` value: base64 (standard or URL-safe, padding optional) in JSON, raw in protobuf; padded standard base64 out. */
  bytes(v: unknown, path: string): string {
    if (this.src === 'protobuf') {
      if (!(v instanceof Uint8Array)) throw malformed(`${path}: want bytes`);
      return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
    }
    const s = this.str(v, path);
    if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(s) || s.replace(/=+$/, '').length % 4 === 1 || (s.includes('=') && s.length % 4 !== 0)) throw malformed(`${path}: want base64`);
    return Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('base64');
  }

  double(v: unknown, path: string): number | string {
    let d: number;
    if (typeof v === 'number') d = v;
    else if (typeof v === 'string') {
      if (v === 'NaN' || v === 'Infinity' || v === '-Infinity') return v;
      if (v.trim() === '' || !/^[-+0-9.eE]+$/.test(v)) throw malformed(`${path}: want a number`);
      d = Number(v);
      if (Number.isNaN(d)) throw malformed(`${path}: want a number`);
    } else throw malformed(`${path}: want a number`);
    if (Number.isNaN(d)) return 'NaN';
    if (d === Infinity) return 'Infinity';
    if (d === -Infinity) return '-Infinity';
    return d === 0 ? 0 : d; // -0 → 0
  }

  anyValue(v: unknown, path: string, depth: number): AnyValue {
    if (depth > MAX_ANY_VALUE_DEPTH) throw malformed(`${path}: values nested deeper than ${MAX_ANY_VALUE_DEPTH}`);
    const o = this.obj(v, path);
    const kinds = ['stringValue', 'boolValue', 'intValue', 'doubleValue', 'arrayValue', 'kvlistValue', 'bytesValue'] as const;
    let out: AnyValue = {};
    let seen: string | undefined;
    for (const k of kinds) {
      const x = this.field(o, k, path);
      if (x === undefined) continue;
      if (seen !== undefined) throw malformed(`${path}: an AnyValue holds one value, got ${seen} and ${k}`);
      seen = k;
      const p = `${path}.${k}`;
      switch (k) {
        case 'stringValue':
          out = { stringValue: this.str(x, p) };
          break;
        case 'boolValue':
          if (typeof x !== 'boolean') throw malformed(`${p}: want true or false`);
          out = { boolValue: x };
          break;
        case 'intValue':
          out = { intValue: this.int(x, p, MIN_I64, MAX_I64, true).toString() };
          break;
        case 'doubleValue':
          out = { doubleValue: this.double(x, p) };
          break;
        case 'bytesValue':
          out = { bytesValue: this.bytes(x, p) };
          break;
        case 'arrayValue': {
          const a = this.obj(x, p);
          out = { arrayValue: { values: this.arr(this.field(a, 'values', p), `${p}.values`).map((e, i) => this.anyValue(e, `${p}.values[${i}]`, depth + 1)) } };
          break;
        }
        case 'kvlistValue': {
          const a = this.obj(x, p);
          out = { kvlistValue: { values: this.keyValues(this.field(a, 'values', p), `${p}.values`, depth + 1) } };
          break;
        }
      }
    }
    return out;
  }

  keyValues(v: unknown, path: string, depth: number): KeyValue[] {
    return this.arr(v, path).map((e, i) => {
      const p = `${path}[${i}]`;
      const o = this.obj(e, p);
      const key = this.field(o, 'key', p);
      const value = this.field(o, 'value', p);
      const kv: KeyValue = { key: key === undefined ? '' : this.str(key, `${p}.key`) };
      if (value !== undefined) kv.value = this.anyValue(value, `${p}.value`, depth);
      return kv;
    });
  }

  logRecord(v: unknown, path: string): LogRecord {
    const o = this.obj(v, path);
    const r: LogRecord = {};
    const set = <K extends keyof LogRecord>(k: K, x: LogRecord[K] | undefined) => {
      if (x !== undefined) r[k] = x;
    };
    set('timeUnixNano', this.optI64(o, 'timeUnixNano', path, false));
    set('observedTimeUnixNano', this.optI64(o, 'observedTimeUnixNano', path, false));
    const sev = this.field(o, 'severityNumber', path);
    if (sev !== undefined) {
      // OTLP/JSON: enums are integers only.
      const n = Number(this.int(sev, `${path}.severityNumber`, -(2n ** 31n), 2n ** 31n - 1n, false));
      if (n !== 0) r.severityNumber = n;
    }
    set('severityText', this.optStr(o, 'severityText', path));
    const body = this.field(o, 'body', path);
    if (body !== undefined) r.body = this.anyValue(body, `${path}.body`, 0);
    const attributes = this.keyValues(this.field(o, 'attributes', path), `${path}.attributes`, 0);
    if (attributes.length > 0) r.attributes = attributes;
    set('droppedAttributesCount', this.optU32(o, 'droppedAttributesCount', path));
    set('flags', this.optU32(o, 'flags', path));
    set('traceId', this.optId(o, 'traceId', path));
    set('spanId', this.optId(o, 'spanId', path));
    return r;
  }

  request(v: unknown): LogsRequest {
    const top = this.obj(v, 'request');
    return {
      resourceLogs: this.arr(this.field(top, 'resourceLogs', 'request'), 'resourceLogs').map((rlv, i) => {
        const rp = `resourceLogs[${i}]`;
        const rl = this.obj(rlv, rp);
        const resv = this.field(rl, 'resource', rp);
        const resource: Resource = { attributes: [] };
        if (resv !== undefined) {
          const res = this.obj(resv, `${rp}.resource`);
          resource.attributes = this.keyValues(this.field(res, 'attributes', `${rp}.resource`), `${rp}.resource.attributes`, 0);
          const d = this.optU32(res, 'droppedAttributesCount', `${rp}.resource`);
          if (d !== undefined) resource.droppedAttributesCount = d;
        }
        const out: ResourceLogs = {
          resource,
          scopeLogs: this.arr(this.field(rl, 'scopeLogs', rp), `${rp}.scopeLogs`).map((slv, j) => {
            const sp = `${rp}.scopeLogs[${j}]`;
            const sl = this.obj(slv, sp);
            const scope: Scope = { name: '', version: '', attributes: [] };
            const scv = this.field(sl, 'scope', sp);
            if (scv !== undefined) {
              const sc = this.obj(scv, `${sp}.scope`);
              scope.name = this.optStr(sc, 'name', `${sp}.scope`) ?? '';
              scope.version = this.optStr(sc, 'version', `${sp}.scope`) ?? '';
              scope.attributes = this.keyValues(this.field(sc, 'attributes', `${sp}.scope`), `${sp}.scope.attributes`, 0);
              const d = this.optU32(sc, 'droppedAttributesCount', `${sp}.scope`);
              if (d !== undefined) scope.droppedAttributesCount = d;
            }
            const s: ScopeLogs = { scope, logRecords: this.arr(this.field(sl, 'logRecords', sp), `${sp}.logRecords`).map((lr, k) => this.logRecord(lr, `${sp}.logRecords[${k}]`)) };
            const url = this.optStr(sl, 'schemaUrl', sp);
            if (url !== undefined) s.schemaUrl = url;
            return s;
          }),
        };
        const url = this.optStr(rl, 'schemaUrl', rp);
        if (url !== undefined) out.schemaUrl = url;
        return out;
      }),
    };
  }
}

/**
 * Normalises an ExportLogsServiceRequest decoded by protobufjs (`toObject` with longs: String, enums: Number,
 * bytes as Buffer, defaults: false).
 */
export function normaliseProtobufRequest(decoded: unknown): LogsRequest {
  return new Normaliser('protobuf').request(decoded);
}

/** Normalises an already JSON-parsed OTLP/JSON ExportLogsServiceRequest. */
export function normaliseJsonRequest(parsed: unknown): LogsRequest {
  return new Normaliser('json').request(parsed);
}

/** Parses an OTLP/JSON request body (UTF-8). MALFORMED unless it is a JSON object of the right shape. */
export function parseJsonRequest(body: Uint8Array): LogsRequest {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(body);
  } catch {
    throw malformed('request body is not valid UTF-8');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw malformed(`request body is not JSON: ${(err as Error).message}`);
  }
  return normaliseJsonRequest(parsed);
}

// ---- entries ----


/** One entry per log record (in request order); records whose entry would be over 65,535 bytes are rejected. */
export function entriesFromRequest(req: LogsRequest, principal: Principal): Converted {
  const entries: Uint8Array[] = [];
  let total = 0;
  let rejected = 0;
  let firstReason: string | undefined;
  req.resourceLogs.forEach((rl, i) => {
    rl.scopeLogs.forEach((sl, j) => {
      sl.logRecords.forEach((lr, k) => {
        total++;
        const scope: Record<string, unknown> = { ...sl.scope };
        if (sl.schemaUrl !== undefined) scope['schemaUrl'] = sl.schemaUrl;
        const entry: Record<string, unknown> = { type: OTLP_LOG_ENTRY_TYPE, resource: rl.resource, scope, logRecord: lr };
        if (principal.authenticated) entry['submitter'] = principal.subject;
        if (rl.schemaUrl !== undefined) entry['schemaUrl'] = rl.schemaUrl;
        const bytes = canonicalBytes(entry, `resourceLogs[${i}].scopeLogs[${j}].logRecords[${k}]`);
        if (bytes.length > MAX_ENTRY_SIZE) {
          rejected++;
          firstReason ??= `resourceLogs[${i}].scopeLogs[${j}].logRecords[${k}] makes a ${bytes.length}-byte entry; entries are at most ${MAX_ENTRY_SIZE} bytes`;
          return;
        }
        entries.push(bytes);
      });
    });
  });
  if (rejected === 0) return { entries, total, rejected };
  return { entries, total, rejected, errorMessage: `${rejected} log record(s) rejected as too large (first: ${firstReason})` };
}

/** The ExportLogsServiceResponse (OTLP/JSON form) for a conversion: `partialSuccess` only when records were rejected. */
export function exportResponse(c: Pick<Converted, 'rejected' | 'errorMessage'>): { partialSuccess?: { rejectedLogRecords: string; errorMessage: string } } {
  if (c.rejected === 0) return {};
  return { partialSuccess: { rejectedLogRecords: String(c.rejected), errorMessage: c.errorMessage ?? '' } };
}
