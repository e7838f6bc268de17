/**
 * Authentication of writers (and, when configured, of readers of entry contents): a bearer JWT in the
 * `Authorization` header (HTTP) or metadata (gRPC), verified with `jose`.
 *
 * - Keys come from a JWKS URL (e.g. a Kubernetes cluster's service-account issuer `…/openid/v1/jwks`, so that
 *   projected service-account tokens work unchanged; jose caches it and re-fetches on an unknown `kid`) or from a
 *   local JWKS file, re-read when it changes (key rotation without a restart).
 * - Required: `iss`, `aud`, `exp` and `sub`; only the configured asymmetric algorithms (never `none`, never HS*:
 *   so a token MACed with the public key as secret is refused); `nbf`/`exp` with a small clock skew.
 * - Writers: `sub` must be in the allow-list (e.g. `system:serviceaccount:ingress-nginx:tilelog-collector`).
 * - Readers (only when `requireReadToken`): a valid token whose `scope` (space-separated) or `scp` (array)
 *   holds the read scope.
 * Off by default (the embedded quick start): everyone is the subject `anonymous`.
 */
import { stat, readFile } from 'node:fs/promises';
import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { TlogError } from './core/errors.js';

/** Writers' and readers' identity check. */
export interface AuthConfig {
  readonly issuer: string;
  readonly audience: string;
  readonly jwksUrl?: string;
  readonly jwksFile?: string;
  /** Subjects allowed to write. */
  readonly subjects: readonly string[];
  /** Allowed JWS algorithms (asymmetric only). */
  readonly algorithms: readonly string[];
  readonly clockToleranceSeconds: number;
  /** Require a token with `readScope` to read entry contents (tiles of hashes and checkpoints stay public). */
  readonly requireReadToken: boolean;
  readonly readScope: string;
}

/** Who made a request. */
export interface Principal {
  readonly subject: string;
  readonly authenticated: boolean;
}

export const ANONYMOUS: Principal = { subject: 'anonymous', authenticated: false };

const ASYMMETRIC = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519']);

/** A JWKS file re-read whenever its modification time or size changes (checked at most every 500 ms). */
function fileKeySet(path: string): JWTVerifyGetKey {
  let current: { mtimeMs: number; size: number; keys: JWTVerifyGetKey } | undefined;
  let checkedAt = 0;
  let loading: Promise<JWTVerifyGetKey> | undefined;
  const load = async (): Promise<JWTVerifyGetKey> => {
    const now = Date.now();
    if (current !== undefined && now - checkedAt < 500) return current.keys;
    checkedAt = now;
    const s = await stat(path);
    if (current !== undefined && s.mtimeMs === current.mtimeMs && s.size === current.size) return current.keys;
    const keys = createLocalJWKSet(JSON.parse(await readFile(path, 'utf8')));
    current = { mtimeMs: s.mtimeMs, size: s.size, keys };
    return keys;
  };
  return async (header, token) => {
    loading ??= load().finally(() => (loading = undefined));
    const keys = await loading;
    return keys(header, token);
  };
}

/** Verifies bearer tokens against an {@link AuthConfig}; with no config, everyone is {@link ANONYMOUS}. */
export class Authenticator {
  private readonly keys: JWTVerifyGetKey | undefined;

  constructor(private readonly cfg: AuthConfig | undefined) {
    if (cfg === undefined) return;
    for (const a of cfg.algorithms) if (!ASYMMETRIC.has(a)) throw new Error(`auth: algorithm ${a} is not allowed (asymmetric JWS algorithms only)`);
    if ((cfg.jwksUrl === undefined) === (cfg.jwksFile === undefined)) throw new Error('auth: configure exactly one of a JWKS URL and a JWKS file');
    this.keys = cfg.jwksUrl !== undefined ? createRemoteJWKSet(new URL(cfg.jwksUrl), { cacheMaxAge: 600_000, cooldownDuration: 30_000, timeoutDuration: 5_000 }) : fileKeySet(cfg.jwksFile as string);
  }

  /** True when writers must present a token. */
  get enabled(): boolean {
    return this.cfg !== undefined;
  }

  /** True when reading entry contents needs a token. */
  get readProtected(): boolean {
    return this.cfg?.requireReadToken === true;
  }

  /** The writer behind an `Authorization` value. UNAUTHENTICATED or PERMISSION_DENIED otherwise. */
  async writer(authorization: string | undefined): Promise<Principal> {
    if (this.cfg === undefined) return ANONYMOUS;
    const payload = await this.verify(authorization);
    const sub = payload.sub as string;
    if (!this.cfg.subjects.includes(sub)) throw new TlogError('PERMISSION_DENIED', `subject ${JSON.stringify(sub)} may not write to this log`);
    return { subject: sub, authenticated: true };
  }

  /** The reader behind an `Authorization` value, if reading entries is protected. */
  async reader(authorization: string | undefined): Promise<Principal> {
    if (this.cfg === undefined || !this.cfg.requireReadToken) return ANONYMOUS;
    const payload = await this.verify(authorization);
    const scopes = typeof payload['scope'] === 'string' ? payload['scope'].split(' ') : Array.isArray(payload['scp']) ? (payload['scp'] as unknown[]) : [];
    if (!scopes.includes(this.cfg.readScope)) throw new TlogError('PERMISSION_DENIED', `reading entries needs the scope ${JSON.stringify(this.cfg.readScope)}`);
    return { subject: payload.sub as string, authenticated: true };
  }

  private async verify(authorization: string | undefined): Promise<JWTPayload> {
    const cfg = this.cfg as AuthConfig;
    const m = /^Bearer +([A-Za-z0-9_.=-]+) *$/i.exec(authorization ?? '');
    if (m === null) throw new TlogError('UNAUTHENTICATED', authorization === undefined ? 'a bearer token is required (Authorization: Bearer <JWT>)' : 'the Authorization value is not "Bearer <JWT>"');
    try {
      const { payload } = await jwtVerify(m[1] as string, this.keys as JWTVerifyGetKey, {
        issuer: cfg.issuer,
        audience: cfg.audience,
        algorithms: [...cfg.algorithms],
        clockTolerance: cfg.clockToleranceSeconds,
        requiredClaims: ['exp', 'sub'],
      });
      return payload;
    } catch (err) {
      throw new TlogError('UNAUTHENTICATED', `invalid token: ${describeJoseError(err)}`, { cause: err });
    }
  }
}

function describeJoseError(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'expired';
  if (err instanceof errors.JWTClaimValidationFailed) return `claim ${err.claim} ${err.reason === 'check_failed' ? 'is not acceptable' : err.reason.replace(/_/g, ' ')}`;
  if (err instanceof errors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (err instanceof errors.JWKSNoMatchingKey) return 'no key with this kid';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'bad signature';
  if (err instanceof errors.JWTInvalid || err instanceof errors.JWSInvalid) return 'malformed';
  if (err instanceof errors.JOSEError) return err.code;
  return 'key set unavailable';
}
