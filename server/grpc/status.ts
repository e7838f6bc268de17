/**
 * gRPC side of the one error table: a TlogError becomes the table's status code, its message, and trailers
 * `tilelog-error-code`, `retry-after` (seconds) and the standard `grpc-status-details-bin` (google.rpc.Status with
 * ErrorInfo and, for retryable errors, RetryInfo).
 */
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import type { TlogError } from '../core/errors.js';
import { ERROR_TABLE } from '../errors.js';
import { rpcStatusTypes } from './proto.js';

/** The ServiceError to pass to a gRPC callback or `call.destroy`. */
export function toServiceError(e: TlogError): Partial<ServiceError> {
  const code = ERROR_TABLE[e.code].grpc;
  const metadata = new Metadata();
  metadata.set('tilelog-error-code', e.code);
  const { Status, RetryInfo, ErrorInfo } = rpcStatusTypes();
  const details = [{ type_url: 'type.googleapis.com/google.rpc.ErrorInfo', value: ErrorInfo.encode(ErrorInfo.fromObject({ reason: e.code, domain: 'tilelog' })).finish() }];
  if (e.retryAfter !== undefined) {
    const seconds = Math.max(1, Math.ceil(e.retryAfter));
    metadata.set('retry-after', String(seconds));
    details.push({ type_url: 'type.googleapis.com/google.rpc.RetryInfo', value: RetryInfo.encode(RetryInfo.fromObject({ retryDelay: { seconds } })).finish() });
  }
  const status = Status.encode(Status.fromObject({ code, message: e.message, details })).finish();
  metadata.set('grpc-status-details-bin', Buffer.from(status));
  return { code, details: e.message, metadata };
}
