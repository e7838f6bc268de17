/**
 * The normalised ingress event: the JSON form of `tilelog.v1.IngressEvent` (proto/tilelog/v1/ingress_event.proto),
 * following the proto3 JSON mapping (lowerCamelCase keys). Only the fields a source actually gave are set: there
 * are no nulls, no empty strings standing for "absent", and no empty sub-objects. Field-by-field documentation and
 * the mapping from each source: docs/ingress-event.md.
 *
 * 64-bit fields (`bytes`, `source.line`) are JSON numbers here. Proto3 JSON parsers accept numbers for 64-bit
 * integers (the canonical printer would write strings); values stay below 2^53.
 *
 * This module also holds the small pure helpers the parsers share (time conversion, decimal checks). They read
 * no clock and do no I/O.
 */

/** What happened. `unparsed` carries the raw input and the reason it was not understood. */
export type IngressEventKind = 'access' | 'config_change' | 'denied' | 'error' | 'unparsed';

/** The producer of the record. */
export type IngressSourceType = 'ingress-nginx' | 'traefik' | 'envoy' | 'k8s-audit';

export interface IngressEventSource {
  /** `ingress-nginx` | `traefik` | `envoy` | `k8s-audit`. */
  type: IngressSourceType;
  /** The record format: `default` (nginx upstreaminfo), `json`, `common` (Traefik CLF), or the audit apiVersion. */
  format: string;
  /** File the line was read from, when the caller knows it. */
  file?: string;
  /** 1-based line number in that file, when the caller knows it. */
  line?: number;
}

export interface IngressEventClient {
  /** The client's address as the source saw it (nginx `$remote_addr`, Traefik ClientHost, audit: last sourceIPs). */
  address?: string;
  /** The client's TCP port, when logged (Traefik JSON ClientPort). */
  port?: number;
  /** Authenticated user: basic-auth user (nginx, Traefik) or the Kubernetes username (audit). */
  user?: string;
  /** User-Agent header as sent by the client: untrusted. */
  userAgent?: string;
  /** X-Forwarded-For as sent (Envoy, nginx JSON) or the audit sourceIPs joined with ", ": untrusted. */
  forwardedFor?: string;
}

export interface IngressEventRequest {
  /** Request id (nginx `$req_id`, Envoy X-Request-Id, Traefik request_X-Request-Id). */
  id?: string;
  /** HTTP method as sent (may be garbage on a 400). */
  method?: string;
  /** Host / :authority. */
  host?: string;
  /** Request target with the query string (audit: requestURI). */
  path?: string;
  /** `HTTP/1.1`, `HTTP/2.0`, … */
  protocol?: string;
  /** `http` | `https`, when logged. */
  scheme?: string;
  /** Request size in bytes (nginx `$request_length`, Traefik RequestContentSize, Envoy BYTES_RECEIVED). */
  bytes?: number;
  /** Referer header: untrusted. */
  referer?: string;
  /** The request line exactly as logged, set only when it is not `METHOD target HTTP/x` (e.g. garbage on a 400). */
  line?: string;
}

export interface IngressEventResponse {
  /** HTTP status sent to the client (audit: responseStatus.code). 0 (Envoy) means no response was sent. */
  status?: number;
  /** Body bytes sent to the client. */
  bytes?: number;
  /** Total request time in milliseconds (may be fractional). */
  durationMs?: number;
  /** Envoy RESPONSE_FLAGS (`UH`, `UF`, `NR`, `RL`, …). */
  flags?: string;
}

/** One try at an upstream (nginx logs a comma-separated list when it retried). */
export interface IngressEventUpstreamAttempt {
  address?: string;
  status?: number;
  bytes?: number;
  durationMs?: number;
}

export interface IngressEventUpstream {
  /** The controller's name for the backend (nginx `$proxy_upstream_name`, Traefik ServiceName, Envoy cluster). */
  name?: string;
  /** nginx `$proxy_alternative_upstream_name` (canary). */
  alternativeName?: string;
  /** Address of the upstream that answered last (`ip:port`, `[ipv6]:port`, `unix:/path`, or a URL for Traefik). */
  address?: string;
  /** Status of the last upstream answer. */
  status?: number;
  /** Bytes of the last upstream answer. */
  bytes?: number;
  /** Time of the last upstream try in milliseconds. */
  durationMs?: number;
  /** Every try, in order, only when there was more than one. */
  attempts?: IngressEventUpstreamAttempt[];
}

export interface IngressEventIngress {
  /** Namespace of the Ingress / route object that matched. */
  namespace?: string;
  /** Name of that object. */
  name?: string;
  /** IngressClass (audit: requestObject.spec.ingressClassName). */
  class?: string;
  /** Kubernetes Service the request went to. */
  service?: string;
  /** Service port (name or number, as a string). */
  servicePort?: string;
  /** The controller's router (Traefik RouterName / v1 frontend). */
  router?: string;
  /** Traefik entry point. */
  entryPoint?: string;
}

export interface IngressEventK8s {
  auditId?: string;
  /** `RequestReceived` | `ResponseStarted` | `ResponseComplete` | `Panic`. */
  stage?: string;
  /** Audit level `None` | `Metadata` | `Request` | `RequestResponse`. */
  level?: string;
  verb?: string;
  user?: string;
  groups?: string[];
  impersonatedUser?: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  /** API group; absent for the core group. */
  apiGroup?: string;
  apiVersion?: string;
  /** Annotation `authorization.k8s.io/decision`: `allow` | `forbid`. */
  decision?: string;
  /** Annotation `authorization.k8s.io/reason`, when non-empty. */
  authorizationReason?: string;
  /** responseStatus.reason (`Forbidden`, `Conflict`, `AlreadyExists`, …). */
  statusReason?: string;
  /** responseStatus.message. */
  message?: string;
}

/** The normalised event. Invariant: `kind === 'unparsed'` ⇔ `raw` is set; `reason` is set for unparsed, denied, error. */
export interface IngressEvent {
  kind: IngressEventKind;
  /** RFC 3339 with the source's precision and offset (`+0000` is written `Z`). */
  time?: string;
  source?: IngressEventSource;
  client?: IngressEventClient;
  request?: IngressEventRequest;
  response?: IngressEventResponse;
  upstream?: IngressEventUpstream;
  ingress?: IngressEventIngress;
  k8s?: IngressEventK8s;
  /** The input as received, for `unparsed` only (audit: the object re-serialised as JSON). */
  raw?: string;
  /** Why the kind was chosen (denied, error) or why the input was not understood (unparsed). */
  reason?: string;
}

/** Where a line came from, given by the caller. */
export interface LinePosition {
  file?: string;
  line?: number;
}

/** Signature shared by every line parser. Never throws. */
export type LineParser = (line: string, position?: LinePosition) => IngressEvent;

/** Status class of an HTTP status: 401/403 → denied, ≥ 500 → error, anything else → access. */
export function classify(status: number | undefined): 'access' | 'denied' | 'error' {
  if (status === 401 || status === 403) return 'denied';
  if (status !== undefined && status >= 500) return 'error';
  return 'access';
}

/** The `reason` text for a status-classified event, or undefined for `access`. */
export function classifyReason(status: number | undefined): string | undefined {
  const k = classify(status);
  if (k === 'denied') return `status ${status}`;
  if (k === 'error') return `status ${status}`;
  return undefined;
}

/** True for every kind a parser can return. */
export function isIngressEventKind(k: unknown): k is IngressEventKind {
  return k === 'access' || k === 'config_change' || k === 'denied' || k === 'error' || k === 'unparsed';
}

/** @internal Builds the source object from a type, a format and the caller's position. */
export function makeSource(type: IngressSourceType, format: string, position?: LinePosition): IngressEventSource {
  const s: IngressEventSource = { type, format };
  if (position?.file !== undefined) s.file = position.file;
  if (position?.line !== undefined && Number.isSafeInteger(position.line)) s.line = position.line;
  return s;
}

/** @internal The `unparsed` event for a line. */
export function unparsed(raw: string, reason: string, source: IngressEventSource): IngressEvent {
  return { kind: 'unparsed', source, raw, reason };
}

/**
 * @internal Returns a copy of `o` without undefined values and without empty sub-objects, so that only the fields
 * present are set. Arrays are kept only when non-empty.
 */
export function prune<T extends object>(o: T): T | undefined {
  const out: Record<string, unknown> = {};
  let n = 0;
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) {
      if (v.length === 0) continue;
      out[k] = v.map((x: unknown) => (x !== null && typeof x === 'object' ? (prune(x) ?? {}) : x));
    } else if (typeof v === 'object') {
      const p = prune(v as object);
      if (p === undefined) continue;
      out[k] = p;
    } else {
      out[k] = v;
    }
    n++;
  }
  return n === 0 ? undefined : (out as T);
}

/** @internal Assembles an event, dropping absent fields. */
export function makeEvent(parts: IngressEvent): IngressEvent {
  return (prune(parts) ?? { kind: parts.kind }) as IngressEvent;
}

const MONTHS: Record<string, number> = {
  Jan: 1, Feb: 2, Mar: 3, Apr: 4, May: 5, Jun: 6, Jul: 7, Aug: 8, Sep: 9, Oct: 10, Nov: 11, Dec: 12,
};

function validDate(y: number, mo: number, d: number, h: number, mi: number, s: number): boolean {
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 60) return false;
  const dim = [31, (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  return d <= dim[mo - 1]!;
}

function pad(n: number, w: number): string {
  return String(n).padStart(w, '0');
}

function offsetToRfc3339(sign: string, hh: string, mm: string): string | undefined {
  if (Number(hh) > 23 || Number(mm) > 59) return undefined;
  if (hh === '00' && mm === '00' && sign === '+') return 'Z';
  return `${sign}${hh}:${mm}`;
}

/**
 * @internal nginx / CLF `$time_local` (`07/Feb/2020:11:48:51 +0000`) → RFC 3339 (`2020-02-07T11:48:51Z`), keeping
 * the offset. Undefined if it is not a real date.
 */
export function clfTimeToRfc3339(s: string): string | undefined {
  const m = /^(\d{2})\/([A-Z][a-z]{2})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/.exec(s);
  if (!m) return undefined;
  const mo = MONTHS[m[2]!];
  if (mo === undefined) return undefined;
  const [y, d, h, mi, sec] = [Number(m[3]), Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6])];
  if (!validDate(y, mo, d, h, mi, sec)) return undefined;
  const off = offsetToRfc3339(m[7]!, m[8]!, m[9]!);
  if (off === undefined) return undefined;
  return `${pad(y, 4)}-${pad(mo, 2)}-${m[1]}T${m[4]}:${m[5]}:${m[6]}${off}`;
}

/** @internal Checks an RFC 3339 timestamp and returns it unchanged (source precision kept), or undefined. */
export function checkRfc3339(s: string): string | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/.exec(s);
  if (!m) return undefined;
  if (!validDate(Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]))) return undefined;
  const z = m[8]!;
  if (z.length === 6 && (Number(z.slice(1, 3)) > 23 || Number(z.slice(4, 6)) > 59)) return undefined;
  return s;
}

/** @internal A non-negative decimal integer (no sign, no exponent) that is a safe integer, or undefined. */
export function parseUint(s: string): number | undefined {
  if (!/^\d{1,15}$/.test(s)) return undefined;
  return Number(s);
}

/**
 * @internal Seconds with an optional fraction (`0.001`) → milliseconds, computed on the digits so that no float
 * error creeps in (`0.033` → 33). Undefined if malformed.
 */
export function secondsToMs(s: string): number | undefined {
  const m = /^(\d{1,12})(?:\.(\d{1,9}))?$/.exec(s);
  if (!m) return undefined;
  const frac = (m[2] ?? '').padEnd(3, '0');
  const ms = `${m[1]}${frac.slice(0, 3)}`;
  const rest = frac.slice(3);
  return Number(rest.length > 0 ? `${ms}.${rest}` : ms);
}

/** @internal Nanoseconds (integer) → milliseconds. */
export function nanosToMs(ns: number): number {
  return ns / 1e6;
}

/** @internal A plain (non-array) object. */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** @internal Property read that ignores inherited keys (JSON input is untrusted). */
export function own(o: Record<string, unknown>, k: string): unknown {
  return Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined;
}

/** @internal A non-empty string value other than nginx's `-` placeholder, or undefined. */
export function str(v: unknown): string | undefined {
  if (typeof v === 'string') return v === '' || v === '-' ? undefined : v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

/** @internal A non-negative safe integer from a JSON number or decimal string, or undefined. */
export function uint(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : undefined;
  if (typeof v === 'string') return parseUint(v.trim());
  return undefined;
}

/** @internal `-` (or empty) → undefined, anything else unchanged. */
export function dash(s: string | undefined): string | undefined {
  return s === undefined || s === '-' || s === '' ? undefined : s;
}

/**
 * @internal Splits an HTTP request line `METHOD target HTTP/x[.y]`. Anything else (garbage on a 400, `-`) is
 * returned as `line`.
 */
export function splitRequestLine(s: string): { method?: string; path?: string; protocol?: string; line?: string } {
  if (s === '' || s === '-') return {};
  const m = /^(\S+) (\S+) (HTTP\/\d(?:\.\d)?)$/.exec(s);
  if (!m) return { line: s };
  return { method: m[1]!, path: m[2]!, protocol: m[3]! };
}
