/**
 * JWTs for the authentication tests (jose): signing key pairs (RS256, ES256, EdDSA) with public JWKs carrying
 * `kid`s, JWKS files written atomically (rename, so the server never reads half a file), a tiny JWKS HTTP server
 * on 127.0.0.1 whose key set can be swapped while it runs (and which counts fetches), and hand-built hostile
 * tokens: unsecured (`alg: none`) and HS256 MACed with the public key's PEM as the secret.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

export type Alg = 'RS256' | 'ES256' | 'EdDSA';

/** A signing key and its public JWK. */
export interface TestKey {
  readonly alg: Alg;
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  /** The public JWK (with kid, alg, use). */
  readonly jwk: JWK;
  /** The public key as SPKI PEM. */
  readonly pem: string;
}

/** Generates a key pair for `alg` with key id `kid`. */
export async function newKey(alg: Alg, kid: string): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { alg, kid, privateKey, publicKey, jwk, pem: await exportSPKI(publicKey) };
}

/** `{"keys":[…]}` of the keys' public JWKs. */
export function jwks(keys: readonly TestKey[]): { keys: JWK[] } {
  return { keys: keys.map((k) => k.jwk) };
}

/** Writes a JWKS file atomically (write a temp file, then rename over the target). */
export function writeJwksFile(path: string, keys: readonly TestKey[]): void {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, JSON.stringify(jwks(keys)));
  renameSync(tmp, path);
}

/** Claims of a test token; times are seconds relative to now (negative = past). Unset claims are left out. */
export interface TokenSpec {
  readonly iss?: string;
  readonly aud?: string | string[];
  readonly sub?: string;
  /** Seconds from now (default +300); null = no exp claim. */
  readonly expIn?: number | null;
  /** Seconds from now; unset = no nbf claim. */
  readonly nbfIn?: number;
  /** Seconds from now (default 0). */
  readonly iatIn?: number;
  readonly scope?: string;
  readonly scp?: string[];
  /** Override the header's kid (default: the key's kid); null = no kid. */
  readonly kid?: string | null;
}

function payloadOf(spec: TokenSpec): JWTPayload {
  const now = Math.floor(Date.now() / 1000);
  const p: JWTPayload = { iat: now + (spec.iatIn ?? 0) };
  if (spec.iss !== undefined) p.iss = spec.iss;
  if (spec.aud !== undefined) p.aud = spec.aud;
  if (spec.sub !== undefined) p.sub = spec.sub;
  if (spec.expIn !== null) p.exp = now + (spec.expIn ?? 300);
  if (spec.nbfIn !== undefined) p.nbf = now + spec.nbfIn;
  if (spec.scope !== undefined) p['scope'] = spec.scope;
  if (spec.scp !== undefined) p['scp'] = spec.scp;
  return p;
}

/** A compact JWS signed with `key`. */
export async function signToken(key: TestKey, spec: TokenSpec): Promise<string> {
  const kid = spec.kid === undefined ? key.kid : spec.kid;
  return new SignJWT(payloadOf(spec)).setProtectedHeader({ alg: key.alg, typ: 'JWT', ...(kid === null ? {} : { kid }) }).sign(key.privateKey);
}

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** An unsecured JWT (`{"alg":"none"}`, empty signature), built by hand. */
export function unsecuredToken(spec: TokenSpec, kid?: string): string {
  return `${b64url({ alg: 'none', typ: 'JWT', ...(kid === undefined ? {} : { kid }) })}.${b64url(payloadOf(spec))}.`;
}

/**
 * The classic key-confusion token: HS256, MACed with the public key's PEM text as the HMAC secret, with the
 * public key's kid (a verifier that takes `alg` from the token would accept it).
 */
export function hs256WithPublicKey(key: TestKey, spec: TokenSpec, secret: 'pem' | 'jwk-n-or-x' = 'pem'): string {
  const signingInput = `${b64url({ alg: 'HS256', typ: 'JWT', kid: key.kid })}.${b64url(payloadOf(spec))}`;
  const s = secret === 'pem' ? Buffer.from(key.pem) : Buffer.from(String(key.jwk.n ?? key.jwk.x ?? ''), 'base64url');
  return `${signingInput}.${createHmac('sha256', s).update(signingInput).digest('base64url')}`;
}

/** A JWKS served over HTTP on 127.0.0.1, swappable at run time. */
export class JwksServer {
  /** Times (ms since the epoch) of every GET of the key set. */
  readonly fetches: number[] = [];
  private body: string;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    keys: readonly TestKey[],
  ) {
    this.body = JSON.stringify(jwks(keys));
  }

  /** Starts serving `keys` at `http://127.0.0.1:PORT/jwks`. */
  static async start(keys: readonly TestKey[]): Promise<JwksServer> {
    let self: JwksServer | undefined;
    const server = createServer((req, res) => {
      if (req.method === 'GET' && req.url === '/jwks' && self !== undefined) {
        self.fetches.push(Date.now());
        res.writeHead(200, { 'content-type': 'application/jwk-set+json', 'cache-control': 'no-store' });
        res.end(self.body);
        return;
      }
      res.writeHead(404).end();
    });
    server.keepAliveTimeout = 1_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    self = new JwksServer(server, `http://127.0.0.1:${port}/jwks`, keys);
    return self;
  }

  /** Serves `keys` from now on. */
  setKeys(keys: readonly TestKey[]): void {
    this.body = JSON.stringify(jwks(keys));
  }

  /** Stops listening and drops open connections. */
  close(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
