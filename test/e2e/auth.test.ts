/**
 * End-to-end: writer authentication (JWT bearer tokens verified with jose), read protection, per-subject rate
 * limits, against the real `tilelog serve` process over HTTP and gRPC.
 *
 * Keys are generated here (RS256, ES256, EdDSA) and published as a JWKS file (server A, re-read when it changes)
 * or from a tiny JWKS HTTP server (server B, `--auth-jwks-url`). Every case of the token matrix is sent to both
 * front ends of both servers: HTTP `POST /v1/entries` must answer the status and error code of the one error table,
 * gRPC `Append` the matching status code.
 *
 * Server A also runs with `--read-auth` (entry contents need a token with the read scope; hash tiles, checkpoints
 * and proofs stay public) and `--rate-limit 100 --rate-burst 200`; server B without (everything readable).
 *
 * Key rotation: the JWKS file of A is replaced while it runs (the new key must work within about a second, the old
 * ones must stop working). For B the served key set gets a new kid: jose re-fetches on an unknown kid, but at most
 * once per 30 s cool-down (jose's default, used by the server), so B's first fetch is made at the very start and
 * the rotation is checked last, when the cool-down has run out.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { openCheckpoint } from '../../server/core/checkpoint.js';
import { leafHash } from '../../server/core/hash.js';
import { newVerifier } from '../../server/core/keys.js';
import { decodeEntryBundle } from '../../server/core/entry-bundle.js';
import { LogClient, StreamReader, decodeStatusDetails, describeError, type AppendResponse, type CallOptions } from '../support/grpc-client.js';
import { pollUntil, startGrpcServer, type GrpcServerProcess } from '../support/grpc-server-process.js';
import { postEntries, request, type PostReply } from '../support/http-tiles.js';
import { JwksServer, hs256WithPublicKey, newKey, signToken, unsecuredToken, writeJwksFile, type TestKey, type TokenSpec } from '../support/jwt.js';
import { cleanupAll, newDataDir, sleep } from '../support/server-process.js';

after(cleanupAll);

const ISSUER = 'https://issuer.test';
const AUDIENCE = 'tilelog';
const COLLECTOR = 'system:serviceaccount:ingress-nginx:tilelog-collector';
/** A second allowed writer on A, used to exhaust the rate limit without throttling the collector. */
const BURSTY = 'system:serviceaccount:ingress-nginx:tilelog-bursty';
const READER = 'system:serviceaccount:audit:log-reader';
const INTRUDER = 'system:serviceaccount:default:default';
const RUN = randomBytes(4).toString('hex');
const OCTET = { 'content-type': 'application/octet-stream' };
/** Deadline of calls that a broken server might never answer (keeps a failure short). */
const SHORT_MS = 2_000;

const ok = { sub: COLLECTOR, iss: ISSUER, aud: AUDIENCE } as const;

interface Keys {
  rsa: TestKey;
  ec: TestKey;
  ed: TestKey;
  /** Not in any JWKS, but with the kid of `ed`. */
  foreignSameKid: TestKey;
  /** Not in any JWKS, with its own kid. */
  foreign: TestKey;
  /** The key A's JWKS file is rotated to. */
  rotatedFile: TestKey;
  /** The key B's JWKS URL is rotated to (a new kid). */
  rotatedUrl: TestKey;
}

let keys: Keys;
let jwksFile: string;
let jwksServer: JwksServer;
/** A: JWKS file, --read-auth, rate limit. B: JWKS URL. */
let A: GrpcServerProcess;
let B: GrpcServerProcess;
let ca: LogClient;
let cb: LogClient;

let seq = 0;
const fresh = (what: string) => Buffer.from(`auth ${RUN} ${what} ${seq++}`);
const bearer = (t: string) => `Bearer ${t}`;

/** HTTP append of one entry with an Authorization value (or none). */
function httpAppend(s: GrpcServerProcess, authorization: string | undefined, what: string): Promise<PostReply> {
  return postEntries(s.baseUrl, fresh(what), { ...OCTET, ...(authorization === undefined ? {} : { authorization }) });
}

/** gRPC Append of one entry; resolves with the status code (0 = OK). */
async function grpcAppend(c: LogClient, authorization: string | undefined, what: string): Promise<{ code: number; error?: grpc.ServiceError; res?: AppendResponse }> {
  const o: CallOptions = authorization === undefined ? {} : { authorization };
  try {
    const res = await c.append([fresh(what)], o);
    return { code: grpc.status.OK, res };
  } catch (err) {
    const e = err as grpc.ServiceError;
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, error: e };
  }
}

const errorCode = (r: PostReply) => (r.json as { error?: { code?: string } }).error?.code;

/** The value of one Prometheus sample (0 when absent), matched by metric name and a subset of its labels. */
function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const m = /^[a-z_]+(?:\{(.*)\})? ([0-9.e+-]+)$/.exec(line);
    if (m === null) continue;
    const have = new Map<string, string>();
    for (const kv of (m[1] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)) have.set(kv[1] as string, kv[2] as string);
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) {
      total += Number(m[2]);
      found = true;
    }
  }
  return found ? total : 0;
}

async function metricsText(s: GrpcServerProcess): Promise<string> {
  const r = await request(`${s.baseUrl}/metrics`);
  assert.equal(r.status, 200);
  return r.body.toString('utf8');
}

// ---- the token matrix ----

interface Case {
  readonly name: string;
  /** The Authorization value (undefined: none). */
  readonly authorization: () => Promise<string | undefined>;
  readonly http: number;
  /** The error code of the JSON body (non-200). */
  readonly code?: string;
  readonly grpc: grpc.status;
}

const UNAUTH = { http: 401, code: 'UNAUTHENTICATED', grpc: grpc.status.UNAUTHENTICATED } as const;
const DENIED = { http: 403, code: 'PERMISSION_DENIED', grpc: grpc.status.PERMISSION_DENIED } as const;
const ACCEPT = { http: 200, grpc: grpc.status.OK } as const;

function matrix(): Case[] {
  const k = keys;
  const tok = (key: TestKey, spec: TokenSpec) => async () => bearer(await signToken(key, spec));
  const raw = (v: string | undefined) => async () => v;
  return [
    { name: 'valid RS256 token', authorization: tok(k.rsa, ok), ...ACCEPT },
    { name: 'valid ES256 token', authorization: tok(k.ec, ok), ...ACCEPT },
    { name: 'valid EdDSA token', authorization: tok(k.ed, ok), ...ACCEPT },
    { name: 'valid token, aud as an array holding the audience', authorization: tok(k.ec, { ...ok, aud: ['other', AUDIENCE] }), ...ACCEPT },
    { name: 'expired 10 s ago (within the 30 s clock skew)', authorization: tok(k.ed, { ...ok, expIn: -10, iatIn: -300 }), ...ACCEPT },
    { name: 'lower-case "bearer" scheme', authorization: async () => `bearer ${await signToken(k.rsa, ok)}`, ...ACCEPT },
    { name: 'no token', authorization: raw(undefined), ...UNAUTH },
    { name: 'empty Authorization', authorization: raw(''), ...UNAUTH },
    { name: 'Basic credentials', authorization: raw('Basic dGlsZWxvZzpzZWNyZXQ='), ...UNAUTH },
    { name: 'expired (exp 2 min ago, beyond the skew)', authorization: tok(k.rsa, { ...ok, expIn: -120, iatIn: -600 }), ...UNAUTH },
    { name: 'not yet valid (nbf in 2 min, beyond the skew)', authorization: tok(k.ec, { ...ok, nbfIn: 120 }), ...UNAUTH },
    { name: 'wrong aud', authorization: tok(k.ed, { ...ok, aud: 'not-tilelog' }), ...UNAUTH },
    { name: 'no aud', authorization: tok(k.ed, { sub: COLLECTOR, iss: ISSUER }), ...UNAUTH },
    { name: 'wrong iss', authorization: tok(k.rsa, { ...ok, iss: 'https://evil.test' }), ...UNAUTH },
    { name: 'no exp', authorization: tok(k.ec, { ...ok, expIn: null }), ...UNAUTH },
    { name: 'no sub', authorization: tok(k.ed, { iss: ISSUER, aud: AUDIENCE }), ...UNAUTH },
    { name: 'alg: none (unsecured JWT)', authorization: async () => bearer(unsecuredToken(ok)), ...UNAUTH },
    { name: 'alg: none with a known kid', authorization: async () => bearer(unsecuredToken(ok, k.ed.kid)), ...UNAUTH },
    { name: 'HS256 MACed with the RSA public key PEM as secret', authorization: async () => bearer(hs256WithPublicKey(k.rsa, ok)), ...UNAUTH },
    { name: 'HS256 MACed with the Ed25519 public key PEM as secret', authorization: async () => bearer(hs256WithPublicKey(k.ed, ok)), ...UNAUTH },
    { name: 'HS256 MACed with the raw Ed25519 public key as secret', authorization: async () => bearer(hs256WithPublicKey(k.ed, ok, 'jwk-n-or-x')), ...UNAUTH },
    { name: 'unknown kid', authorization: tok(k.rsa, { ...ok, kid: 'no-such-kid' }), ...UNAUTH },
    { name: 'signed by a key not in the JWKS (its own kid)', authorization: tok(k.foreign, ok), ...UNAUTH },
    { name: 'signed by a key not in the JWKS (the kid of a key in it)', authorization: tok(k.foreignSameKid, ok), ...UNAUTH },
    {
      name: 'valid token with its signature flipped',
      authorization: async () => {
        const t = await signToken(k.ed, ok);
        const sig = Buffer.from(t.split('.')[2] as string, 'base64url');
        sig[0] = (sig[0] as number) ^ 1;
        return bearer(`${t.split('.').slice(0, 2).join('.')}.${sig.toString('base64url')}`);
      },
      ...UNAUTH,
    },
    { name: 'malformed token (not a JWS)', authorization: raw('Bearer not-a-jwt'), ...UNAUTH },
    { name: 'malformed token (three garbage parts)', authorization: raw('Bearer aaaa.bbbb.cccc'), ...UNAUTH },
    { name: 'malformed token (bad characters)', authorization: raw('Bearer {"alg":"none"}'), ...UNAUTH },
    { name: 'Bearer and nothing', authorization: raw('Bearer '), ...UNAUTH },
    { name: 'valid token, subject not allowed to write', authorization: tok(k.ed, { ...ok, sub: INTRUDER }), ...DENIED },
    { name: 'reader token (read scope), subject not allowed to write', authorization: tok(k.ec, { ...ok, sub: READER, scope: 'tilelog:read' }), ...DENIED },
  ];
}

/** Runs the matrix on both front ends of `s`; returns how many entries the collector appended. */
async function runMatrix(s: GrpcServerProcess, c: LogClient, tag: string): Promise<{ accepted: number; unauth: number; denied: number }> {
  const failures: string[] = [];
  let accepted = 0;
  let unauth = 0;
  let denied = 0;
  for (const k of matrix()) {
    const authorization = await k.authorization();
    const h = await httpAppend(s, authorization, `${tag} http ${k.name}`);
    if (h.status !== k.http) failures.push(`HTTP ${k.name}: status ${h.status}, want ${k.http}: ${h.text.slice(0, 200)}`);
    else if (k.code !== undefined && errorCode(h) !== k.code) failures.push(`HTTP ${k.name}: error code ${errorCode(h)}, want ${k.code}`);
    else if (k.http !== 200 && JSON.stringify(Object.keys(h.json as object)) !== '["error"]') failures.push(`HTTP ${k.name}: body is not {"error":…}: ${h.text}`);
    const g = await grpcAppend(c, authorization, `${tag} grpc ${k.name}`);
    if (g.code !== k.grpc) failures.push(`gRPC ${k.name}: ${g.error === undefined ? 'OK' : describeError(g.error)}, want ${grpc.status[k.grpc]}`);
    else if (g.error !== undefined && k.code !== undefined && g.error.metadata.get('tilelog-error-code')[0] !== k.code) failures.push(`gRPC ${k.name}: tilelog-error-code ${String(g.error.metadata.get('tilelog-error-code')[0])}`);
    if (k.http === 200) accepted += (h.status === 200 ? 1 : 0) + (g.code === 0 ? 1 : 0);
    if (k.http === 401) unauth += 2;
    if (k.http === 403) denied += 2;
  }
  assert.deepEqual(failures, [], `${tag}: cases with the wrong answer:\n${failures.join('\n')}`);
  return { accepted, unauth, denied };
}

/** AppendStream: valid token → acks; none → UNAUTHENTICATED; other subject → PERMISSION_DENIED (bounded). */
async function checkAppendStream(c: LogClient, tag: string): Promise<void> {
  const run = async (authorization: string | undefined) => {
    const call = c.appendStream({ ...(authorization === undefined ? {} : { authorization }), deadlineMs: SHORT_MS });
    const reader = new StreamReader<AppendResponse>(call);
    call.write({ id: 'one', entries: [fresh(`${tag} stream`)] });
    call.end();
    const rest = await reader.drain(SHORT_MS + 3_000).catch(() => [] as AppendResponse[]);
    const code = (reader.error as grpc.ServiceError | undefined)?.code ?? reader.status?.code;
    return { code, acks: rest, message: reader.error?.message ?? reader.status?.details ?? '' };
  };
  const [good, none, other] = await Promise.all([run(bearer(await signToken(keys.ed, ok))), run(undefined), run(bearer(await signToken(keys.ed, { ...ok, sub: INTRUDER })))]);
  const problems: string[] = [];
  if (good.code !== grpc.status.OK || good.acks.length !== 1 || good.acks[0]?.error !== null) problems.push(`valid token: status ${good.code} ${good.message}, acks ${JSON.stringify(good.acks).slice(0, 200)}`);
  if (none.code !== grpc.status.UNAUTHENTICATED || none.acks.length !== 0) problems.push(`no token: status ${grpc.status[none.code ?? 2]} (${none.code}) "${none.message}", want UNAUTHENTICATED within ${SHORT_MS} ms; acks ${none.acks.length}`);
  if (other.code !== grpc.status.PERMISSION_DENIED || other.acks.length !== 0) problems.push(`subject not allowed: status ${grpc.status[other.code ?? 2]} (${other.code}) "${other.message}", want PERMISSION_DENIED within ${SHORT_MS} ms; acks ${other.acks.length}`);
  assert.deepEqual(problems, [], `${tag} AppendStream:\n${problems.join('\n')}`);
}

before(async () => {
  const [rsa, ec, ed, foreign, rotatedFile, rotatedUrl] = await Promise.all([
    newKey('RS256', 'rsa-1'),
    newKey('ES256', 'ec-1'),
    newKey('EdDSA', 'ed-1'),
    newKey('EdDSA', 'foreign-1'),
    newKey('EdDSA', 'ed-rotated-file'),
    newKey('ES256', 'ec-rotated-url'),
  ]);
  // The same private key as `foreign`, presented with the kid of a key in the JWKS.
  keys = { rsa, ec, ed, foreign, foreignSameKid: { ...foreign, kid: ed.kid }, rotatedFile, rotatedUrl };
  jwksFile = join(newDataDir('tilelog-e2e-jwks-'), 'jwks.json');
  writeJwksFile(jwksFile, [rsa, ec, ed]);
  jwksServer = await JwksServer.start([rsa, ec, ed]);
  const common = ['--auth-issuer', ISSUER, '--auth-audience', AUDIENCE, '--auth-subject', COLLECTOR];
  [A, B] = await Promise.all([
    startGrpcServer({ checkpointInterval: '200ms', extraArgs: [...common, '--auth-subject', BURSTY, '--auth-jwks-file', jwksFile, '--read-auth', '--rate-limit', '100', '--rate-burst', '200'] }),
    startGrpcServer({ checkpointInterval: '200ms', extraArgs: [...common, '--auth-jwks-url', jwksServer.url] }),
  ]);
  ca = new LogClient(A.grpc);
  cb = new LogClient(B.grpc);
});

after(async () => {
  ca?.close();
  cb?.close();
  await jwksServer?.close();
});

describe('B: --auth-jwks-url (runs first: its JWKS cool-down runs while A is tested)', () => {
  test('the listening line says auth is on; the first token makes the server fetch the JWKS', async () => {
    assert.equal(A.listening['auth'], true);
    assert.equal(B.listening['auth'], true);
    assert.equal(jwksServer.fetches.length, 0, 'the JWKS is fetched lazily');
    const r = await httpAppend(B, bearer(await signToken(keys.rsa, ok)), 'first');
    assert.equal(r.status, 200, r.text);
    assert.equal(jwksServer.fetches.length, 1, 'one JWKS fetch');
  });

  test('the token matrix over HTTP and gRPC', async () => {
    await runMatrix(B, cb, 'B');
    assert.equal(jwksServer.fetches.length, 1, 'no re-fetch within the cool-down, whatever kids were presented');
  });

  test('reading is public without --read-auth: checkpoint, hash tiles, entry bundles, entries, GetCheckpoint, GetEntry', async () => {
    const cp = await pollUntil('a checkpoint with entries', 5_000, async () => {
      const r = await request(`${B.baseUrl}/checkpoint`);
      const { checkpoint } = openCheckpoint(r.body.toString('utf8'), [newVerifier(B.vkey)], B.origin);
      return checkpoint.treeSize >= 2n ? checkpoint : undefined;
    });
    const n = Number(cp.treeSize);
    for (const path of ['/checkpoint', `/tile/0/000.p/${n}`, `/tile/entries/000.p/${n}`, '/v1/entries/0', '/v1/proof/inclusion?index=0', '/v1/log']) {
      const r = await request(B.baseUrl + path);
      assert.equal(r.status, 200, `GET ${path} without a token: ${r.body.toString('utf8').slice(0, 200)}`);
    }
    const checkpoint = await cb.getCheckpoint();
    assert.ok(checkpoint.startsWith(`${B.origin}\n`));
    const e = await cb.getEntry(0n);
    assert.ok(e.data.length > 0);
  });

  test('AppendStream checks the token too', async () => {
    await checkAppendStream(cb, 'B');
  });

  test('the key set behind the URL gets a new kid (checked at the end of this file)', () => {
    jwksServer.setKeys([keys.rotatedUrl]);
  });
});

describe('A: --auth-jwks-file, --read-auth, --rate-limit', () => {
  let appendedByCollector = 0;

  test('the token matrix over HTTP and gRPC', async () => {
    const before = await metricsText(A);
    const { accepted, unauth } = await runMatrix(A, ca, 'A');
    appendedByCollector += accepted;
    const m = await metricsText(A);
    // Counted per front end: gRPC calls by code.
    assert.equal(metric(m, 'tilelog_grpc_calls_total', { method: 'Append', code: String(grpc.status.UNAUTHENTICATED) }) - metric(before, 'tilelog_grpc_calls_total', { method: 'Append', code: String(grpc.status.UNAUTHENTICATED) }), unauth / 2);
  });

  test('the authenticated subject is in the access log lines and in tilelog_appends_total', async () => {
    const r = await ca.append([fresh('logged grpc')], { token: await signToken(keys.ec, ok) });
    assert.equal(r.entries.length, 1);
    const h = await httpAppend(A, bearer(await signToken(keys.rsa, ok)), 'logged http');
    assert.equal(h.status, 200);
    appendedByCollector += 2;
    const needle = `"subject":"${COLLECTOR}"`;
    await pollUntil('access log lines with the subject', 3_000, () => {
      const lines = A.proc.stdoutLines.filter((l) => l.includes(needle));
      const http = lines.some((l) => l.includes('"route":"v1/entries"') && l.includes('"status":200'));
      const rpc = lines.some((l) => l.includes('"rpc":"Append"'));
      return http && rpc ? true : undefined;
    }).catch((err: Error) => assert.fail(`${err.message}\n${A.proc.stdoutLines.slice(-20).join('\n')}`));
    // No line names a subject that was refused, and anonymous is never used when auth is on.
    assert.ok(!A.proc.stdoutLines.some((l) => l.includes('"subject":"anonymous"')), 'no anonymous writer');
    assert.ok(!A.proc.stdoutLines.some((l) => l.includes(`"subject":"${INTRUDER}"`) && l.includes('"msg":"append"')), 'a refused subject is not logged as appending');
    const m = await metricsText(A);
    assert.equal(metric(m, 'tilelog_appends_total', { result: 'new', subject: COLLECTOR }), appendedByCollector, `tilelog_appends_total{result="new",subject="${COLLECTOR}"}`);
    assert.match(m, new RegExp(`tilelog_appends_total\\{[^}]*subject="${COLLECTOR.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"[^}]*\\} ${appendedByCollector}\\n`));
    assert.equal(metric(m, 'tilelog_appends_total', { subject: INTRUDER }), 0);
    assert.equal(metric(m, 'tilelog_appends_total', { subject: 'anonymous' }), 0);
  });

  test('refused tokens are counted in tilelog_auth_failures_total on both front ends', async () => {
    const before = await metricsText(A);
    const N = 3;
    for (let i = 0; i < N; i++) {
      assert.equal((await httpAppend(A, undefined, 'count http')).status, 401);
      assert.equal((await grpcAppend(ca, undefined, 'count grpc')).code, grpc.status.UNAUTHENTICATED);
      assert.equal((await httpAppend(A, bearer(await signToken(keys.ed, { ...ok, sub: INTRUDER })), 'count http 403')).status, 403);
      assert.equal((await grpcAppend(ca, bearer(await signToken(keys.ed, { ...ok, sub: INTRUDER })), 'count grpc 403')).code, grpc.status.PERMISSION_DENIED);
    }
    const m = await metricsText(A);
    const delta = (code: string) => metric(m, 'tilelog_auth_failures_total', { code }) - metric(before, 'tilelog_auth_failures_total', { code });
    assert.deepEqual({ UNAUTHENTICATED: delta('UNAUTHENTICATED'), PERMISSION_DENIED: delta('PERMISSION_DENIED') }, { UNAUTHENTICATED: 2 * N, PERMISSION_DENIED: 2 * N }, `${N} refusals per front end (HTTP and gRPC) of each kind`);
  });

  test('--read-auth: entry contents need a token with the read scope; hash tiles, checkpoints and proofs stay public', async () => {
    const { checkpoint: cp } = await pollUntil('a checkpoint with entries', 5_000, async () => {
      const r = await request(`${A.baseUrl}/checkpoint`);
      assert.equal(r.status, 200, 'GET /checkpoint without a token');
      const o = openCheckpoint(r.body.toString('utf8'), [newVerifier(A.vkey)], A.origin);
      return o.checkpoint.treeSize >= 4n ? o : undefined;
    });
    const n = Number(cp.treeSize);
    assert.ok(n < 256);
    // Public.
    for (const path of ['/checkpoint', `/tile/0/000.p/${n}`, '/v1/proof/inclusion?index=0', `/v1/proof/consistency?from=1&to=${n}`, '/v1/log']) {
      const r = await request(A.baseUrl + path);
      assert.equal(r.status, 200, `GET ${path} without a token: ${r.body.toString('utf8').slice(0, 200)}`);
    }
    assert.ok((await ca.getCheckpoint()).startsWith(`${A.origin}\n`), 'GetCheckpoint without a token');
    const proof = await ca.getInclusionProof({ index: 0n });
    assert.equal(proof.index, '0', 'GetInclusionProof without a token');

    // Protected: /tile/entries/…, /v1/entries/<i>, GetEntry.
    const readToken = await signToken(keys.ec, { ...ok, sub: READER, scope: 'tilelog:read' });
    const tokens: [string, string | undefined, number, string | undefined, grpc.status][] = [
      ['no token', undefined, 401, 'UNAUTHENTICATED', grpc.status.UNAUTHENTICATED],
      ['a writer token without the read scope', bearer(await signToken(keys.rsa, ok)), 403, 'PERMISSION_DENIED', grpc.status.PERMISSION_DENIED],
      ['a token with another scope', bearer(await signToken(keys.ed, { ...ok, sub: READER, scope: 'tilelog:write tilelog:readx' })), 403, 'PERMISSION_DENIED', grpc.status.PERMISSION_DENIED],
      ['an expired read token', bearer(await signToken(keys.ed, { ...ok, sub: READER, scope: 'tilelog:read', expIn: -120, iatIn: -600 })), 401, 'UNAUTHENTICATED', grpc.status.UNAUTHENTICATED],
      ['a read token for another audience', bearer(await signToken(keys.ed, { ...ok, aud: 'other', sub: READER, scope: 'tilelog:read' })), 401, 'UNAUTHENTICATED', grpc.status.UNAUTHENTICATED],
      ['alg: none with the read scope', bearer(unsecuredToken({ ...ok, sub: READER, scope: 'tilelog:read' })), 401, 'UNAUTHENTICATED', grpc.status.UNAUTHENTICATED],
      ['scope "tilelog:read"', bearer(readToken), 200, undefined, grpc.status.OK],
      ['scope among others', bearer(await signToken(keys.rsa, { ...ok, sub: READER, scope: 'openid tilelog:read profile' })), 200, undefined, grpc.status.OK],
      ['scp array', bearer(await signToken(keys.ed, { ...ok, sub: READER, scp: ['tilelog:read'] })), 200, undefined, grpc.status.OK],
    ];
    const problems: string[] = [];
    const first = await ca.getEntry(0n, { token: readToken });
    for (const [what, authorization, status, code, gcode] of tokens) {
      for (const path of [`/tile/entries/000.p/${n}`, '/v1/entries/0']) {
        const r = await request(A.baseUrl + path, { headers: authorization === undefined ? {} : { authorization } });
        const text = r.body.toString('utf8');
        if (r.status !== status) problems.push(`GET ${path} with ${what}: ${r.status}, want ${status}: ${text.slice(0, 150)}`);
        else if (code !== undefined && (JSON.parse(text) as { error: { code: string } }).error.code !== code) problems.push(`GET ${path} with ${what}: code ${text}`);
        else if (status === 200) {
          if (!/private/.test(r.headers.get('cache-control') ?? '')) problems.push(`GET ${path} with ${what}: Cache-Control ${r.headers.get('cache-control')}, want private`);
          if (!/authorization/i.test(r.headers.get('vary') ?? '')) problems.push(`GET ${path} with ${what}: Vary ${r.headers.get('vary')}, want Authorization`);
          if (path === '/v1/entries/0' && !r.body.equals(first.data)) problems.push(`GET ${path}: wrong bytes`);
          if (path.startsWith('/tile/entries/') && !Buffer.from(decodeEntryBundle(new Uint8Array(r.body), n)[0] as Uint8Array).equals(first.data)) problems.push(`GET ${path}: wrong first entry`);
        }
      }
      try {
        const e = await ca.getEntry(0n, authorization === undefined ? {} : { authorization });
        if (gcode !== grpc.status.OK) problems.push(`GetEntry with ${what}: OK, want ${grpc.status[gcode]}`);
        else if (!e.data.equals(first.data)) problems.push(`GetEntry with ${what}: wrong bytes`);
      } catch (err) {
        const e = err as grpc.ServiceError;
        if (e.code !== gcode) problems.push(`GetEntry with ${what}: ${describeError(e)}, want ${grpc.status[gcode]}`);
      }
    }
    assert.deepEqual(problems, [], problems.join('\n'));
    assert.ok(bytesEqualHash(first.data, proof.leafHash), 'the entry read with the token hashes to the public leaf hash');
    // Read tokens do not make a writer.
    const w = await httpAppend(A, bearer(readToken), 'reader writes');
    assert.equal(w.status, 403, w.text);
  });

  test('AppendStream checks the token too', async () => {
    await checkAppendStream(ca, 'A');
  });

  test('--rate-limit 100 --rate-burst 200: a subject over it gets 429 + Retry-After (HTTP) and RESOURCE_EXHAUSTED (gRPC); tilelog_rate_limited_total counts; others are not affected', async () => {
    const token = await signToken(keys.rsa, { ...ok, sub: BURSTY });
    const before = await metricsText(A);
    const batch = (k: number) => JSON.stringify(Array.from({ length: 100 }, (_, i) => ({ burst: RUN, k, i })));
    let accepted = 0;
    let first429: PostReply | undefined;
    let refused = 0;
    for (let k = 0; k < 8 && first429 === undefined; k++) {
      const r = await postEntries(A.baseUrl, batch(k), { 'content-type': 'application/json', authorization: bearer(token) });
      if (r.status === 200) accepted += r.entries.length;
      else {
        assert.equal(r.status, 429, r.text);
        first429 = r;
        refused++;
      }
    }
    assert.ok(first429 !== undefined, `no 429 after ${accepted} entries in a burst (limit 100/s, burst 200)`);
    assert.ok(accepted >= 200 && accepted <= 400, `the burst of 200 is honoured before the limit bites: ${accepted} accepted`);
    assert.equal(errorCode(first429), 'RATE_LIMITED');
    const ra = first429.headers.get('retry-after');
    assert.ok(ra !== null && /^[1-9][0-9]*$/.test(ra) && Number(ra) <= 3, `Retry-After: ${ra}`);

    // gRPC, same subject, same budget: RESOURCE_EXHAUSTED with retry-after and RetryInfo.
    let ge: grpc.ServiceError | undefined;
    for (let k = 0; k < 8 && ge === undefined; k++) {
      try {
        await ca.append(
          Array.from({ length: 100 }, (_, i) => Buffer.from(`grpc burst ${RUN} ${k} ${i}`)),
          { token },
        );
      } catch (err) {
        ge = err as grpc.ServiceError;
      }
    }
    assert.ok(ge !== undefined, 'gRPC: the subject is over its limit');
    assert.equal(ge.code, grpc.status.RESOURCE_EXHAUSTED, describeError(ge));
    refused++;
    assert.equal(ge.metadata.get('tilelog-error-code')[0], 'RATE_LIMITED');
    const gra = ge.metadata.get('retry-after')[0];
    assert.ok(typeof gra === 'string' && /^[1-9][0-9]*$/.test(gra), `retry-after trailer ${String(gra)}`);
    const st = decodeStatusDetails(ge.metadata.get('grpc-status-details-bin')[0] as Buffer);
    assert.equal(st.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.ok(st.details.some((d) => d.typeUrl === 'type.googleapis.com/google.rpc.RetryInfo'), 'RetryInfo');

    // Another subject is not limited by it.
    const other = await httpAppend(A, bearer(await signToken(keys.ec, ok)), 'not throttled');
    assert.equal(other.status, 200, other.text);
    appendedByCollector++;

    const m = await metricsText(A);
    assert.equal(metric(m, 'tilelog_rate_limited_total', { subject: BURSTY }) - metric(before, 'tilelog_rate_limited_total', { subject: BURSTY }), refused, 'one count per refused request');
    assert.equal(metric(m, 'tilelog_rate_limited_total', { subject: COLLECTOR }), 0);

    // After Retry-After, the subject may write again.
    await sleep(Number(ra) * 1000 + 100);
    const again = await postEntries(A.baseUrl, batch(100), { 'content-type': 'application/json', authorization: bearer(token) });
    assert.equal(again.status, 200, `after Retry-After: ${again.text}`);
  });

  test('the JWKS file is replaced while the server runs: the new key works within about a second, the old ones stop working', async () => {
    const oldToken = bearer(await signToken(keys.ed, ok));
    assert.equal((await httpAppend(A, oldToken, 'before rotation')).status, 200);
    const newToken = bearer(await signToken(keys.rotatedFile, ok));
    assert.equal((await httpAppend(A, newToken, 'new key before rotation')).status, 401, 'a key not yet in the file is refused');
    writeJwksFile(jwksFile, [keys.rotatedFile]);
    const t0 = Date.now();
    await pollUntil('the new key to be accepted', 4_000, async () => ((await httpAppend(A, newToken, 'after rotation')).status === 200 ? true : undefined), 50);
    const took = Date.now() - t0;
    assert.ok(took <= 1_500, `the new key was accepted ${took} ms after the file changed`);
    assert.equal((await grpcAppend(ca, newToken, 'after rotation grpc')).code, grpc.status.OK);
    for (const key of [keys.rsa, keys.ec, keys.ed]) {
      const t = bearer(await signToken(key, ok));
      const h = await httpAppend(A, t, `old ${key.kid}`);
      assert.equal(h.status, 401, `old key ${key.kid} over HTTP: ${h.text}`);
      assert.equal((await grpcAppend(ca, t, `old ${key.kid} grpc`)).code, grpc.status.UNAUTHENTICATED, `old key ${key.kid} over gRPC`);
    }
    assert.equal((await httpAppend(A, oldToken, 'old token after rotation')).status, 401, 'a token issued before the rotation, by a removed key');
  });
});

describe('B: rotation behind the JWKS URL', () => {
  test('a token with the new kid is accepted once jose re-fetches (after its 30 s cool-down); the removed keys are refused', async () => {
    const lastFetch = jwksServer.fetches[jwksServer.fetches.length - 1];
    assert.ok(lastFetch !== undefined);
    assert.equal(jwksServer.fetches.length, 1, 'nothing re-fetched the key set since the first token');
    const newToken = bearer(await signToken(keys.rotatedUrl, ok));
    const readyAt = lastFetch + 30_000;
    // Until the cool-down has run out, the new kid is unknown (jose does not re-fetch).
    if (Date.now() < readyAt - 1_000) assert.equal((await httpAppend(B, newToken, 'new kid during the cool-down')).status, 401);
    await sleep(Math.max(0, readyAt - Date.now()));
    await pollUntil('the new kid to be accepted', 6_000, async () => ((await httpAppend(B, newToken, 'new kid')).status === 200 ? true : undefined), 100);
    assert.equal(jwksServer.fetches.length, 2, 'the unknown kid made the server re-fetch the key set once');
    assert.equal((await grpcAppend(cb, newToken, 'new kid grpc')).code, grpc.status.OK);
    for (const key of [keys.rsa, keys.ec, keys.ed]) {
      const t = bearer(await signToken(key, ok));
      assert.equal((await httpAppend(B, t, `removed ${key.kid}`)).status, 401, `removed key ${key.kid} over HTTP`);
      assert.equal((await grpcAppend(cb, t, `removed ${key.kid} grpc`)).code, grpc.status.UNAUTHENTICATED, `removed key ${key.kid} over gRPC`);
    }
    await Promise.all([A.proc.stop(), B.proc.stop()]);
    assert.deepEqual([...A.proc.errorRecords(), ...B.proc.errorRecords()], [], 'no error logged by either server');
  });
});

function bytesEqualHash(entry: Buffer, lh: Buffer): boolean {
  return Buffer.from(leafHash(entry)).equals(lh);
}
