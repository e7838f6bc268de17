/**
 * Fuzzing every parser of untrusted input (issue #9, item 4), with fast-check: arbitrary strings, bytes and JSON
 * values mixed with mutations (cut, insert, duplicate, flip, swap lines) of valid inputs. Each parser must return a
 * value or throw a typed TlogError — never a TypeError, RangeError or any other error; the ingest line parsers and
 * the gRPC deserializers never throw (they return `unparsed` / a Malformed marker); the collector config only
 * throws ConfigError.
 * FUZZ_RUNS sets the number of runs per parser (default 300; TILELOG_LONG=1: 3000).
 */
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { TlogError } from '../../server/core/errors.js';
import { parseTilePath, tilePath } from '../../server/core/tile.js';
import { openNote, parseNote, parseNoteBytes, parseSignatureLines, signNote } from '../../server/core/note.js';
import { openCheckpoint, parseCheckpoint, signCheckpoint } from '../../server/core/checkpoint.js';
import { newCosignatureVerifier, newCosigner } from '../../server/core/cosignature.js';
import { newEd25519Signer, newVerifier, parseKeyString } from '../../server/core/keys.js';
import { formatTlogProof, parseTlogProof } from '../../server/core/tlog-proof.js';
import { formatAddCheckpointRequest, parseAddCheckpointRequest, parseTreeSizeBody } from '../../server/core/witness-protocol.js';
import { parseTlogPolicy as parsePolicy } from '../../server/core/policy.js';
import { parseTlogPolicy } from '../../clients/tlog/policy.js';
import { verifyCheckpoint } from '../../clients/tlog/checkpoint-verifier.js';
import { verifyTlogProof } from '../../clients/tlog/tlog-proof.js';
import { auditEntry, auditIdentity, eventsOfList } from '../../server/ingest/k8s-audit.js';
import { entriesFromRequest, normaliseJsonRequest, parseJsonRequest } from '../../server/otlp/convert.js';
import { decodeProtobufRequest } from '../../server/otlp/proto.js';
import { loadLogPackage, logServiceDefinition } from '../../server/grpc/proto.js';
import { decodeBase64Exact, decodeBase64Strict, decodeHexExact, parseDecimal } from '../../server/core/strict.js';
import { decodeEntryBundle, encodeEntryBundle } from '../../server/core/entry-bundle.js';
import { decodeEntries } from '../../server/http/entries-body.js';
import { parseAccessLine, parseIngressNginxJsonLine, parseIngressNginxLine, parseK8sAuditEventList, parseK8sAuditLine, parseTraefikJsonLine, parseTraefikLine, parseEnvoyLine } from '../../clients/ingest/index.js';
import { ConfigError, buildConfig, parseConfigText } from '../../clients/collector/config.js';
import { leafHash } from '../../server/core/hash.js';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? (process.env['TILELOG_LONG'] === '1' ? 3000 : 300));
const here = fileURLToPath(new URL('.', import.meta.url));
const FIXTURES = process.env['TILELOG_FIXTURES'] ?? join(here, '..', '..', '..', '..', 'shared', 'fixtures');
const fixture = (rel: string, fallback: string): string => (existsSync(join(FIXTURES, rel)) ? readFileSync(join(FIXTURES, rel), 'utf8') : fallback);

// ---- valid inputs to mutate ----------------------------------------------------------------------------------
const ORIGIN = 'example.com/fuzz';
const signer = newEd25519Signer(ORIGIN, new Uint8Array(32).fill(1));
const cosigner = newCosigner('witness.example/w1', new Uint8Array(32).fill(2));
const cosigner2 = newCosigner('witness.example/w2', new Uint8Array(32).fill(4));
const H = (i: number) => leafHash(new TextEncoder().encode(`e${i}`));
const checkpoint = signCheckpoint({ origin: ORIGIN, treeSize: 1234n, rootHash: H(1), extensions: [] }, [signer]);
const tlogProof = formatTlogProof({ index: 7n, proof: [H(2), H(3), H(4)], checkpoint } as Parameters<typeof formatTlogProof>[0]);
const witnessReq = formatAddCheckpointRequest(1000n, [H(5), H(6)], checkpoint);
const policy = `log ${signer.vkey} https://log.example/\nwitness W1 ${cosigner.vkey} https://w1.example/\nwitness W2 ${cosigner2.vkey}\ngroup G 1 W1 W2\nquorum G\n`;
const k8sEvents = fixture('k8s-audit/falco-create_configmap.json', '{"kind":"Event","auditID":"a","stage":"ResponseComplete","verb":"create"}');
const k8sList = JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: [JSON.parse(k8sEvents), { ...JSON.parse(k8sEvents), auditID: 'b', stage: 'ResponseComplete' }] });
const otlpJson = fixture('otlp/opentelemetry-proto-examples-logs.json', '{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"x"}}]}]}]}');
const nginxLines = fixture('ingress-nginx/beats-ingress_controller-test.log', '').split('\n').filter((l) => l !== '').slice(0, 5);
const traefikLines = fixture('traefik/beats-traefik-access-test.log', '').split('\n').filter((l) => l !== '').slice(0, 5);
const k8sLines = fixture('k8s-audit/immudb-log-audit-k8s-subset.jsonl', k8sEvents).split('\n').filter((l) => l !== '').slice(0, 3);
const collectorYaml = `name: fuzz\nlog:\n  url: http://127.0.0.1:8080\n  vkey: ${signer.vkey}\nspool:\n  dir: /tmp/spool\n  maxBytes: 10MiB\nbatch:\n  maxRecords: 100\n  delay: 50ms\ninputs:\n  - type: file\n    name: nginx\n    paths: [/var/log/x.log]\n    format: ingress-nginx\n  - type: audit-webhook\n    name: audit\n    listen: 127.0.0.1:9000\n`;

// ---- generators -------------------------------------------------------------------------------------------------
type Edit = { kind: 'cut' | 'insert' | 'dup' | 'flip' | 'swapLines' | 'truncate'; at: number; len: number; text: string };
const editArb: fc.Arbitrary<Edit> = fc.record({
  kind: fc.constantFrom('cut' as const, 'insert' as const, 'dup' as const, 'flip' as const, 'swapLines' as const, 'truncate' as const),
  at: fc.nat(),
  len: fc.nat({ max: 40 }),
  text: fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.string({ unit: 'binary', maxLength: 8 }),
    fc.constantFrom('\n', '\n\n', ' ', '—', '\u0000', '\uFFFD', '\uD800', '-1', '99999999999999999999', '1e3', '0x10', '+1', '=', '==', '"', '{', '[', ']', '}', 'null', '\t', '\r\n', '/', '..', '%2F', 'x'),
  ),
});

function applyEdit(s: string, e: Edit): string {
  const at = s.length === 0 ? 0 : e.at % (s.length + 1);
  switch (e.kind) {
    case 'cut':
      return s.slice(0, at) + s.slice(at + e.len);
    case 'insert':
      return s.slice(0, at) + e.text + s.slice(at);
    case 'dup':
      return s.slice(0, at + e.len) + s.slice(at, at + e.len) + s.slice(at + e.len);
    case 'flip': {
      const c = s.charCodeAt(at);
      return Number.isNaN(c) ? s + e.text : s.slice(0, at) + String.fromCharCode(c ^ (1 << (e.len % 7))) + s.slice(at + 1);
    }
    case 'swapLines': {
      const lines = s.split('\n');
      if (lines.length < 2) return s;
      const i = e.at % lines.length;
      const j = e.len % lines.length;
      [lines[i], lines[j]] = [lines[j] as string, lines[i] as string];
      return lines.join('\n');
    }
    case 'truncate':
      return s.slice(0, at);
  }
}

/** Arbitrary strings mixed with mutated valid inputs. */
function textArb(seeds: readonly string[]): fc.Arbitrary<string> {
  const mutated = fc.tuple(fc.constantFrom(...seeds), fc.array(editArb, { minLength: 1, maxLength: 4 })).map(([s, edits]) => edits.reduce(applyEdit, s));
  return fc.oneof(
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
    { weight: 1, arbitrary: fc.constantFrom(...seeds) },
    { weight: 5, arbitrary: mutated },
  );
}

const bytesArb = (seeds: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc.tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 }), fc.nat({ max: 3 })), { minLength: 1, maxLength: 6 })).map(([s, edits]) => {
      let b = Uint8Array.from(s);
      for (const [at, v, kind] of edits) {
        const i = b.length === 0 ? 0 : at % b.length;
        if (kind === 0 && b.length > 0) b[i] = v;
        else if (kind === 1) b = b.slice(0, i);
        else if (kind === 2) b = Uint8Array.from([...b.slice(0, i), v, ...b.slice(i)]);
        else b = Uint8Array.from([...b.slice(0, i), ...b.slice(i + 1 + (v % 8))]);
      }
      return b;
    }),
  );

/** JSON values: arbitrary, deep, and mutated valid documents that still parse. */
function jsonArb(seeds: readonly string[]): fc.Arbitrary<unknown> {
  const deep = fc.integer({ min: 1, max: 5000 }).map((n) => JSON.parse('['.repeat(n) + ']'.repeat(n)) as unknown);
  const mutated = textArb(seeds).map((t) => {
    try {
      return JSON.parse(t) as unknown;
    } catch {
      return t;
    }
  });
  return fc.oneof(fc.jsonValue({ maxDepth: 6 }), deep, mutated, fc.constantFrom(...seeds.map((s) => JSON.parse(s) as unknown)));
}

function describeError(e: unknown): string {
  return e instanceof Error ? `${e.constructor.name}: ${e.message}\n${e.stack}` : String(e);
}

/** The property: `fn` returns or throws a TlogError (or `allowed`). */
function typedOnly<T>(arb: fc.Arbitrary<T>, fn: (x: T) => unknown, allowed: (e: unknown) => boolean = (e) => e instanceof TlogError): void {
  fc.assert(
    fc.property(arb, (x) => {
      try {
        fn(x);
      } catch (e) {
        if (!allowed(e)) assert.fail(`untyped error ${describeError(e)}\ninput: ${JSON.stringify(x)?.slice(0, 500)}`);
      }
    }),
    { numRuns: RUNS },
  );
}

/** The property: `fn` never throws. */
function neverThrows<T>(arb: fc.Arbitrary<T>, fn: (x: T) => unknown): void {
  typedOnly(arb, fn, () => false);
}

// ---- the parsers ------------------------------------------------------------------------------------------------
describe('fuzz: core formats', () => {
  test('tile paths', () => {
    const seeds = ['tile/0/000', 'tile/1/x001/x234/067.p/8', 'tile/entries/x001/234.p/255', 'tile/3/x123/x456/789', tilePath({ kind: 'hash', level: 2, index: 123456789n, width: 17 })];
    typedOnly(textArb(seeds), (s) => parseTilePath(s));
  });
  test('notes (text and bytes), signature lines', () => {
    const note = signNote('hello\nworld\n', [signer]);
    const verifier = newVerifier(signer.vkey);
    typedOnly(textArb([note, checkpoint]), (s) => {
      parseNote(s);
      openNote(s, [verifier]);
    });
    typedOnly(bytesArb([new TextEncoder().encode(note)]), (b) => parseNoteBytes(b));
    typedOnly(textArb([note.slice(note.indexOf('\n\n') + 2)]), (s) => parseSignatureLines(s));
  });
  test('checkpoints (parse, open, client verify)', () => {
    const verifier = newVerifier(signer.vkey);
    const text = checkpoint.slice(0, checkpoint.indexOf('\n\n') + 1);
    typedOnly(textArb([text, checkpoint]), (s) => parseCheckpoint(s));
    typedOnly(textArb([checkpoint]), (s) => openCheckpoint(s, [verifier], ORIGIN));
    typedOnly(textArb([checkpoint]), (s) => verifyCheckpoint(s, { logVkeys: signer.vkey }));
  });
  test('keys and cosignature vkeys', () => {
    typedOnly(textArb([signer.vkey, cosigner.vkey]), (s) => {
      try {
        newVerifier(s);
      } finally {
        newCosignatureVerifier(s);
      }
    });
    typedOnly(textArb([signer.vkey]), (s) => parseKeyString(s));
  });
  test('tlog-proof (parse and client verify)', () => {
    typedOnly(textArb([tlogProof]), (s) => parseTlogProof(s));
    typedOnly(textArb([tlogProof]), (s) => verifyTlogProof(s, new TextEncoder().encode('e0'), signer.vkey));
  });
  test('witness requests (add-checkpoint body, tree size body)', () => {
    typedOnly(textArb([witnessReq]), (s) => parseAddCheckpointRequest(s));
    typedOnly(textArb(['1000\n', '0\n']), (s) => parseTreeSizeBody(s));
  });
  test('tlog-policy (server and client parsers)', () => {
    typedOnly(textArb([policy, 'quorum none\n']), (s) => parsePolicy(s));
    typedOnly(bytesArb([new TextEncoder().encode(policy)]), (b) => parsePolicy(b));
    typedOnly(textArb([policy, 'quorum none\n']), (s) => parseTlogPolicy(s));
  });
  test('strict decimal, base64, hex', () => {
    typedOnly(textArb(['0', '1', '9223372036854775807', '123456']), (s) => parseDecimal(s));
    typedOnly(textArb(['AAAA', Buffer.from(H(1)).toString('base64'), '']), (s) => {
      decodeBase64Strict(s);
    });
    typedOnly(textArb([Buffer.from(H(1)).toString('base64')]), (s) => decodeBase64Exact(s, 32));
    typedOnly(textArb([Buffer.from(H(1)).toString('hex')]), (s) => decodeHexExact(s, 32));
  });
  test('entry bundles', () => {
    const bundle = encodeEntryBundle([new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array(300).fill(9)]);
    typedOnly(fc.tuple(bytesArb([bundle]), fc.option(fc.integer({ min: -1, max: 300 }), { nil: undefined })), ([b, w]) => decodeEntryBundle(b, w));
  });
});

describe('fuzz: ingestion formats', () => {
  test('POST /v1/entries bodies (JSON, NDJSON, octet-stream)', () => {
    const ct = fc.constantFrom('application/json', 'application/x-ndjson', 'application/octet-stream', 'text/plain', 'application/json; charset=utf-8', undefined, '', ';;', 'application/x-ndjson;charset=latin1');
    const bodies = bytesArb([new TextEncoder().encode('[{"a":1},{"b":[2]}]'), new TextEncoder().encode('{"a":1}\n{"b":2}\n')]);
    typedOnly(fc.tuple(ct, fc.oneof(bodies, textArb(['[{"a":1},"x",3]', '{"a":1}\n\n{"b":2}']).map((s) => new TextEncoder().encode(s)))), ([c, b]) => decodeEntries(c, b));
  });
  test('Kubernetes audit EventLists (server side: validation, identity, entry)', () => {
    typedOnly(jsonArb([k8sList, k8sEvents]), (v) => {
      for (const e of eventsOfList(v)) {
        auditIdentity(e);
        auditEntry(e, 'system:serviceaccount:x:y');
      }
    });
  });
  test('OTLP/HTTP JSON and protobuf', () => {
    const principal = { subject: 'fuzz', authenticated: true };
    typedOnly(textArb([otlpJson]).map((s) => new TextEncoder().encode(s)), (b) => entriesFromRequest(parseJsonRequest(b), principal));
    typedOnly(jsonArb([otlpJson]), (v) => entriesFromRequest(normaliseJsonRequest(v), principal));
    // A valid protobuf request: one record with a string body (field numbers of opentelemetry-proto logs).
    const record = Buffer.from([0x2a, 0x05, 0x0a, 0x03, 0x61, 0x62, 0x63]); // LogRecord.body = AnyValue{string_value:"abc"}
    const scope = Buffer.concat([Buffer.from([0x12, record.length]), record]); // ScopeLogs.log_records
    const resource = Buffer.concat([Buffer.from([0x12, scope.length]), scope]); // ResourceLogs.scope_logs
    const req = Buffer.concat([Buffer.from([0x0a, resource.length]), resource]); // ExportLogsServiceRequest.resource_logs
    assert.ok(entriesFromRequest(decodeProtobufRequest(req), principal).entries.length === 1, 'the protobuf seed is valid');
    typedOnly(bytesArb([req]), (b) => entriesFromRequest(decodeProtobufRequest(b), principal));
  });
  test('gRPC request messages: the deserializers never throw (malformed input becomes a Malformed marker)', () => {
    const def = logServiceDefinition(loadLogPackage());
    for (const [name, method] of Object.entries(def)) {
      const seed = method.requestSerialize({ entries: [Buffer.from('abc')], index: '5', treeSize: '9', fromSize: '1', toSize: '9' });
      neverThrows(bytesArb([seed]), (b) => method.requestDeserialize(Buffer.from(b)));
      assert.ok(name.length > 0);
    }
  });
  test('access-log lines never throw (unparsed instead)', () => {
    const lines = [...nginxLines, ...traefikLines, ...k8sLines, '{"time":"2024-01-01T00:00:00Z","status":200}'];
    neverThrows(textArb(lines), (s) => {
      parseAccessLine(s);
      parseIngressNginxLine(s);
      parseIngressNginxJsonLine(s);
      parseTraefikLine(s);
      parseTraefikJsonLine(s);
      parseEnvoyLine(s);
      parseK8sAuditLine(s);
    });
    neverThrows(jsonArb([k8sList, k8sEvents]), (v) => parseK8sAuditEventList(v));
  });
  test('collector config: only ConfigError', () => {
    typedOnly(
      textArb([collectorYaml]),
      (s) => buildConfig(parseConfigText(s, 'fuzz.yaml'), {}),
      (e) => e instanceof ConfigError,
    );
  });
});

test('fuzz seeds are valid inputs (the mutations start from something that parses)', () => {
  parseTlogProof(tlogProof);
  parseAddCheckpointRequest(witnessReq);
  parsePolicy(policy);
  parseTlogPolicy(policy);
  eventsOfList(JSON.parse(k8sList));
  parseJsonRequest(new TextEncoder().encode(otlpJson));
  buildConfig(parseConfigText(collectorYaml, 'seed.yaml'), {});
});
