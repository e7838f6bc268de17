/**
 * A test client for Tilelog's gRPC front end: @grpc/grpc-js with `proto/tilelog/v1/log.proto` loaded by
 * @grpc/proto-loader (the very file the server loads; no hand-kept message shapes), plus the standard health
 * service (grpc-health-check's health.proto), server reflection (v1alpha and v1 from @grpc/reflection's protos,
 * file descriptors decoded with protobufjs's descriptor extension), a raw client with identity serializers (to
 * send bytes that are not valid protobuf) and a decoder of the `grpc-status-details-bin` trailer
 * (proto/google/rpc/status.proto via protobufjs).
 *
 * Everything is bounded: every call carries a deadline, every stream read is awaited with a timeout.
 * Conventions of the loaded messages: uint64 are decimal strings, bytes are Buffers, enums are names.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { REPO_ROOT, withTimeout } from './server-process.js';

/** Default deadline of a call (ms). */
export const CALL_DEADLINE_MS = 15_000;

export const PROTO_DIR = join(REPO_ROOT, 'proto');
const LOADER_OPTIONS: protoLoader.Options = { includeDirs: [PROTO_DIR], longs: String, enums: String, defaults: true, oneofs: true };
const HEALTH_PROTO = join(REPO_ROOT, 'node_modules', 'grpc-health-check', 'proto', 'health', 'v1', 'health.proto');
const REFLECTION_PROTO_DIR = join(REPO_ROOT, 'node_modules', '@grpc', 'reflection', 'build', 'proto');

type Obj = Record<string, unknown>;

// ---- message shapes (as proto-loader decodes them) ----

export interface AppendedEntry {
  readonly index: string;
  readonly leafHash: Buffer;
  readonly duplicate: boolean;
  readonly proof: Buffer[];
}

export interface StreamError {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly retryAfterSeconds: number;
}

export interface AppendResponse {
  readonly id: string;
  readonly entries: AppendedEntry[];
  readonly checkpoint: Buffer;
  readonly treeSize: string;
  readonly error: StreamError | null;
}

export interface CheckpointMsg {
  readonly checkpoint: Buffer;
}

export interface InclusionProofMsg {
  readonly index: string;
  readonly treeSize: string;
  readonly leafHash: Buffer;
  readonly proof: Buffer[];
  readonly checkpoint: Buffer;
}

export interface ConsistencyProofMsg {
  readonly from: string;
  readonly to: string;
  readonly proof: Buffer[];
}

export interface EntryMsg {
  readonly index: string;
  readonly data: Buffer;
}

/** A unary reply with its metadata. */
export interface UnaryReply<T> {
  readonly response: T;
  readonly status: grpc.StatusObject;
}

/** Per-call options. */
export interface CallOptions {
  /** Sent as `authorization: Bearer <token>`. */
  readonly token?: string;
  /** Sent verbatim as `authorization` (wins over `token`). */
  readonly authorization?: string;
  readonly deadlineMs?: number;
}

let logPackage: grpc.GrpcObject | undefined;
function logPkg(): grpc.GrpcObject {
  logPackage ??= grpc.loadPackageDefinition(protoLoader.loadSync('tilelog/v1/log.proto', LOADER_OPTIONS));
  return logPackage;
}

function lookup(root: grpc.GrpcObject, name: string): grpc.ServiceClientConstructor {
  let v: unknown = root;
  for (const part of name.split('.')) v = (v as Record<string, unknown>)[part];
  if (typeof v !== 'function') throw new Error(`no service ${name} in the loaded proto`);
  return v as grpc.ServiceClientConstructor;
}

/** Metadata for a call. */
export function callMetadata(o: CallOptions = {}): grpc.Metadata {
  const md = new grpc.Metadata();
  if (o.authorization !== undefined) md.set('authorization', o.authorization);
  else if (o.token !== undefined) md.set('authorization', `Bearer ${o.token}`);
  return md;
}

function deadline(o: CallOptions = {}): grpc.CallOptions {
  return { deadline: Date.now() + (o.deadlineMs ?? CALL_DEADLINE_MS) };
}

type UnaryMethod = (req: Obj, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Obj) => void) => grpc.ClientUnaryCall;

/** Client of `tilelog.v1.LogService`. */
export class LogClient {
  readonly client: grpc.Client;

  constructor(
    readonly address: string,
    channelOptions: grpc.ChannelOptions = {},
  ) {
    const Ctor = lookup(logPkg(), 'tilelog.v1.LogService');
    this.client = new Ctor(address, grpc.credentials.createInsecure(), channelOptions);
  }

  /** A unary call: resolves with the response and the final status (trailers), rejects with a grpc.ServiceError. */
  unary<T>(method: string, req: Obj, o: CallOptions = {}): Promise<UnaryReply<T>> {
    const fn = (this.client as unknown as Record<string, UnaryMethod>)[method];
    if (typeof fn !== 'function') throw new Error(`no method ${method}`);
    return new Promise((resolve, reject) => {
      let status: grpc.StatusObject | undefined;
      let result: { err: grpc.ServiceError | null; res?: Obj } | undefined;
      const settle = () => {
        if (result === undefined || status === undefined) return;
        if (result.err !== null) reject(result.err);
        else resolve({ response: result.res as unknown as T, status });
      };
      const call = fn.call(this.client, req, callMetadata(o), deadline(o), (err, res) => {
        result = res === undefined ? { err } : { err, res };
        settle();
      });
      call.on('status', (s: grpc.StatusObject) => {
        status = s;
        settle();
      });
    });
  }

  async append(entries: readonly Uint8Array[], o: CallOptions & { id?: string; waitPublished?: boolean } = {}): Promise<AppendResponse> {
    return (await this.unary<AppendResponse>('Append', { id: o.id ?? '', entries: entries.map((e) => Buffer.from(e)), waitPublished: o.waitPublished ?? false }, o)).response;
  }

  async getCheckpoint(o: CallOptions = {}): Promise<string> {
    return (await this.unary<CheckpointMsg>('GetCheckpoint', {}, o)).response.checkpoint.toString('utf8');
  }

  async getInclusionProof(q: { index?: bigint; leafHash?: Uint8Array; treeSize?: bigint }, o: CallOptions = {}): Promise<InclusionProofMsg> {
    const req: Obj = {};
    if (q.index !== undefined) req['index'] = q.index.toString();
    if (q.leafHash !== undefined) req['leafHash'] = Buffer.from(q.leafHash);
    if (q.treeSize !== undefined) req['treeSize'] = q.treeSize.toString();
    return (await this.unary<InclusionProofMsg>('GetInclusionProof', req, o)).response;
  }

  async getConsistencyProof(from: bigint, to?: bigint, o: CallOptions = {}): Promise<ConsistencyProofMsg> {
    const req: Obj = { from: from.toString() };
    if (to !== undefined) req['to'] = to.toString();
    return (await this.unary<ConsistencyProofMsg>('GetConsistencyProof', req, o)).response;
  }

  async getEntry(index: bigint, o: CallOptions = {}): Promise<EntryMsg> {
    return (await this.unary<EntryMsg>('GetEntry', { index: index.toString() }, o)).response;
  }

  /** Opens an AppendStream (deadline `deadlineMs`, default 60 s). */
  appendStream(o: CallOptions = {}): grpc.ClientDuplexStream<Obj, AppendResponse> {
    const fn = (this.client as unknown as Record<string, (md: grpc.Metadata, opts: grpc.CallOptions) => grpc.ClientDuplexStream<Obj, AppendResponse>>)['AppendStream'] as (
      md: grpc.Metadata,
      opts: grpc.CallOptions,
    ) => grpc.ClientDuplexStream<Obj, AppendResponse>;
    return fn.call(this.client, callMetadata(o), { deadline: Date.now() + (o.deadlineMs ?? 60_000) });
  }

  /** Opens WatchCheckpoints (deadline `deadlineMs`, default 60 s; cancel it when done). */
  watchCheckpoints(o: CallOptions = {}): grpc.ClientReadableStream<CheckpointMsg> {
    const fn = (this.client as unknown as Record<string, (req: Obj, md: grpc.Metadata, opts: grpc.CallOptions) => grpc.ClientReadableStream<CheckpointMsg>>)['WatchCheckpoints'] as (
      req: Obj,
      md: grpc.Metadata,
      opts: grpc.CallOptions,
    ) => grpc.ClientReadableStream<CheckpointMsg>;
    return fn.call(this.client, {}, callMetadata(o), { deadline: Date.now() + (o.deadlineMs ?? 60_000) });
  }

  close(): void {
    this.client.close();
  }
}

/** Asserts that `p` rejects with a gRPC ServiceError and returns it (throws if it resolved or failed otherwise). */
export async function grpcError(p: Promise<unknown>, what = 'call'): Promise<grpc.ServiceError> {
  let v: unknown;
  try {
    v = await p;
  } catch (err) {
    const e = err as grpc.ServiceError;
    if (typeof e?.code !== 'number') throw new Error(`${what}: failed with something that is not a gRPC status: ${String(err)}`);
    return e;
  }
  throw new Error(`${what}: succeeded, want an error; got ${JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)).slice(0, 300)}`);
}

/** The name of a gRPC status code (for messages). */
export function statusName(code: number): string {
  return (grpc.status as unknown as Record<number, string>)[code] ?? String(code);
}

/** A string message of a status (for assertion messages). */
export function describeError(e: grpc.ServiceError): string {
  return `${statusName(e.code)} (${e.code}): ${e.details}`;
}

// ---- a queue over a readable stream, for bounded reads ----

/** Buffers what a stream emits, so a test can await the next message with a timeout. */
export class StreamReader<T> {
  private readonly items: T[] = [];
  private waiting: { resolve: () => void } | undefined;
  ended = false;
  error: Error | undefined;
  status: grpc.StatusObject | undefined;

  constructor(readonly stream: NodeJS.EventEmitter) {
    stream.on('data', (m: T) => {
      this.items.push(m);
      this.wake();
    });
    stream.on('end', () => {
      this.ended = true;
      this.wake();
    });
    stream.on('error', (err: Error) => {
      this.error = err;
      this.wake();
    });
    stream.on('status', (s: grpc.StatusObject) => {
      this.status = s;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.resolve();
  }

  /** Messages received and not yet taken. */
  get buffered(): number {
    return this.items.length;
  }

  /** The next message, waiting at most `timeoutMs`. Throws if the stream failed or ended first. */
  async next(timeoutMs: number, what = 'next message'): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const item = this.items.shift();
      if (item !== undefined) return item;
      if (this.error !== undefined) throw new Error(`${what}: the stream failed: ${this.error.message}`);
      if (this.ended) throw new Error(`${what}: the stream ended`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${what}: nothing within ${timeoutMs} ms`);
      await withTimeout(new Promise<void>((resolve) => (this.waiting = { resolve })), left, what).catch(() => {});
    }
  }

  /** Waits (bounded) until the stream ended or failed; returns the remaining messages. */
  async drain(timeoutMs: number, what = 'end of stream'): Promise<T[]> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended && this.error === undefined) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${what}: not ended within ${timeoutMs} ms`);
      await withTimeout(new Promise<void>((resolve) => (this.waiting = { resolve })), left, what).catch(() => {});
    }
    return this.items.splice(0);
  }
}

// ---- health ----

let healthCtor: grpc.ServiceClientConstructor | undefined;

/** `grpc.health.v1.Health/Check` for `service`: resolves with the status name (e.g. "SERVING"). */
export async function healthCheck(address: string, service: string, deadlineMs = 5_000): Promise<string> {
  healthCtor ??= lookup(grpc.loadPackageDefinition(protoLoader.loadSync(HEALTH_PROTO, { longs: String, enums: String, defaults: true })), 'grpc.health.v1.Health');
  const client = new healthCtor(address, grpc.credentials.createInsecure());
  try {
    const check = (client as unknown as Record<string, UnaryMethod>)['Check'] as UnaryMethod;
    const res = await new Promise<Obj>((resolve, reject) => {
      check.call(client, { service }, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (err, r) => (err !== null ? reject(err) : resolve(r as Obj)));
    });
    return String(res['status']);
  } finally {
    client.close();
  }
}

// ---- reflection ----

/** What one reflection exchange answered. */
export interface ReflectionAnswer {
  /** Names from `list_services`. */
  readonly services: string[];
  /** The file descriptors answering `file_containing_symbol`, decoded (FileDescriptorProto as plain objects). */
  readonly files: Obj[];
}

const reflectionCtors = new Map<string, grpc.ServiceClientConstructor>();

/**
 * Asks `grpc.reflection.<version>.ServerReflection/ServerReflectionInfo` for `list_services` and for
 * `file_containing_symbol: symbol` on one stream; decodes the returned file descriptors.
 */
export async function reflect(address: string, version: 'v1alpha' | 'v1', symbol: string, timeoutMs = 10_000): Promise<ReflectionAnswer> {
  let Ctor = reflectionCtors.get(version);
  if (Ctor === undefined) {
    const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(`grpc/reflection/${version}/reflection.proto`, { includeDirs: [REFLECTION_PROTO_DIR], longs: String, enums: String, defaults: true, oneofs: true }));
    Ctor = lookup(pkg, `grpc.reflection.${version}.ServerReflection`);
    reflectionCtors.set(version, Ctor);
  }
  const client = new Ctor(address, grpc.credentials.createInsecure());
  try {
    const open = (client as unknown as Record<string, (md: grpc.Metadata, o: grpc.CallOptions) => grpc.ClientDuplexStream<Obj, Obj>>)['ServerReflectionInfo'] as (
      md: grpc.Metadata,
      o: grpc.CallOptions,
    ) => grpc.ClientDuplexStream<Obj, Obj>;
    const call = open.call(client, new grpc.Metadata(), { deadline: Date.now() + timeoutMs });
    const reader = new StreamReader<Obj>(call);
    call.write({ host: '', listServices: '*' });
    call.write({ host: '', fileContainingSymbol: symbol });
    call.end();
    const a = await reader.next(timeoutMs, 'reflection: list_services');
    const b = await reader.next(timeoutMs, 'reflection: file_containing_symbol');
    await reader.drain(timeoutMs, 'reflection: end of stream');
    const errOf = (m: Obj) => m['errorResponse'] as Obj | null | undefined;
    for (const m of [a, b]) {
      const e = errOf(m);
      if (e !== null && e !== undefined) throw new Error(`reflection (${version}) answered an error: ${JSON.stringify(e)}`);
    }
    const list = a['listServicesResponse'] as { service: { name: string }[] } | null;
    const fdr = b['fileDescriptorResponse'] as { fileDescriptorProto: Buffer[] } | null;
    if (list === null || list === undefined) throw new Error(`reflection (${version}): no list_services_response: ${JSON.stringify(a).slice(0, 300)}`);
    if (fdr === null || fdr === undefined) throw new Error(`reflection (${version}): no file_descriptor_response: ${JSON.stringify(b).slice(0, 300)}`);
    const FileDescriptorProto = descriptorTypes().FileDescriptorProto;
    const files = fdr.fileDescriptorProto.map((bytes) => FileDescriptorProto.toObject(FileDescriptorProto.decode(bytes), { defaults: false, arrays: true }) as Obj);
    return { services: list.service.map((s) => s.name), files };
  } finally {
    client.close();
  }
}

function descriptorTypes(): { FileDescriptorProto: protobuf.Type } {
  // protobufjs's descriptor extension (CommonJS, no ESM entry).
  const require = createRequire(import.meta.url);
  return require('protobufjs/ext/descriptor') as { FileDescriptorProto: protobuf.Type };
}

// ---- raw calls (identity serializers) ----

/** A unary call whose request bytes are sent verbatim; resolves with the raw response bytes. */
export function rawUnary(address: string, path: string, body: Buffer, o: CallOptions = {}): Promise<Buffer> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const identity = (b: Buffer) => b;
  return new Promise<Buffer>((resolve, reject) => {
    client.makeUnaryRequest(path, identity, identity, body, callMetadata(o), deadline(o), (err, res) => {
      client.close();
      if (err !== null) reject(err);
      else resolve(res as Buffer);
    });
  });
}

/** A bidi stream whose request messages are sent verbatim (raw bytes both ways). */
export function rawBidi(address: string, path: string, o: CallOptions = {}): { client: grpc.Client; call: grpc.ClientDuplexStream<Buffer, Buffer> } {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const identity = (b: Buffer) => b;
  const call = client.makeBidiStreamRequest(path, identity, identity, callMetadata(o), deadline(o));
  return { client, call };
}

// ---- google.rpc.Status ----

let statusTypes: { Status: protobuf.Type; RetryInfo: protobuf.Type; ErrorInfo: protobuf.Type } | undefined;

/** Decoded `grpc-status-details-bin`. */
export interface RpcStatus {
  readonly code: number;
  readonly message: string;
  readonly details: { typeUrl: string; value: Obj }[];
}

/** Decodes a `grpc-status-details-bin` value (google.rpc.Status with ErrorInfo / RetryInfo details). */
export function decodeStatusDetails(bin: Buffer): RpcStatus {
  if (statusTypes === undefined) {
    const root = new protobuf.Root();
    // google/protobuf/{any,duration}.proto are protobufjs's bundled common types.
    root.resolvePath = (_origin, target) => (target.startsWith('google/protobuf/') ? target : join(PROTO_DIR, target));
    root.loadSync('google/rpc/status.proto');
    statusTypes = { Status: root.lookupType('google.rpc.Status'), RetryInfo: root.lookupType('google.rpc.RetryInfo'), ErrorInfo: root.lookupType('google.rpc.ErrorInfo') };
  }
  const { Status, RetryInfo, ErrorInfo } = statusTypes;
  const s = Status.toObject(Status.decode(bin), { longs: String, defaults: true, arrays: true }) as { code: number; message: string; details: { type_url?: string; typeUrl?: string; value: Uint8Array }[] };
  return {
    code: s.code,
    message: s.message,
    details: s.details.map((d) => {
      const typeUrl = d.type_url ?? d.typeUrl ?? '';
      const type = typeUrl === 'type.googleapis.com/google.rpc.RetryInfo' ? RetryInfo : typeUrl === 'type.googleapis.com/google.rpc.ErrorInfo' ? ErrorInfo : undefined;
      const value = type === undefined ? {} : (type.toObject(type.decode(d.value), { longs: String, defaults: true }) as Obj);
      return { typeUrl, value };
    }),
  };
}
