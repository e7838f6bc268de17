/**
 * The one error table: each error code maps to one HTTP status and one gRPC status code, and says whether a
 * client may retry. Both front ends (HTTP and gRPC) use it; the code is also the metrics label.
 *
 * Body of every HTTP error: `{"error":{"code":"…","message":"…"}}`.
 */
import { TlogError, type ErrorCode } from './core/errors.js';

/** gRPC status codes (grpc/grpc `doc/statuscodes.md`), numerically identical to @grpc/grpc-js `status`. */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export interface ErrorMapping {
  readonly http: number;
  readonly grpc: number;
  readonly retryable: boolean;
}

/** ErrorCode → HTTP status, gRPC status, retryable. */
export const ERROR_TABLE: Readonly<Record<ErrorCode, ErrorMapping>> = {
  MALFORMED: { http: 400, grpc: GrpcStatus.INVALID_ARGUMENT, retryable: false },
  NOT_FOUND: { http: 404, grpc: GrpcStatus.NOT_FOUND, retryable: false },
  OUT_OF_RANGE: { http: 404, grpc: GrpcStatus.OUT_OF_RANGE, retryable: false },
  METHOD_NOT_ALLOWED: { http: 405, grpc: GrpcStatus.UNIMPLEMENTED, retryable: false },
  TOO_LARGE: { http: 413, grpc: GrpcStatus.INVALID_ARGUMENT, retryable: false },
  REQUEST_TIMEOUT: { http: 408, grpc: GrpcStatus.DEADLINE_EXCEEDED, retryable: true },
  UNSUPPORTED_MEDIA_TYPE: { http: 415, grpc: GrpcStatus.INVALID_ARGUMENT, retryable: false },
  NOT_ACCEPTABLE: { http: 406, grpc: GrpcStatus.INVALID_ARGUMENT, retryable: false },
  PUSHBACK: { http: 503, grpc: GrpcStatus.UNAVAILABLE, retryable: true },
  UNAVAILABLE: { http: 503, grpc: GrpcStatus.UNAVAILABLE, retryable: true },
  RATE_LIMITED: { http: 429, grpc: GrpcStatus.RESOURCE_EXHAUSTED, retryable: true },
  UNAUTHENTICATED: { http: 401, grpc: GrpcStatus.UNAUTHENTICATED, retryable: false },
  PERMISSION_DENIED: { http: 403, grpc: GrpcStatus.PERMISSION_DENIED, retryable: false },
  VERIFICATION_FAILED: { http: 422, grpc: GrpcStatus.FAILED_PRECONDITION, retryable: false },
  INCONSISTENT: { http: 409, grpc: GrpcStatus.FAILED_PRECONDITION, retryable: false },
  NOT_LEADER: { http: 503, grpc: GrpcStatus.UNAVAILABLE, retryable: true },
  INTERNAL: { http: 500, grpc: GrpcStatus.INTERNAL, retryable: true },
};

/** System and LevelDB error codes of a storage that cannot write now but may later (full disk, I/O error). */
const STORAGE_UNAVAILABLE_CODES = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EROFS', 'EMFILE', 'ENFILE', 'LEVEL_IO_ERROR', 'LEVEL_DATABASE_NOT_OPEN']);

/** True if `err` (or its cause) is a storage I/O failure that may clear: a full disk, an I/O error, a closed database. */
export function isStorageUnavailable(err: unknown): boolean {
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && STORAGE_UNAVAILABLE_CODES.has(code)) return true;
    if (/No space left on device|Disk quota exceeded/.test(String((e as { message?: unknown }).message ?? ''))) return true;
  }
  return false;
}

/**
 * Normalises any thrown value into a TlogError: storage I/O failures (full disk …) become UNAVAILABLE (503, retry),
 * other unknown errors INTERNAL, their message hidden.
 */
export function toTlogError(err: unknown): TlogError {
  if (err instanceof TlogError) return err;
  if (isStorageUnavailable(err)) return new TlogError('UNAVAILABLE', 'storage is unavailable (disk full or I/O error); retry later', { cause: err, retryAfter: 5 });
  return new TlogError('INTERNAL', 'internal error', { cause: err });
}

/** The JSON body of an error response. */
export function errorBody(e: TlogError): { error: { code: ErrorCode; message: string } } {
  return { error: { code: e.code, message: e.message } };
}
