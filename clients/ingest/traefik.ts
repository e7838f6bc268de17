/**
 * Traefik access-log parsers: Common Log Format (Traefik's CLF with its extra fields) and JSON.
 *
 * SPEC: traefik/traefik pkg/middlewares/accesslog/logdata.go and docs/content/observability/access-logs.md;
 * our notes in shared/docs/formats.md §2.3. CLF:
 *   <ip> - <user> [<ts>] "<method> <path> <proto>" <status> <size> "<referer>" "<UA>" <reqCount> "<router>" "<serverURL>" <ms>ms
 * JSON durations (Duration, OriginDuration, Overhead) are nanoseconds.
 *
 * Request line, referer and user agent are attacker-controlled. Parsing is strict; anything else is `unparsed`.
 */
import { isIP } from 'node:net';
import {
  type IngressEvent,
  type LinePosition,
  checkRfc3339,
  classify,
  classifyReason,
  clfTimeToRfc3339,
  dash,
  isRecord,
  makeEvent,
  makeSource,
  nanosToMs,
  own,
  parseUint,
  splitRequestLine,
  str,
  uint,
  unparsed,
} from './event.js';

const Q = '"((?:[^"\\\\]|\\\\.)*)"';
const CLF = new RegExp(
  '^(\\S+) - (\\S+) \\[([^\\]]+)\\] ' + // 1 client host, 2 user, 3 time
    `${Q} (\\d{3}) (\\d+|-) ${Q} ${Q} ` + // 4 request, 5 status, 6 size, 7 referer, 8 user agent
    '(\\d+) "([^"\\s]*)" "([^"\\s]*)" (\\d+)ms$', // 9 request count, 10 router, 11 service URL, 12 duration ms
);

/**
 * Parses one Traefik Common Log Format line. Never throws: anything that does not match field by field gives
 * `{kind: 'unparsed', raw, reason}` (e.g. an unbalanced quote).
 */
export function parseTraefikLine(line: string, position?: LinePosition): IngressEvent {
  const source = makeSource('traefik', 'common', position);
  try {
    const text = line.endsWith('\r') ? line.slice(0, -1) : line;
    const m = CLF.exec(text);
    if (!m) return unparsed(line, 'not in the Traefik common log format', source);
    const g = (i: number): string => m[i] ?? '';
    const addr = g(1);
    if (isIP(addr) === 0 && !/^[A-Za-z0-9._-]+$/.test(addr)) return unparsed(line, `malformed client address ${JSON.stringify(addr)}`, source);
    const time = clfTimeToRfc3339(g(3));
    if (time === undefined) return unparsed(line, `malformed time ${JSON.stringify(g(3))}`, source);
    const status = Number(g(5));
    const size = dash(g(6));
    return makeEvent({
      kind: classify(status),
      time,
      source,
      client: { address: addr, user: dash(g(2)), userAgent: dash(g(8)) },
      request: { ...splitRequestLine(g(4)), referer: dash(g(7)) },
      response: { status, bytes: size === undefined ? undefined : parseUint(size), durationMs: parseUint(g(12)) },
      upstream: { address: dash(g(11)) },
      ingress: { router: dash(g(10)) },
      reason: classifyReason(status),
    });
  } catch (e) {
    return unparsed(line, `internal parser error: ${String(e)}`, source);
  }
}

function nanos(v: unknown): number | undefined {
  const n = uint(v);
  return n === undefined ? undefined : nanosToMs(n);
}

/**
 * Parses one Traefik JSON access-log line (flat keys, `accessLog.format: json`). The line must carry
 * DownstreamStatus or RequestMethod. Never throws.
 */
export function parseTraefikJsonLine(line: string, position?: LinePosition): IngressEvent {
  const source = makeSource('traefik', 'json', position);
  try {
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch (e) {
      return unparsed(line, `invalid JSON: ${e instanceof Error ? e.message : String(e)}`, source);
    }
    if (!isRecord(o)) return unparsed(line, 'JSON value is not an object', source);
    const g = (k: string): unknown => own(o as Record<string, unknown>, k);
    const statusV = g('DownstreamStatus');
    const status = uint(statusV);
    if (statusV !== undefined && (status === undefined || status > 999)) return unparsed(line, `malformed DownstreamStatus ${JSON.stringify(statusV)}`, source);
    const method = str(g('RequestMethod'));
    if (status === undefined && method === undefined) return unparsed(line, 'no DownstreamStatus and no RequestMethod: not a Traefik access record', source);
    const timeV = str(g('StartUTC')) ?? str(g('StartLocal')) ?? str(g('time'));
    const time = timeV === undefined ? undefined : checkRfc3339(timeV);
    if (timeV !== undefined && time === undefined) return unparsed(line, `malformed time ${JSON.stringify(timeV)}`, source);
    const origin = uint(g('OriginStatus'));
    const ua = str(g('request_User-Agent'));
    return makeEvent({
      kind: classify(status),
      time,
      source,
      client: {
        address: str(g('ClientHost')) ?? str(g('ClientAddr')),
        port: uint(g('ClientPort')),
        user: str(g('ClientUsername')),
        userAgent: ua === 'REDACTED' ? undefined : ua,
        forwardedFor: str(g('request_X-Forwarded-For')),
      },
      request: {
        id: str(g('request_X-Request-Id')),
        method,
        host: str(g('RequestHost')) ?? str(g('RequestAddr')),
        path: str(g('RequestPath')),
        protocol: str(g('RequestProtocol')),
        scheme: str(g('RequestScheme')),
        bytes: uint(g('RequestContentSize')),
        referer: str(g('request_Referer')),
      },
      response: { status, bytes: uint(g('DownstreamContentSize')), durationMs: nanos(g('Duration')) },
      upstream: {
        name: str(g('ServiceName')),
        address: str(g('ServiceURL')) ?? str(g('ServiceAddr')),
        // OriginStatus 0 means Traefik answered itself (no upstream).
        status: origin === 0 ? undefined : origin,
        bytes: origin === 0 ? undefined : uint(g('OriginContentSize')),
        durationMs: origin === 0 ? undefined : nanos(g('OriginDuration')),
      },
      ingress: {
        namespace: str(g('KubernetesIngressNamespace')) ?? str(g('KubernetesIngressRouteNamespace')),
        name: str(g('KubernetesIngressName')) ?? str(g('KubernetesIngressRouteName')),
        service: str(g('KubernetesServiceName')),
        servicePort: str(g('KubernetesServicePort')),
        router: str(g('RouterName')),
        entryPoint: str(g('entryPointName')),
      },
      reason: classifyReason(status),
    });
  } catch (e) {
    return unparsed(line, `internal parser error: ${String(e)}`, source);
  }
}
