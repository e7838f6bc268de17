/**
 * OTLP/gRPC logs receiver: `opentelemetry.proto.collector.logs.v1.LogsService/Export` on an existing grpc-js
 * server. The service definition comes from the vendored protos via @grpc/proto-loader; the request is kept as
 * bytes and decoded by the same code as OTLP/HTTP protobuf bodies (proto.ts → convert.ts), so a malformed
 * request is INVALID_ARGUMENT, never INTERNAL. Errors go through the one table (`toServiceError`): pushback is
 * UNAVAILABLE with RetryInfo (retried by OTLP clients), rate limiting RESOURCE_EXHAUSTED with RetryInfo.
 * Records too large for an entry are reported in `partial_success`.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Authenticator } from '../auth.js';
import { toTlogError } from '../errors.js';
import { PROTO_DIR } from '../grpc/proto.js';
import { toServiceError } from '../grpc/status.js';
import type { Ingest } from '../ingest.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { entriesFromRequest, exportResponse } from './convert.js';
import { withRetryDelay } from './http.js';
import { decodeProtobufRequest, OTLP_LOGS_SERVICE, OTLP_LOGS_SERVICE_PROTO } from './proto.js';

export interface OtlpGrpcDeps {
  readonly ingest: Pick<Ingest, 'append'>;
  readonly auth: Pick<Authenticator, 'writer'>;
  readonly logger?: Pick<Logger, 'info' | 'error'>;
  readonly metrics?: Pick<Metrics, 'recordError'> & Partial<Pick<Metrics, 'grpcCalls'>>;
}

/** The LogsService package definition (also usable for the reflection service). */
export function loadOtlpLogsPackage(): protoLoader.PackageDefinition {
  return protoLoader.loadSync(OTLP_LOGS_SERVICE_PROTO, { includeDirs: [PROTO_DIR], longs: String, enums: Number, defaults: false, oneofs: false });
}

/** Registers `LogsService/Export` on `server` (call before `bindAsync`). */
export function addOtlpLogsService(server: grpc.Server, deps: OtlpGrpcDeps): void {
  const pkg = loadOtlpLogsPackage();
  const raw = pkg[OTLP_LOGS_SERVICE] as unknown as grpc.ServiceDefinition;
  const exportMethod = raw['Export'];
  if (exportMethod === undefined) throw new Error(`otlp: ${OTLP_LOGS_SERVICE}/Export missing from ${OTLP_LOGS_SERVICE_PROTO}`);
  // Keep the request as bytes: decoding (and its errors) happens in the handler, like the HTTP receiver.
  const definition = { Export: { ...exportMethod, requestDeserialize: (b: Buffer) => b } } as unknown as grpc.ServiceDefinition;

  const handler: grpc.handleUnaryCall<Buffer, Record<string, unknown>> = (call, callback) => {
    const run = async () => {
      const v = call.metadata.get('authorization')[0];
      const principal = await deps.auth.writer(typeof v === 'string' ? v : undefined);
      const started = Date.now();
      const converted = entriesFromRequest(decodeProtobufRequest(call.request), principal);
      if (converted.entries.length > 0) await deps.ingest.append(principal, converted.entries);
      deps.logger?.info({ rpc: 'LogsService/Export', subject: principal.subject, records: converted.total, rejected: converted.rejected, ms: Date.now() - started }, 'otlp logs');
      return exportResponse(converted);
    };
    run().then(
      (res) => {
        deps.metrics?.grpcCalls?.inc({ method: 'LogsService/Export', code: '0' });
        callback(null, res);
      },
      (err: unknown) => {
        const e = withRetryDelay(toTlogError(err));
        if (e.code === 'INTERNAL') deps.logger?.error({ err: e.cause ?? err, rpc: 'LogsService/Export' }, 'internal error');
        deps.metrics?.recordError(e.code);
        const se = toServiceError(e);
        deps.metrics?.grpcCalls?.inc({ method: 'LogsService/Export', code: String(se.code) });
        callback(se as grpc.ServiceError);
      },
    );
  };

  server.addService(definition, { Export: handler as grpc.UntypedHandleCall });
}
