/**
 * The vendored OTLP protos (proto/opentelemetry/…, loaded at first use with protobufjs): decoding an
 * ExportLogsServiceRequest into the normalised form of convert.ts, and encoding responses and google.rpc.Status.
 */
import protobuf from 'protobufjs';
import { TlogError, malformed } from '../core/errors.js';
import { ERROR_TABLE } from '../errors.js';
import { PROTO_DIR, rpcStatusTypes } from '../grpc/proto.js';
import { normaliseProtobufRequest, type LogsRequest } from './convert.js';

/** The logs service proto, relative to {@link PROTO_DIR}. */
export const OTLP_LOGS_SERVICE_PROTO = 'opentelemetry/proto/collector/logs/v1/logs_service.proto';
/** The gRPC service name. */
export const OTLP_LOGS_SERVICE = 'opentelemetry.proto.collector.logs.v1.LogsService';

/** toObject options giving what convert.ts's protobuf normaliser expects. */
export const TO_OBJECT_OPTIONS: protobuf.IConversionOptions = { longs: String, enums: Number, bytes: Buffer, defaults: false, arrays: false, objects: false, oneofs: false };

let types: { Request: protobuf.Type; Response: protobuf.Type } | undefined;

/** ExportLogsServiceRequest / ExportLogsServiceResponse from the vendored protos. */
export function otlpLogsTypes(): { Request: protobuf.Type; Response: protobuf.Type } {
  if (types === undefined) {
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => `${PROTO_DIR}${target}`;
    root.loadSync(OTLP_LOGS_SERVICE_PROTO);
    types = {
      Request: root.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest'),
      Response: root.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse'),
    };
  }
  return types;
}

/** Decodes a binary ExportLogsServiceRequest (untrusted) into the normalised form. MALFORMED if it does not decode. */
export function decodeProtobufRequest(body: Uint8Array): LogsRequest {
  const { Request } = otlpLogsTypes();
  let decoded: unknown;
  try {
    decoded = Request.toObject(Request.decode(body), TO_OBJECT_OPTIONS);
  } catch (err) {
    if (err instanceof TlogError) throw err;
    throw malformed(`request body is not a protobuf ExportLogsServiceRequest: ${err instanceof RangeError ? 'nested too deeply or truncated' : (err as Error).message}`);
  }
  return normaliseProtobufRequest(decoded);
}

/** Encodes an ExportLogsServiceResponse given in its OTLP/JSON form (see convert.ts `exportResponse`). */
export function encodeProtobufResponse(res: { partialSuccess?: { rejectedLogRecords: string; errorMessage: string } }): Uint8Array {
  const { Response } = otlpLogsTypes();
  return Response.encode(Response.fromObject(res)).finish();
}

/** The error body of OTLP/HTTP: a google.rpc.Status (code = the gRPC code of the error table), as JSON. */
export function statusJson(e: TlogError): { code: number; message: string; details: Record<string, unknown>[] } {
  const details: Record<string, unknown>[] = [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: e.code, domain: 'tilelog' }];
  if (e.retryAfter !== undefined) details.push({ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${Math.max(1, Math.ceil(e.retryAfter))}s` });
  return { code: ERROR_TABLE[e.code].grpc, message: e.message, details };
}

/** The same google.rpc.Status, binary. */
export function statusProtobuf(e: TlogError): Uint8Array {
  const { Status, RetryInfo, ErrorInfo } = rpcStatusTypes();
  const details = [{ type_url: 'type.googleapis.com/google.rpc.ErrorInfo', value: ErrorInfo.encode(ErrorInfo.fromObject({ reason: e.code, domain: 'tilelog' })).finish() }];
  if (e.retryAfter !== undefined) {
    details.push({ type_url: 'type.googleapis.com/google.rpc.RetryInfo', value: RetryInfo.encode(RetryInfo.fromObject({ retryDelay: { seconds: Math.max(1, Math.ceil(e.retryAfter)) } })).finish() });
  }
  return Status.encode(Status.fromObject({ code: ERROR_TABLE[e.code].grpc, message: e.message, details })).finish();
}
