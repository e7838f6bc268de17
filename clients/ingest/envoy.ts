/**
 * Envoy access-log parser for Envoy's default format string (covers Contour's `envoy` format, Emissary, Envoy
 * Gateway and Istio when they keep the default).
 *
 * SPEC: envoyproxy docs, "Default format string"; shared/docs/formats.md §2.4:
 *   [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS%
 *   %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%"
 *   "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"
 * Empty values are `-`. The default format has no client address: X-Forwarded-For is reported as
 * `client.forwardedFor` (untrusted). RESPONSE_CODE 0 means no response was sent (downstream disconnect).
 */
import {
  type IngressEvent,
  type LinePosition,
  checkRfc3339,
  classify,
  classifyReason,
  dash,
  makeEvent,
  makeSource,
  parseUint,
  splitRequestLine,
  unparsed,
} from './event.js';

const Q = '"((?:[^"\\\\]|\\\\.)*)"';
const DEFAULT_FORMAT = new RegExp(
  '^\\[([^\\]\\s]+)\\] ' + // 1 START_TIME
    `${Q} (\\d{1,3}) ([A-Za-z,]+|-) (\\d+) (\\d+) (\\d+|-) (\\d+|-) ` + // 2 request, 3 code, 4 flags, 5 rx, 6 tx, 7 duration, 8 upstream time
    `${Q} ${Q} ${Q} ${Q} ${Q}$`, // 9 XFF, 10 UA, 11 request id, 12 authority, 13 upstream host
);

/** Parses one line of Envoy's default access-log format. Never throws. */
export function parseEnvoyLine(line: string, position?: LinePosition): IngressEvent {
  const source = makeSource('envoy', 'default', position);
  try {
    const text = line.endsWith('\r') ? line.slice(0, -1) : line;
    const m = DEFAULT_FORMAT.exec(text);
    if (!m) return unparsed(line, 'not in the Envoy default access-log format', source);
    const g = (i: number): string => m[i] ?? '';
    const time = checkRfc3339(g(1));
    if (time === undefined) return unparsed(line, `malformed START_TIME ${JSON.stringify(g(1))}`, source);
    const status = Number(g(3));
    const req = g(2) === '- - -' ? {} : splitRequestLine(g(2));
    const dur = dash(g(7));
    const ust = dash(g(8));
    return makeEvent({
      kind: classify(status),
      time,
      source,
      client: { userAgent: dash(g(10)), forwardedFor: dash(g(9)) },
      request: { id: dash(g(11)), ...req, host: dash(g(12)), bytes: parseUint(g(5)) },
      response: {
        status,
        bytes: parseUint(g(6)),
        durationMs: dur === undefined ? undefined : parseUint(dur),
        flags: dash(g(4)),
      },
      upstream: { address: dash(g(13)), durationMs: ust === undefined ? undefined : parseUint(ust) },
      reason: classifyReason(status),
    });
  } catch (e) {
    return unparsed(line, `internal parser error: ${String(e)}`, source);
  }
}
