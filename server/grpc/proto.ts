/**
 * Loads `proto/tilelog/v1/log.proto` at start-up (@grpc/proto-loader over protobufjs): no hand-kept copies of the
 * message shapes. uint64 fields arrive as decimal strings, bytes as Buffers, proto3 `optional` presence as `_field`.
 *
 * Malformed protobuf: @grpc/grpc-js answers a request its deserializer throws on with INTERNAL. Tilelog wraps the
 * deserializers so that a malformed message reaches the handler as {@link Malformed}, which answers
 * INVALID_ARGUMENT: bad input from a client is never reported as a server error.
 */
import * as protoLoader from '@grpc/proto-loader';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

/** The proto/ directory of this package (this file runs from dist/server/grpc/). */
export const PROTO_DIR = fileURLToPath(new URL('../../../proto/', import.meta.url));

const LOADER_OPTIONS: protoLoader.Options = { includeDirs: [PROTO_DIR], longs: String, enums: String, defaults: true, oneofs: true };

/** A request that failed to decode. */
export class Malformed {
  constructor(readonly reason: string) {}
}

/** The package definition of the log service (also fed to the reflection service). */
export function loadLogPackage(): protoLoader.PackageDefinition {
  return protoLoader.loadSync('tilelog/v1/log.proto', LOADER_OPTIONS);
}

/** The LogService definition with deserializers that turn malformed input into {@link Malformed}. */
export function logServiceDefinition(pkg: protoLoader.PackageDefinition): ServiceDefinition {
  const raw = pkg['tilelog.v1.LogService'] as unknown as ServiceDefinition;
  const out: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(raw)) {
    const deserialize = method.requestDeserialize;
    out[name] = {
      ...method,
      requestDeserialize: (b: Buffer) => {
        try {
          return deserialize(b);
        } catch (err) {
          return new Malformed((err as Error).message);
        }
      },
    };
  }
  return out as unknown as ServiceDefinition;
}

let statusTypes: { Status: protobuf.Type; RetryInfo: protobuf.Type; ErrorInfo: protobuf.Type } | undefined;

/** google.rpc.Status / RetryInfo / ErrorInfo (for the `grpc-status-details-bin` trailer). */
export function rpcStatusTypes(): { Status: protobuf.Type; RetryInfo: protobuf.Type; ErrorInfo: protobuf.Type } {
  if (statusTypes === undefined) {
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => (target.startsWith('google/protobuf/') ? target : `${PROTO_DIR}${target}`);
    root.loadSync('google/rpc/status.proto');
    statusTypes = { Status: root.lookupType('google.rpc.Status'), RetryInfo: root.lookupType('google.rpc.RetryInfo'), ErrorInfo: root.lookupType('google.rpc.ErrorInfo') };
  }
  return statusTypes;
}
