/**
 * ingress-nginx access-log parsers: the default `log-format-upstream` ("upstreaminfo") and the JSON log format.
 *
 * SPEC: kubernetes/ingress-nginx internal/ingress/controller/config/config.go (logFormatUpstream),
 * docs/user-guide/nginx-configuration/log-format.md; our notes in shared/docs/formats.md §2.1–2.2.
 *
 * Every line is attacker-influenced (request line, referer, user agent come from the client). Parsing is strict:
 * each field is checked against what nginx can write there, and anything else gives an `unparsed` event.
 */
import { isIP } from 'node:net';
import {
  type IngressEvent,
  type IngressEventUpstream,
  type IngressEventUpstreamAttempt,
  type LinePosition,
  checkRfc3339,
  classify,
  classifyReason,
  clfTimeToRfc3339,
  dash,
  isRecord,
  makeEvent,
  makeSource,
  own,
  parseUint,
  secondsToMs,
  splitRequestLine,
  str,
  uint,
  unparsed,
} from './event.js';

/*
 * The default format, field by field:
 *   $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
 *   $request_length $request_time [$proxy_upstream_name] [$proxy_alternative_upstream_name] $upstream_addr
 *   $upstream_response_length $upstream_response_time $upstream_status $req_id
 * Fields 14–17 are lists: ", " separates retries, " : " separates internal redirects. List items never start with
 * ":" so the " : " separator cannot be confused with an item.
 */
const Q = '"((?:[^"\\\\]|\\\\.)*)"';
const ITEM = '[^\\s,:][^\\s,]*';
const LIST = `(${ITEM}(?:(?:, | : )${ITEM})*)`;
const DEFAULT_FORMAT = new RegExp(
  '^(\\S+) - (\\S+) \\[([^\\]]+)\\] ' + // 1 remote_addr, 2 remote_user, 3 time_local
    `${Q} (\\d{3}) (\\d+) ${Q} ${Q} ` + // 4 request, 5 status, 6 body_bytes_sent, 7 referer, 8 user agent
    '(\\d+|-) (\\d+(?:\\.\\d+)?|-) ' + // 9 request_length, 10 request_time
    '\\[([^\\]\\s]*)\\] \\[([^\\]\\s]*)\\] ' + // 11 proxy_upstream_name, 12 proxy_alternative_upstream_name
    `${LIST} ${LIST} ${LIST} ${LIST} ` + // 13 upstream_addr, 14 response_length, 15 response_time, 16 status
    '([0-9a-f]{32}|-)$', // 17 req_id
);

/** An nginx `$upstream_addr` item: `ip:port`, `[ipv6]:port`, `unix:/path`, or an upstream (group) name. */
export function isUpstreamAddress(s: string): boolean {
  if (s.startsWith('unix:')) return s.length > 5 && !/\s/.test(s);
  let host: string;
  let port: string | undefined;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (v6) {
    if (isIP(v6[1]!) !== 6) return false;
    host = v6[1]!;
    port = v6[2];
  } else {
    const m = /^([A-Za-z0-9._-]+)(?::(\d+))?$/.exec(s);
    if (!m) return false;
    host = m[1]!;
    port = m[2];
    if (/^[\d.]+$/.test(host) && isIP(host) !== 4) return false;
  }
  if (port !== undefined && (port.length > 5 || Number(port) > 65535)) return false;
  return host.length > 0;
}

function splitList(s: string): string[] {
  return s.split(/, | : /);
}

/** Builds the upstream from the four lists; returns a reason string when an item is malformed. */
function upstreamFromLists(
  name: string | undefined,
  alt: string | undefined,
  addrs: string,
  lens: string,
  times: string,
  statuses: string,
): IngressEventUpstream | string {
  const a = splitList(addrs);
  const l = splitList(lens);
  const t = splitList(times);
  const st = splitList(statuses);
  const n = Math.max(a.length, l.length, t.length, st.length);
  // nginx writes one item per upstream attempt in each of these variables ("-" where a value is missing), so the
  // lists have the same length; a single "-" stands for a request that never reached an upstream.
  for (const [what, list] of [['address', a], ['response length', l], ['response time', t], ['status', st]] as const) {
    if (list.length !== n && !(list.length === 1 && dash(list[0]) === undefined)) return `upstream ${what} list has ${list.length} item(s), other upstream lists ${n}`;
  }
  const attempts: IngressEventUpstreamAttempt[] = [];
  for (let i = 0; i < n; i++) {
    const at: IngressEventUpstreamAttempt = {};
    const ai = dash(a[i]);
    if (ai !== undefined) {
      if (!isUpstreamAddress(ai)) return `malformed upstream address ${JSON.stringify(ai)}`;
      at.address = ai;
    }
    const li = dash(l[i]);
    if (li !== undefined) {
      const v = parseUint(li);
      if (v === undefined) return `malformed upstream response length ${JSON.stringify(li)}`;
      at.bytes = v;
    }
    const ti = dash(t[i]);
    if (ti !== undefined) {
      const v = secondsToMs(ti);
      if (v === undefined) return `malformed upstream response time ${JSON.stringify(ti)}`;
      at.durationMs = v;
    }
    const si = dash(st[i]);
    if (si !== undefined) {
      if (!/^\d{3}$/.test(si)) return `malformed upstream status ${JSON.stringify(si)}`;
      at.status = Number(si);
    }
    attempts.push(at);
  }
  const last = attempts[attempts.length - 1] ?? {};
  const up: IngressEventUpstream = { name, alternativeName: alt, ...last };
  if (attempts.length > 1) up.attempts = attempts;
  return up;
}

/**
 * Parses one line of ingress-nginx's default `log-format-upstream`. `-` means absent. Never throws: a line that
 * does not match field by field gives `{kind: 'unparsed', raw, reason}`.
 */
export function parseIngressNginxLine(line: string, position?: LinePosition): IngressEvent {
  const source = makeSource('ingress-nginx', 'default', position);
  try {
    const text = line.endsWith('\r') ? line.slice(0, -1) : line;
    const m = DEFAULT_FORMAT.exec(text);
    if (!m) return unparsed(line, 'not in the ingress-nginx default log-format-upstream', source);
    const g = (i: number): string => m[i] ?? '';
    const addr = g(1);
    if (isIP(addr) === 0 && !addr.startsWith('unix:')) return unparsed(line, `malformed client address ${JSON.stringify(addr)}`, source);
    const time = clfTimeToRfc3339(g(3));
    if (time === undefined) return unparsed(line, `malformed time ${JSON.stringify(g(3))}`, source);
    const status = Number(g(5));
    const up = upstreamFromLists(dash(g(11)), dash(g(12)), g(13), g(14), g(15), g(16));
    if (typeof up === 'string') return unparsed(line, up, source);
    const rl = dash(g(9));
    const rt = dash(g(10));
    return makeEvent({
      kind: classify(status),
      time,
      source,
      client: { address: addr, user: dash(g(2)), userAgent: dash(g(8)) },
      request: {
        id: dash(g(17)),
        ...splitRequestLine(g(4)),
        bytes: rl === undefined ? undefined : parseUint(rl),
        referer: dash(g(7)),
      },
      response: { status, bytes: parseUint(g(6)), durationMs: rt === undefined ? undefined : secondsToMs(rt) },
      upstream: up,
      reason: classifyReason(status),
    });
  } catch (e) {
    return unparsed(line, `internal parser error: ${String(e)}`, source);
  }
}

/**
 * Key names accepted in ingress-nginx JSON lines, per event field, in order of preference. Users choose the keys
 * in `log-format-upstream`; these cover the documented example (log-format.md) and the nginx variable names.
 */
export const NGINX_JSON_KEYS = {
  time: ['time', 'time_iso8601', 'timestamp', '@timestamp', 'time_local'],
  address: ['remote_addr', 'client_ip', 'realip_remote_addr'],
  forwardedFor: ['x_forwarded_for', 'http_x_forwarded_for', 'proxy_add_x_forwarded_for'],
  user: ['remote_user'],
  userAgent: ['http_user_agent', 'user_agent'],
  requestId: ['request_id', 'req_id'],
  method: ['method', 'request_method'],
  host: ['vhost', 'host', 'http_host', 'server_name'],
  path: ['path', 'uri', 'request_uri'],
  query: ['request_query', 'args', 'query_string'],
  protocol: ['request_proto', 'server_protocol', 'protocol'],
  scheme: ['scheme'],
  request: ['request'],
  requestBytes: ['request_length'],
  referer: ['http_referrer', 'http_referer', 'referer'],
  status: ['status'],
  bytes: ['body_bytes_sent', 'bytes_sent'],
  duration: ['request_time'],
  upstreamName: ['proxy_upstream_name'],
  upstreamAlt: ['proxy_alternative_upstream_name'],
  upstreamAddr: ['upstream_addr'],
  upstreamLen: ['upstream_response_length'],
  upstreamTime: ['upstream_response_time'],
  upstreamStatus: ['upstream_status'],
  namespace: ['namespace'],
  ingressName: ['ingress_name'],
  serviceName: ['service_name'],
  servicePort: ['service_port'],
} as const;

type NginxJsonField = keyof typeof NGINX_JSON_KEYS;

function pick(o: Record<string, unknown>, f: NginxJsonField): unknown {
  for (const k of NGINX_JSON_KEYS[f]) {
    const v = own(o, k);
    if (v !== undefined && v !== null && v !== '' && v !== '-') return v;
  }
  return undefined;
}

/**
 * Repairs the two ways a JSON log-format-upstream goes invalid (formats.md §2.2): an unquoted variable that is
 * empty (`"status": -`) becomes null, and an unquoted list (`"upstream_response_time": 0.100, 0.004`) becomes a
 * string.
 */
function repairJson(s: string): string {
  const NUM = '(?:-|\\d+(?:\\.\\d+)?)';
  return s
    .replace(new RegExp(`(:\\s*)(${NUM}(?:\\s*(?:,|\\s:)\\s*${NUM})+)(?=\\s*[,}])`, 'g'), (_m, p: string, list: string) => `${p}${JSON.stringify(list)}`)
    .replace(/(:\s*)-(?=\s*[,}])/g, '$1null');
}

function parseJsonObject(line: string): Record<string, unknown> | string {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    try {
      v = JSON.parse(repairJson(line));
    } catch (e) {
      return `invalid JSON: ${e instanceof Error ? e.message : String(e)}`;
    }
  }
  return isRecord(v) ? v : 'JSON value is not an object';
}

/** Seconds as a JSON number or a decimal string → ms. */
function seconds(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? secondsToMs(String(v)) ?? Math.round(v * 1e6) / 1e3 : undefined;
  if (typeof v === 'string') return secondsToMs(v.trim());
  return undefined;
}

function listString(v: unknown): string {
  if (typeof v === 'number') return String(v);
  return typeof v === 'string' && v !== '' ? v : '-';
}

/**
 * Parses one ingress-nginx JSON access-log line (log-format-escape-json). Key names: {@link NGINX_JSON_KEYS}.
 * The line must at least give a status or a method. Never throws.
 */
export function parseIngressNginxJsonLine(line: string, position?: LinePosition): IngressEvent {
  const source = makeSource('ingress-nginx', 'json', position);
  try {
    const o = parseJsonObject(line);
    if (typeof o === 'string') return unparsed(line, o, source);
    const statusV = pick(o, 'status');
    const status = uint(statusV);
    if (statusV !== undefined && (status === undefined || status > 999)) return unparsed(line, `malformed status ${JSON.stringify(statusV)}`, source);
    const rl = splitRequestLine(str(pick(o, 'request')) ?? '');
    const method = str(pick(o, 'method')) ?? rl.method;
    if (status === undefined && method === undefined) return unparsed(line, 'no status and no method: not an ingress-nginx access record', source);
    const timeV = str(pick(o, 'time'));
    const time = timeV === undefined ? undefined : (checkRfc3339(timeV) ?? clfTimeToRfc3339(timeV));
    if (timeV !== undefined && time === undefined) return unparsed(line, `malformed time ${JSON.stringify(timeV)}`, source);
    let path = str(pick(o, 'path')) ?? rl.path;
    const query = str(pick(o, 'query'));
    if (path !== undefined && query !== undefined && !path.includes('?')) path = `${path}?${query}`;
    const hasUp = ['upstreamAddr', 'upstreamLen', 'upstreamTime', 'upstreamStatus'].some((f) => pick(o, f as NginxJsonField) !== undefined);
    let upstream: IngressEventUpstream | undefined;
    if (hasUp) {
      const up = upstreamFromLists(
        str(pick(o, 'upstreamName')),
        str(pick(o, 'upstreamAlt')),
        listString(pick(o, 'upstreamAddr')),
        listString(pick(o, 'upstreamLen')),
        listString(pick(o, 'upstreamTime')),
        listString(pick(o, 'upstreamStatus')),
      );
      if (typeof up === 'string') return unparsed(line, up, source);
      upstream = up;
    } else {
      upstream = { name: str(pick(o, 'upstreamName')), alternativeName: str(pick(o, 'upstreamAlt')) };
    }
    return makeEvent({
      kind: classify(status),
      time,
      source,
      client: {
        address: str(pick(o, 'address')),
        user: str(pick(o, 'user')),
        userAgent: str(pick(o, 'userAgent')),
        forwardedFor: str(pick(o, 'forwardedFor')),
      },
      request: {
        id: str(pick(o, 'requestId')),
        method,
        host: str(pick(o, 'host')),
        path,
        protocol: str(pick(o, 'protocol')) ?? rl.protocol,
        scheme: str(pick(o, 'scheme')),
        bytes: uint(pick(o, 'requestBytes')),
        referer: str(pick(o, 'referer')),
        line: method === undefined ? rl.line : undefined,
      },
      response: { status, bytes: uint(pick(o, 'bytes')), durationMs: seconds(pick(o, 'duration')) },
      upstream,
      ingress: {
        namespace: str(pick(o, 'namespace')),
        name: str(pick(o, 'ingressName')),
        service: str(pick(o, 'serviceName')),
        servicePort: str(pick(o, 'servicePort')),
      },
      reason: classifyReason(status),
    });
  } catch (e) {
    return unparsed(line, `internal parser error: ${String(e)}`, source);
  }
}
