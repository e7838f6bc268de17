/**
 * Pure ingest parsers (clients/ingest): every line of every real fixture in shared/fixtures goes through its
 * parser, with assertions on the resulting IngressEvents; the fixtures' negative lines come out as `unparsed`.
 * Lines marked DERIVED or SYNTHETIC below are ours (no permissively licensed real samples exist for nginx JSON,
 * Traefik JSON, Envoy, denied audit events): they are labelled as such and never passed off as real data.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import {
  type IngressEvent,
  type LineParser,
  classify,
  clfTimeToRfc3339,
  isIngressEventKind,
  parseAccessLine,
  parseEnvoyLine,
  parseIngressNginxJsonLine,
  parseIngressNginxLine,
  parseK8sAuditEvent,
  parseK8sAuditEventList,
  parseK8sAuditLine,
  parseTraefikJsonLine,
  parseTraefikLine,
  secondsToMs,
} from '../../clients/ingest/index.js';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
const FIXTURES = process.env['TILELOG_FIXTURES'] ?? join(root, '..', 'shared', 'fixtures');

function fixtureLines(rel: string): string[] {
  const text = readFileSync(join(FIXTURES, rel), 'utf8');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function parseFile(rel: string, parser: LineParser): IngressEvent[] {
  return fixtureLines(rel).map((l, i) => parser(l, { file: rel, line: i + 1 }));
}

function countKinds(events: IngressEvent[]): Record<string, number> {
  const c: Record<string, number> = {};
  for (const e of events) c[e.kind] = (c[e.kind] ?? 0) + 1;
  return c;
}

function at(events: IngressEvent[], line: number): IngressEvent {
  const e = events[line - 1];
  assert.ok(e, `no event for line ${line}`);
  return e;
}

// The proto, loaded the way the server loads its own: the JSON form must verify against it and round-trip.
const protoRoot = new protobuf.Root();
protoRoot.resolvePath = (_origin: string, target: string) => join(root, 'proto', target);
protoRoot.loadSync('tilelog/v1/ingress_event.proto');
const IngressEventType = protoRoot.lookupType('tilelog.v1.IngressEvent');

/** Checks the invariants of a parser result; returns a message, or undefined when it is valid. */
function invalid(e: IngressEvent): string | undefined {
  if (!isIngressEventKind(e.kind)) return `bad kind ${String(e.kind)}`;
  if ((e.kind === 'unparsed') !== (typeof e.raw === 'string')) return 'raw must be set exactly for unparsed';
  if (e.kind === 'unparsed' && (typeof e.reason !== 'string' || e.reason === '')) return 'unparsed without a reason';
  if ((e.kind === 'denied' || e.kind === 'error') && typeof e.reason !== 'string') return `${e.kind} without a reason`;
  if (e.source === undefined) return 'no source';
  const walk = (v: unknown, path: string): string | undefined => {
    if (v === undefined || v === null) return `${path} is ${String(v)}`;
    if (typeof v === 'string' && v === '' && !path.endsWith('.raw')) return `${path} is empty`;
    if (typeof v === 'number' && !Number.isFinite(v)) return `${path} is not finite`;
    if (Array.isArray(v)) {
      if (v.length === 0) return `${path} is an empty array`;
      for (let i = 0; i < v.length; i++) {
        const r = walk(v[i], `${path}[${i}]`);
        if (r) return r;
      }
    } else if (typeof v === 'object') {
      const keys = Object.keys(v);
      if (keys.length === 0) return `${path} is an empty object`;
      for (const k of keys) {
        const r = walk((v as Record<string, unknown>)[k], `${path}.${k}`);
        if (r) return r;
      }
    }
    return undefined;
  };
  const w = walk(e, 'event');
  if (w) return w;
  const pv = IngressEventType.verify(e);
  if (pv !== null) return `proto: ${pv}`;
  return undefined;
}

function assertValid(e: IngressEvent, label: string): void {
  const why = invalid(e);
  assert.equal(why, undefined, `${label}: ${why} in ${JSON.stringify(e)}`);
}

function protoRoundTrip(e: IngressEvent): unknown {
  const bytes = IngressEventType.encode(IngressEventType.fromObject(e)).finish();
  return IngressEventType.toObject(IngressEventType.decode(bytes), { longs: Number });
}

const NGINX = 'ingress-nginx/beats-ingress_controller-test.log';
const TRAEFIK = 'traefik/beats-traefik-access-test.log';
const IMMUDB = 'k8s-audit/immudb-log-audit-k8s-subset.jsonl';

describe('classify', () => {
  test('401/403 → denied, ≥ 500 → error, anything else → access', () => {
    const cases: Array<[number | undefined, string]> = [
      [200, 'access'], [101, 'access'], [304, 'access'], [400, 'access'], [401, 'denied'], [403, 'denied'],
      [404, 'access'], [409, 'access'], [499, 'access'], [500, 'error'], [502, 'error'], [503, 'error'], [0, 'access'],
      [undefined, 'access'],
    ];
    for (const [s, k] of cases) assert.equal(classify(s), k, `status ${s}`);
  });
});

describe('shared helpers', () => {
  test('clfTimeToRfc3339 keeps the offset and rejects impossible dates', () => {
    assert.equal(clfTimeToRfc3339('07/Feb/2020:11:48:51 +0000'), '2020-02-07T11:48:51Z');
    assert.equal(clfTimeToRfc3339('07/Feb/2020:11:48:51 +0530'), '2020-02-07T11:48:51+05:30');
    assert.equal(clfTimeToRfc3339('29/Feb/2020:00:00:00 -0700'), '2020-02-29T00:00:00-07:00');
    for (const bad of ['30/Feb/2020:11:48:51 +0000', '29/Feb/2021:00:00:00 +0000', '07/Foo/2020:11:48:51 +0000',
      '07/Feb/2020:24:00:00 +0000', '07/Feb/2020:11:48:51 +2400', '7/Feb/2020:11:48:51 +0000', '']) {
      assert.equal(clfTimeToRfc3339(bad), undefined, bad);
    }
  });
  test('secondsToMs works on the digits (no float error)', () => {
    assert.equal(secondsToMs('0.001'), 1);
    assert.equal(secondsToMs('0.033'), 33);
    assert.equal(secondsToMs('1.5'), 1500);
    assert.equal(secondsToMs('0.000123'), 0.123);
    assert.equal(secondsToMs('12'), 12000);
    for (const bad of ['', '-', '1e3', '.5', '1.', '-1', '0.1234567890']) assert.equal(secondsToMs(bad), undefined, bad);
  });
});

describe('ingress-nginx default format: every line of the beats fixture', () => {
  const events = parseFile(NGINX, parseIngressNginxLine);

  test('29 lines: 27 access, 1 error (502), 1 unparsed (the malformed IPv6 upstream); all valid', () => {
    assert.equal(events.length, 29);
    assert.deepEqual(countKinds(events), { access: 27, error: 1, unparsed: 1 });
    events.forEach((e, i) => {
      assertValid(e, `line ${i + 1}`);
      assert.equal(e.source?.type, 'ingress-nginx');
      assert.equal(e.source?.format, 'default');
      assert.equal(e.source?.file, NGINX);
      assert.equal(e.source?.line, i + 1);
    });
  });

  test('line 1: POST /products, 200, upstream default-web-8080 at 172.17.0.5:8080, time in RFC 3339', () => {
    assert.deepEqual(at(events, 1), {
      kind: 'access',
      time: '2020-02-07T11:48:51Z',
      source: { type: 'ingress-nginx', format: 'default', file: NGINX, line: 1 },
      client: { address: '192.168.64.1', userAgent: 'curl/7.54.0' },
      request: { id: '529a007902362a5f51385a5fa7049884', method: 'POST', path: '/products', protocol: 'HTTP/1.1', bytes: 89 },
      response: { status: 200, bytes: 59, durationMs: 1 },
      upstream: { name: 'default-web-8080', address: '172.17.0.5:8080', bytes: 59, durationMs: 0, status: 200 },
    });
  });

  test('methods, paths and statuses line by line', () => {
    const expect: Array<[number, string, string, number]> = [
      [1, 'POST', '/products', 200], [2, 'GET', '/products/42', 200], [3, 'DELETE', '/products/42', 200],
      [4, 'PATCH', '/products/42', 200], [5, 'PATCHp', '/products/42', 400], [6, 'geti', '/products/42', 400],
      [9, 'GET', '/favicon.ico', 200], [10, 'GET', '/v2', 200], [15, 'GET', '/', 200],
      [19, 'GET', '/products/42?address=delhi+technological+university', 200], [22, 'GET', '/v2/some', 200],
      [24, 'GET', '/A%20Beka%20G1%20Howe/029_AND_30/15%20reading%20elephants.mp4', 200], [25, 'POST', '/_bulk', 200],
      [26, 'GET', '/favicon.ico', 502], [28, 'GET', '/products/42', 200], [29, 'GET', '/test/test.mp4', 200],
    ];
    for (const [n, method, path, status] of expect) {
      const e = at(events, n);
      assert.equal(e.request?.method, method, `line ${n} method`);
      assert.equal(e.request?.path, path, `line ${n} path`);
      assert.equal(e.response?.status, status, `line ${n} status`);
    }
    // nginx's default format has no Host: it must not be invented.
    for (const e of events) assert.equal(e.request?.host, undefined);
  });

  test('the 400s on malformed methods: access events without an upstream (`[] [] - - - -`)', () => {
    for (const n of [5, 6]) {
      const e = at(events, n);
      assert.equal(e.kind, 'access');
      assert.equal(e.upstream, undefined);
      assert.equal(e.client?.userAgent, undefined, '"-" user agent is absent');
      assert.equal(e.request?.bytes, 0);
      assert.equal(e.response?.bytes, 163);
    }
  });

  test('referer and user agent', () => {
    assert.equal(at(events, 9).request?.referer, 'http://hello-world.info/products/42');
    assert.equal(at(events, 1).request?.referer, undefined);
    assert.equal(at(events, 7).client?.userAgent, 'Wget/1.20.3 (darwin18.6.0)');
  });

  test('retries: comma-separated upstream lists become attempts, the last one is the upstream', () => {
    const e = at(events, 23);
    assert.equal(e.client?.address, '192.168.64.14');
    assert.deepEqual(e.upstream, {
      name: 'default-web2-8080',
      address: '172.17.0.7:8080',
      bytes: 100,
      durationMs: 4,
      status: 203,
      attempts: [
        { address: '172.17.0.6:8080', bytes: 61, durationMs: 100, status: 200 },
        { address: '172.17.0.7:8080', bytes: 100, durationMs: 4, status: 203 },
      ],
    });
  });

  test('line 29: lists with `-` items leave those values absent', () => {
    assert.deepEqual(at(events, 29).upstream, {
      name: 'default-web2-8080',
      address: '172.17.0.7:8080',
      attempts: [{ address: '172.17.0.6:8080', durationMs: 100, status: 200 }, { address: '172.17.0.7:8080' }],
    });
  });

  test('IPv6 client, basic-auth user, bracketed IPv6 upstream, 2022 time', () => {
    const e = at(events, 25);
    assert.equal(e.client?.address, '2a02:cf40::');
    assert.equal(e.client?.user, 'remote_monitoring_user');
    assert.equal(e.upstream?.address, '[2a02:cf40::]:9200');
    assert.equal(e.upstream?.name, 'esmon-esmon-es-http-9200');
    assert.equal(e.time, '2022-08-24T21:04:17Z');
    assert.equal(e.response?.durationMs, 33);
    assert.equal(e.upstream?.durationMs, 36);
  });

  test('line 26: 502 over HTTP/2 is an error with both upstream attempts', () => {
    const e = at(events, 26);
    assert.equal(e.kind, 'error');
    assert.equal(e.reason, 'status 502');
    assert.equal(e.request?.protocol, 'HTTP/2.0');
    assert.equal(e.upstream?.attempts?.length, 2);
    assert.equal(e.upstream?.attempts?.[0]?.address, '[2a02:cf40::7]:5000');
    assert.equal(e.upstream?.status, 502);
  });

  test('line 27 (negative case): the malformed IPv6 upstream is unparsed, with the raw line and a reason', () => {
    const e = at(events, 27);
    assert.equal(e.kind, 'unparsed');
    assert.equal(e.raw, fixtureLines(NGINX)[26]);
    assert.match(e.reason ?? '', /malformed upstream address "\[2a02:cf40::::::::4e36\]:500000000"/);
    assert.equal(e.time, undefined);
  });

  test('line 28: a unix-socket upstream', () => {
    assert.equal(at(events, 28).upstream?.address, 'unix:/var/run/php-fpm.sock');
  });

  test('every event round-trips through the proto', () => {
    for (const e of events) assert.deepEqual(protoRoundTrip(e), e);
  });
});

describe('ingress-nginx default format: strictness', () => {
  const good = fixtureLines(NGINX)[0]!;
  test('CRLF endings are accepted; the raw line is kept', () => {
    assert.equal(parseIngressNginxLine(`${good}\r`).kind, 'access');
  });
  test('broken fields are unparsed with a reason, never thrown', () => {
    const bad: Array<[string, RegExp]> = [
      [good.replace('192.168.64.1', '999.1.1.1'), /client address/],
      [good.replace('07/Feb/2020', '31/Feb/2020'), /malformed time/],
      [good.replace(' 200 59 ', ' 20 59 '), /default log-format-upstream/],
      [good.replace('172.17.0.5:8080', '172.17.0.5:99999'), /upstream address/],
      [good.replace(' 0.000 200 ', ' 0.000 2000 '), /upstream status/],
      [good.replace('529a007902362a5f51385a5fa7049884', 'xyz'), /default log-format-upstream/],
      [good.slice(0, -1), /default log-format-upstream/],
      [`${good} extra`, /default log-format-upstream/],
      ['', /default log-format-upstream/],
    ];
    for (const [line, reason] of bad) {
      const e = parseIngressNginxLine(line);
      assert.equal(e.kind, 'unparsed', line);
      assert.match(e.reason ?? '', reason, line);
      assert.equal(e.raw, line);
      assertValid(e, line);
    }
  });
  test('a 403 is denied, a 401 is denied, a 504 is an error (DERIVED from fixture line 1)', () => {
    assert.equal(parseIngressNginxLine(good.replace(' 200 59 ', ' 403 59 ')).kind, 'denied');
    assert.equal(parseIngressNginxLine(good.replace(' 200 59 ', ' 401 59 ')).kind, 'denied');
    const e = parseIngressNginxLine(good.replace(' 200 59 ', ' 504 59 '));
    assert.equal(e.kind, 'error');
    assert.equal(e.reason, 'status 504');
  });
  test('internal redirects (" : ") split into attempts (DERIVED)', () => {
    const line = good.replace('172.17.0.5:8080 59 0.000 200', '172.17.0.5:8080 : 172.17.0.6:8080 59 : 12 0.000 : 0.010 404 : 200');
    const e = parseIngressNginxLine(line);
    assert.equal(e.kind, 'access');
    assert.equal(e.upstream?.attempts?.length, 2);
    assert.equal(e.upstream?.address, '172.17.0.6:8080');
    assert.equal(e.upstream?.durationMs, 10);
  });
});

describe('ingress-nginx JSON format (SYNTHETIC lines built from the documented template, formats.md §2.2)', () => {
  const doc =
    '{"time": "2024-05-01T10:00:00+00:00", "remote_addr": "10.0.0.7", "x_forwarded_for": "203.0.113.9, 10.0.0.7", ' +
    '"request_id": "0123456789abcdef0123456789abcdef", "remote_user": "", "bytes_sent": 612, "request_time": 0.012, ' +
    '"status": 200, "vhost": "shop.example.com", "request_proto": "HTTP/1.1", "path": "/cart", "request_query": "id=3", ' +
    '"request_length": 402, "method": "GET", "http_referrer": "", "http_user_agent": "curl/8.0", ' +
    '"proxy_upstream_name": "shop-web-80", "upstream_addr": "10.1.2.3:8080", "upstream_response_time": "0.010", ' +
    '"upstream_status": "200", "namespace": "shop", "ingress_name": "web", "service_name": "web", "service_port": "80"}';

  test('the documented fields map to the event', () => {
    const e = parseIngressNginxJsonLine(doc, { line: 3 });
    assertValid(e, 'doc');
    assert.deepEqual(e, {
      kind: 'access',
      time: '2024-05-01T10:00:00+00:00',
      source: { type: 'ingress-nginx', format: 'json', line: 3 },
      client: { address: '10.0.0.7', userAgent: 'curl/8.0', forwardedFor: '203.0.113.9, 10.0.0.7' },
      request: {
        id: '0123456789abcdef0123456789abcdef', method: 'GET', host: 'shop.example.com', path: '/cart?id=3',
        protocol: 'HTTP/1.1', bytes: 402,
      },
      response: { status: 200, bytes: 612, durationMs: 12 },
      upstream: { name: 'shop-web-80', address: '10.1.2.3:8080', durationMs: 10, status: 200 },
      ingress: { namespace: 'shop', name: 'web', service: 'web', servicePort: '80' },
    });
    assert.deepEqual(protoRoundTrip(e), e);
  });

  test('the invalid JSON nginx writes (unquoted `-` and lists) is repaired', () => {
    const line = '{"time": "2024-05-01T10:00:00+00:00", "status": 502, "request_time": -, "method": "GET", ' +
      '"upstream_addr": "10.1.2.3:8080, 10.1.2.4:8080", "upstream_response_time": 0.100, 0.004, "upstream_status": 502, 504}';
    const e = parseIngressNginxJsonLine(line);
    assert.equal(e.kind, 'error');
    assert.equal(e.response?.durationMs, undefined);
    assert.equal(e.upstream?.attempts?.length, 2);
    assert.equal(e.upstream?.status, 504);
    assert.equal(e.upstream?.durationMs, 4);
    assertValid(e, line);
  });

  test('garbage and non-access JSON are unparsed', () => {
    for (const line of ['{', '[]', '"x"', '{}', '{"status": "abc", "method": "GET"}', '{"time": "yesterday", "status": 200}', 'null']) {
      const e = parseIngressNginxJsonLine(line);
      assert.equal(e.kind, 'unparsed', line);
      assertValid(e, line);
    }
  });
});

describe('Traefik common log format: every line of the beats fixture', () => {
  const events = parseFile(TRAEFIK, parseTraefikLine);

  test('2 lines: 1 access, 1 unparsed (the unbalanced quote)', () => {
    assert.equal(events.length, 2);
    assert.deepEqual(countKinds(events), { access: 1, unparsed: 1 });
    events.forEach((e, i) => assertValid(e, `line ${i + 1}`));
  });

  test('line 1: router, backend URL and duration in ms', () => {
    assert.deepEqual(at(events, 1), {
      kind: 'access',
      time: '2017-10-02T20:22:07Z',
      source: { type: 'traefik', format: 'common', file: TRAEFIK, line: 1 },
      client: {
        address: '192.168.33.1',
        userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/61.0.3163.100 Safari/537.36',
      },
      request: { method: 'GET', path: '/ui/favicons/favicon-16x16.png', protocol: 'HTTP/1.1', referer: 'http://example.com/login' },
      response: { status: 304, bytes: 0, durationMs: 2 },
      upstream: { address: 'http://172.19.0.3:5601' },
      ingress: { router: 'Host-host-1' },
    });
    assert.deepEqual(protoRoundTrip(at(events, 1)), at(events, 1));
  });

  test('line 2 (negative case): unparsed with the raw line and a reason', () => {
    const e = at(events, 2);
    assert.equal(e.kind, 'unparsed');
    assert.equal(e.raw, fixtureLines(TRAEFIK)[1]);
    assert.match(e.reason ?? '', /Traefik common log format/);
  });

  test('a v2 line with a user and `-` router/URL (DERIVED from line 1)', () => {
    const line = fixtureLines(TRAEFIK)[0]!.replace(' - - [', ' - alice [').replace(' 304 0 ', ' 401 0 ')
      .replace('"Host-host-1" "http://172.19.0.3:5601"', '"-" "-"');
    const e = parseTraefikLine(line);
    assert.equal(e.kind, 'denied');
    assert.equal(e.client?.user, 'alice');
    assert.equal(e.upstream, undefined);
    assert.equal(e.ingress, undefined);
  });
});

describe('Traefik JSON (SYNTHETIC line with the documented default keys, formats.md §2.3)', () => {
  const line = JSON.stringify({
    ClientAddr: '10.0.0.9:51234', ClientHost: '10.0.0.9', ClientPort: '51234', ClientUsername: '-',
    DownstreamContentSize: 1024, DownstreamStatus: 503, Duration: 2500000, OriginContentSize: 19, OriginDuration: 2000000,
    OriginStatus: 503, Overhead: 500000, RequestAddr: 'api.example.com', RequestContentSize: 0, RequestCount: 7,
    RequestHost: 'api.example.com', RequestMethod: 'POST', RequestPath: '/v1/orders?x=1', RequestPort: '-',
    RequestProtocol: 'HTTP/2.0', RequestScheme: 'https', RetryAttempts: 0, RouterName: 'shop-api@kubernetes',
    ServiceAddr: '10.1.0.4:8080', ServiceName: 'shop-api-80@kubernetes', ServiceURL: 'http://10.1.0.4:8080',
    StartLocal: '2024-05-01T12:00:00.123456789+02:00', StartUTC: '2024-05-01T10:00:00.123456789Z', entryPointName: 'websecure',
    level: 'info', msg: '', time: '2024-05-01T10:00:00Z',
  });
  test('keys map to the event; nanosecond durations become ms', () => {
    const e = parseTraefikJsonLine(line);
    assertValid(e, 'traefik json');
    assert.deepEqual(e, {
      kind: 'error',
      time: '2024-05-01T10:00:00.123456789Z',
      source: { type: 'traefik', format: 'json' },
      client: { address: '10.0.0.9', port: 51234 },
      request: { method: 'POST', host: 'api.example.com', path: '/v1/orders?x=1', protocol: 'HTTP/2.0', scheme: 'https', bytes: 0 },
      response: { status: 503, bytes: 1024, durationMs: 2.5 },
      upstream: { name: 'shop-api-80@kubernetes', address: 'http://10.1.0.4:8080', status: 503, bytes: 19, durationMs: 2 },
      ingress: { router: 'shop-api@kubernetes', entryPoint: 'websecure' },
      reason: 'status 503',
    });
    assert.deepEqual(protoRoundTrip(e), e);
  });
  test('OriginStatus 0 (Traefik answered itself) gives no upstream status', () => {
    const e = parseTraefikJsonLine('{"DownstreamStatus": 404, "OriginStatus": 0, "RequestMethod": "GET", "OriginDuration": 0}');
    assert.equal(e.kind, 'access');
    assert.equal(e.upstream, undefined);
  });
  test('garbage is unparsed', () => {
    for (const l of ['{"level":"info","msg":"Configuration loaded"}', '{"DownstreamStatus": "x"}', 'nope', '{"StartUTC": "x", "RequestMethod": "GET"}']) {
      assert.equal(parseTraefikJsonLine(l).kind, 'unparsed', l);
    }
  });
});

describe('Envoy default format (SYNTHETIC lines in the documented format string, formats.md §2.4)', () => {
  const ok = '[2016-04-15T20:17:00.310Z] "POST /api/v1/locations HTTP/2" 204 - 154 0 226 100 "10.0.35.28" "nsq2http" "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2" "locations" "tcp://10.0.2.1:80"';
  test('fields map to the event', () => {
    const e = parseEnvoyLine(ok, { file: 'envoy.log', line: 1 });
    assertValid(e, 'envoy');
    assert.deepEqual(e, {
      kind: 'access',
      time: '2016-04-15T20:17:00.310Z',
      source: { type: 'envoy', format: 'default', file: 'envoy.log', line: 1 },
      client: { userAgent: 'nsq2http', forwardedFor: '10.0.35.28' },
      request: { id: 'cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2', method: 'POST', path: '/api/v1/locations', protocol: 'HTTP/2', host: 'locations', bytes: 154 },
      response: { status: 204, bytes: 0, durationMs: 226 },
      upstream: { address: 'tcp://10.0.2.1:80', durationMs: 100 },
    });
    assert.deepEqual(protoRoundTrip(e), e);
  });
  test('503 UH with no upstream is an error with response flags', () => {
    const e = parseEnvoyLine('[2024-01-01T00:00:00.000Z] "GET / HTTP/1.1" 503 UH 0 19 0 - "-" "curl/8.0" "id-1" "example.com" "-"');
    assert.equal(e.kind, 'error');
    assert.equal(e.response?.flags, 'UH');
    assert.equal(e.upstream, undefined);
    assertValid(e, 'uh');
  });
  test('TCP "- - -" request line and status 0', () => {
    const e = parseEnvoyLine('[2024-01-01T00:00:00.000Z] "- - -" 0 - 10 20 5 - "-" "-" "-" "-" "10.0.0.1:5432"');
    assert.equal(e.kind, 'access');
    assert.equal(e.response?.status, 0);
    assert.equal(e.request?.method, undefined);
    assertValid(e, 'tcp');
  });
  test('garbage is unparsed', () => {
    for (const l of ['', '[x]', ok.replace('2016-04-15', '2016-13-15'), ok.replace(' 204 ', ' 2x4 '), ok.slice(0, -1)]) {
      const e = parseEnvoyLine(l);
      assert.equal(e.kind, 'unparsed', l);
      assertValid(e, l);
    }
  });
});

describe('Kubernetes audit: the falco fixtures (no apiVersion, legacy keys)', () => {
  const load = (f: string): IngressEvent => parseK8sAuditLine(readFileSync(join(FIXTURES, 'k8s-audit', f), 'utf8').trim(), { file: f, line: 1 });

  test('create_configmap → config_change of a configmap', () => {
    const e = load('falco-create_configmap.json');
    assertValid(e, 'create');
    assert.equal(e.kind, 'config_change');
    assert.equal(e.time, '2018-10-26T13:13:03.544952Z');
    assert.deepEqual(e.source, { type: 'k8s-audit', format: 'audit.k8s.io', file: 'falco-create_configmap.json', line: 1 });
    assert.deepEqual(e.k8s, {
      auditId: '155b887c-c27c-4fdb-9667-999f74512d0a', stage: 'ResponseComplete', level: 'RequestResponse', verb: 'create',
      user: 'minikube-user', groups: ['system:masters', 'system:authenticated'], resource: 'configmaps',
      namespace: 'default', name: 'my-config', apiVersion: 'v1', decision: 'allow',
    });
    assert.equal(e.response?.status, 201);
    assert.equal(e.client?.address, '192.168.99.1');
    assert.equal(e.request?.path, '/api/v1/namespaces/default/configmaps');
    assert.deepEqual(protoRoundTrip(e), e);
  });

  test('delete_configmap → config_change, verb delete', () => {
    const e = load('falco-delete_configmap.json');
    assert.equal(e.kind, 'config_change');
    assert.equal(e.k8s?.verb, 'delete');
    assert.equal(e.k8s?.resource, 'configmaps');
    assert.equal(e.k8s?.name, 'my-config');
    assert.equal(e.response?.status, 200);
    assertValid(e, 'delete');
  });

  test('exec_pod → access (allowed exec: subresource exec, ResponseStarted, 101)', () => {
    const e = load('falco-exec_pod.json');
    assert.equal(e.kind, 'access');
    assert.equal(e.k8s?.subresource, 'exec');
    assert.equal(e.k8s?.stage, 'ResponseStarted');
    assert.equal(e.response?.status, 101);
    assert.equal(e.k8s?.level, 'Request');
    assertValid(e, 'exec');
  });

  test('exec_pod with a 403 → denied (DERIVED)', () => {
    const ev = JSON.parse(readFileSync(join(FIXTURES, 'k8s-audit', 'falco-exec_pod.json'), 'utf8')) as Record<string, unknown>;
    ev['responseStatus'] = { metadata: {}, status: 'Failure', reason: 'Forbidden', code: 403, message: 'pods "x" is forbidden: User "bob" cannot create resource "pods/exec"' };
    ev['annotations'] = { 'authorization.k8s.io/decision': 'forbid', 'authorization.k8s.io/reason': '' };
    const e = parseK8sAuditEvent(ev);
    assert.equal(e.kind, 'denied');
    assert.equal(e.reason, 'responseStatus.code 403 Forbidden');
    assert.equal(e.k8s?.decision, 'forbid');
    assertValid(e, 'exec 403');
  });
});

describe('Kubernetes audit: the immudb subset, line by line', () => {
  const lines = fixtureLines(IMMUDB);
  const events = parseFile(IMMUDB, parseK8sAuditLine);
  // 500s from /healthz and /readyz are errors; everything else in this subset (reads, watches, writes to pods,
  // daemonsets, endpoints, events, 409 conflicts) is an access of the API. No ingress object is written in it.
  const ERRORS = new Set([6, 9, 12, 13, 14, 15, 16]);

  test('54 events: 47 access, 7 error, nothing unparsed', () => {
    assert.equal(events.length, 54);
    assert.deepEqual(countKinds(events), { access: 47, error: 7 });
  });

  test('each line: kind, auditID, stage, verb, user, time, status, objectRef', () => {
    lines.forEach((l, i) => {
      const n = i + 1;
      const src = JSON.parse(l) as Record<string, any>;
      const e = at(events, n);
      assertValid(e, `line ${n}`);
      assert.equal(e.kind, ERRORS.has(n) ? 'error' : 'access', `line ${n} kind`);
      assert.equal(e.source?.format, 'audit.k8s.io/v1');
      assert.equal(e.k8s?.auditId, src['auditID']);
      assert.equal(e.k8s?.stage, src['stage']);
      assert.equal(e.k8s?.verb, src['verb']);
      assert.equal(e.k8s?.user, src['user']['username']);
      assert.equal(e.client?.user, src['user']['username']);
      assert.deepEqual(e.k8s?.groups, src['user']['groups']);
      assert.equal(e.time, src['stageTimestamp']);
      assert.equal(e.response?.status, src['responseStatus']?.['code']);
      assert.equal(e.request?.path, src['requestURI']);
      assert.equal(e.k8s?.resource, src['objectRef']?.['resource']);
      assert.equal(e.k8s?.namespace, src['objectRef']?.['namespace']);
      assert.equal(e.k8s?.name, src['objectRef']?.['name']);
      assert.equal(e.k8s?.decision, src['annotations']?.['authorization.k8s.io/decision']);
      assert.deepEqual(protoRoundTrip(e), e, `line ${n} proto`);
    });
  });

  test('specific lines', () => {
    assert.equal(at(events, 9).request?.path, '/readyz');
    assert.equal(at(events, 9).reason, 'responseStatus.code 500');
    assert.equal(at(events, 17).k8s?.statusReason, 'AlreadyExists');
    assert.equal(at(events, 17).response?.status, 409);
    assert.equal(at(events, 24).k8s?.apiGroup, 'networking.k8s.io');
    assert.equal(at(events, 24).k8s?.resource, 'ingresses');
    assert.equal(at(events, 24).k8s?.verb, 'watch');
    assert.equal(at(events, 36).k8s?.subresource, 'status');
    assert.equal(at(events, 44).k8s?.statusReason, 'Conflict');
    assert.equal(at(events, 46).k8s?.apiGroup, undefined, 'core group is absent');
  });

  test('an EventList built from these lines (DERIVED; items without kind/apiVersion, as the webhook sends)', () => {
    const items = lines.map((l) => {
      const o = JSON.parse(l) as Record<string, unknown>;
      delete o['kind'];
      delete o['apiVersion'];
      return o;
    });
    const list = parseK8sAuditEventList({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', metadata: {}, items });
    assert.equal(list.length, 54);
    list.forEach((e, i) => {
      assert.equal(e.kind, at(events, i + 1).kind);
      assert.equal(e.k8s?.auditId, at(events, i + 1).k8s?.auditId);
      assert.equal(e.source?.format, 'audit.k8s.io/v1', 'items take the list apiVersion');
    });
    assert.equal(parseK8sAuditEventList(items.slice(0, 3)).length, 3);
    assert.equal(parseK8sAuditEventList({ kind: 'EventList' })[0]?.kind, 'unparsed');
  });
});

describe('Kubernetes audit: kinds (DERIVED events)', () => {
  const base = {
    level: 'Metadata', auditID: 'a-1', stage: 'ResponseComplete', requestURI: '/apis/networking.k8s.io/v1/namespaces/web/ingresses',
    verb: 'create', user: { username: 'alice', groups: ['dev'] }, sourceIPs: ['203.0.113.5', '10.0.0.1'],
    objectRef: { resource: 'ingresses', namespace: 'web', name: 'shop', apiGroup: 'networking.k8s.io', apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: 201 }, stageTimestamp: '2024-05-01T10:00:00.000001Z',
  };
  test('an Ingress create is a config_change with the ingress object and class', () => {
    const e = parseK8sAuditEvent({ ...base, level: 'RequestResponse', requestObject: { spec: { ingressClassName: 'nginx' } } });
    assert.equal(e.kind, 'config_change');
    assert.deepEqual(e.ingress, { namespace: 'web', name: 'shop', class: 'nginx' });
    assert.equal(e.client?.address, '10.0.0.1', 'the last sourceIP is the one the API server saw');
    assert.equal(e.client?.forwardedFor, '203.0.113.5, 10.0.0.1');
    assertValid(e, 'ingress create');
  });
  test('writes to watched resources, by group', () => {
    const cases: Array<[string, string, string, string]> = [
      ['gateway.networking.k8s.io', 'httproutes', 'patch', 'config_change'],
      ['gateway.networking.k8s.io', 'gateways', 'update', 'config_change'],
      ['networking.k8s.io', 'ingressclasses', 'delete', 'config_change'],
      ['', 'secrets', 'delete', 'config_change'],
      ['', 'configmaps', 'deletecollection', 'config_change'],
      ['traefik.io', 'ingressroutes', 'create', 'config_change'],
      ['networking.k8s.io', 'ingresses', 'get', 'access'],
      ['networking.k8s.io', 'ingresses', 'watch', 'access'],
      ['', 'pods', 'create', 'access'],
      ['apps', 'configmaps', 'create', 'access'],
    ];
    for (const [apiGroup, resource, verb, kind] of cases) {
      const e = parseK8sAuditEvent({ ...base, verb, objectRef: { resource, apiGroup, name: 'x' } });
      assert.equal(e.kind, kind, `${apiGroup}/${resource} ${verb}`);
    }
  });
  test('apiGroup missing from objectRef is taken from the URI', () => {
    const e = parseK8sAuditEvent({ ...base, objectRef: { resource: 'ingresses', name: 'x' } });
    assert.equal(e.kind, 'config_change');
    assert.equal(e.k8s?.apiGroup, 'networking.k8s.io');
  });
  test('RequestReceived of a write (no code yet) is a config_change; a 409-rejected write is access', () => {
    const { responseStatus: _r, ...noStatus } = base;
    assert.equal(parseK8sAuditEvent({ ...noStatus, stage: 'RequestReceived' }).kind, 'config_change');
    assert.equal(parseK8sAuditEvent({ ...base, responseStatus: { code: 409, reason: 'AlreadyExists' } }).kind, 'access');
  });
  test('denied: 403 Forbidden (audit2rbac-style), 401, forbid decision, admission webhook denial', () => {
    const forbidden = parseK8sAuditEvent({
      ...base, verb: 'list', impersonatedUser: { username: 'bob' },
      responseStatus: { metadata: {}, status: 'Failure', message: 'pods is forbidden: User "bob" cannot list pods in the namespace "default"', reason: 'Forbidden', details: { kind: 'pods' }, code: 403 },
    });
    assert.equal(forbidden.kind, 'denied');
    assert.equal(forbidden.k8s?.impersonatedUser, 'bob');
    assert.match(forbidden.k8s?.message ?? '', /forbidden/);
    assert.equal(parseK8sAuditEvent({ ...base, responseStatus: { code: 401 } }).kind, 'denied');
    const forbid = parseK8sAuditEvent({ ...base, responseStatus: undefined, annotations: { 'authorization.k8s.io/decision': 'forbid' } });
    assert.equal(forbid.kind, 'denied');
    assert.equal(forbid.reason, 'authorization.k8s.io/decision: forbid');
    const admission = parseK8sAuditEvent({
      ...base,
      responseStatus: { code: 400, status: 'Failure', reason: 'BadRequest', message: 'admission webhook "validate.nginx.ingress.kubernetes.io" denied the request: host "x" is already defined' },
    });
    assert.equal(admission.kind, 'denied');
    assert.match(admission.reason ?? '', /admission denied/);
  });
  test('error: ≥ 500 even on a config write', () => {
    const e = parseK8sAuditEvent({ ...base, responseStatus: { code: 500, reason: 'InternalError' } });
    assert.equal(e.kind, 'error');
    assert.equal(e.reason, 'responseStatus.code 500 InternalError');
  });
  test('v1beta1 with legacy keys', () => {
    const e = parseK8sAuditEvent({
      kind: 'Event', apiVersion: 'audit.k8s.io/v1beta1', metadata: { creationTimestamp: '2018-01-01T00:00:00Z' }, timestamp: '2018-01-01T00:00:00Z',
      level: 'Request', auditID: 'b-2', stage: 'ResponseComplete', requestURI: '/api/v1/namespaces', verb: 'create',
      user: { username: 'system:anonymous', groups: ['system:unauthenticated'] }, objectRef: { resource: 'namespaces', name: 'foo', apiVersion: 'v1' },
      responseStatus: { code: 201 },
    });
    assert.equal(e.kind, 'access');
    assert.equal(e.source?.format, 'audit.k8s.io/v1beta1');
    assert.equal(e.time, '2018-01-01T00:00:00Z');
    assertValid(e, 'v1beta1');
  });
  test('non-events are unparsed, never thrown', () => {
    const bad: unknown[] = [null, 42, 'x', [], {}, { kind: 'EventList', items: [] }, { ...base, apiVersion: 'v1' },
      { ...base, auditID: 7 }, { ...base, verb: undefined }, Object.create(null)];
    bad.forEach((b, i) => {
      const e = parseK8sAuditEvent(b);
      assert.equal(e.kind, 'unparsed', `case ${i}`);
      assertValid(e, `case ${i}`);
    });
    const cyclic: Record<string, unknown> = { ...base, responseStatus: { code: 999999999999 } };
    cyclic['self'] = cyclic;
    assertValid(parseK8sAuditEvent(cyclic), 'cyclic');
    assert.equal(parseK8sAuditLine('{"auditID":').kind, 'unparsed');
  });
});

describe('parseAccessLine auto-detects the format', () => {
  test('fixture lines give exactly what their own parser gives', () => {
    for (const [rel, parser] of [[NGINX, parseIngressNginxLine], [TRAEFIK, parseTraefikLine], [IMMUDB, parseK8sAuditLine]] as const) {
      fixtureLines(rel).forEach((l, i) => {
        assert.deepEqual(parseAccessLine(l, { file: rel, line: i + 1 }), parser(l, { file: rel, line: i + 1 }), `${rel}:${i + 1}`);
      });
    }
  });
  test('JSON and Envoy lines route to the right parser', () => {
    assert.equal(parseAccessLine('{"status": 200, "method": "GET"}').source?.type, 'ingress-nginx');
    assert.equal(parseAccessLine('{"status": 200, "method": "GET"}').source?.format, 'json');
    assert.equal(parseAccessLine('{"DownstreamStatus": 200, "RequestMethod": "GET"}').source?.type, 'traefik');
    assert.equal(parseAccessLine('[2024-01-01T00:00:00.000Z] "GET / HTTP/1.1" 200 - 0 1 2 1 "-" "-" "-" "h" "-"').source?.type, 'envoy');
    assert.equal(parseAccessLine('{"status": -, "method": "GET"}').kind, 'access');
    assert.equal(parseAccessLine('hello').kind, 'unparsed');
  });
});

describe('properties', () => {
  const parsers: Array<[string, LineParser]> = [
    ['nginx', parseIngressNginxLine], ['nginx-json', parseIngressNginxJsonLine], ['traefik', parseTraefikLine],
    ['traefik-json', parseTraefikJsonLine], ['envoy', parseEnvoyLine], ['audit-line', parseK8sAuditLine], ['auto', parseAccessLine],
  ];
  const seeds = [...fixtureLines(NGINX), ...fixtureLines(TRAEFIK), ...fixtureLines(IMMUDB).slice(0, 10),
    '[2016-04-15T20:17:00.310Z] "POST /api/v1/locations HTTP/2" 204 - 154 0 226 100 "10.0.35.28" "nsq2http" "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2" "locations" "tcp://10.0.2.1:80"'];
  // Arbitrary strings, and fixture lines with a random slice replaced by arbitrary text (near-misses).
  const lineArb = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 300 }),
    fc.string({ unit: fc.constantFrom(...' -[]":,{}0123456789./aGHTP\\'.split('')), maxLength: 200 }),
    fc.tuple(fc.constantFrom(...seeds), fc.nat(), fc.nat(), fc.string({ unit: 'grapheme-ascii', maxLength: 12 })).map(([s, a, b, ins]) => {
      const i = a % (s.length + 1);
      const j = i + (b % 8);
      return s.slice(0, i) + ins + s.slice(j);
    }),
    fc.json().map((j) => j),
  );

  test('no parser throws on any string, and every result is a valid event', () => {
    fc.assert(
      fc.property(lineArb, (line) => {
        for (const [name, p] of parsers) {
          const e = p(line, { file: 'f', line: 1 });
          const why = invalid(e);
          if (why !== undefined) throw new Error(`${name}: ${why} for ${JSON.stringify(line)} → ${JSON.stringify(e)}`);
        }
      }),
      { numRuns: 3000 },
    );
  });

  test('the audit mapper never throws on any value and yields a valid event', () => {
    fc.assert(
      fc.property(fc.oneof(fc.anything(), fc.jsonValue(), fc.record({
        auditID: fc.oneof(fc.string(), fc.integer()), stage: fc.string(), verb: fc.constantFrom('create', 'get', 'patch', 7),
        objectRef: fc.record({ resource: fc.constantFrom('ingresses', 'configmaps', 'pods'), apiGroup: fc.constantFrom('', 'networking.k8s.io', 'x') }, { requiredKeys: [] }),
        responseStatus: fc.record({ code: fc.oneof(fc.integer(), fc.string(), fc.double()) }, { requiredKeys: [] }),
        stageTimestamp: fc.string(), sourceIPs: fc.array(fc.oneof(fc.string(), fc.integer())),
      }, { requiredKeys: [] })), (v) => {
        const e = parseK8sAuditEvent(v);
        const why = invalid(e);
        if (why !== undefined) throw new Error(`${why} → ${JSON.stringify(e)}`);
      }),
      { numRuns: 2000 },
    );
  });

  test('parsing is deterministic: the same input gives deep-equal output', () => {
    fc.assert(
      fc.property(lineArb, (line) => {
        for (const [, p] of parsers) assert.deepEqual(p(line, { line: 2 }), p(line, { line: 2 }));
      }),
      { numRuns: 500 },
    );
    for (const l of seeds) for (const [, p] of parsers) assert.deepEqual(p(l), p(l));
  });
});
