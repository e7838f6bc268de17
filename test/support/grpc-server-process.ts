/**
 * End-to-end helper on top of {@link ServerProcess}: starts the real server with `--grpc 127.0.0.1:0` (and any other
 * flags), and reads the gRPC address from the `listening` line (`"grpc":"127.0.0.1:PORT"`), which the base helper
 * does not parse. Also: the resident set size of a process (/proc/<pid>/status VmRSS), and bounded polling.
 *
 * Every process started here is registered with the base helper, so its {@link cleanupAll} kills it.
 */
import { readFileSync } from 'node:fs';
import { ServerProcess, sleep, type AfterHook, type ServerOptions, cleanupAll } from './server-process.js';

/** A server process with its gRPC address. */
export interface GrpcServerProcess {
  readonly proc: ServerProcess;
  /** `127.0.0.1:PORT` of the gRPC server. */
  readonly grpc: string;
  /** `http://127.0.0.1:PORT`. */
  readonly baseUrl: string;
  readonly vkey: string;
  readonly origin: string;
  /** The parsed `listening` line. */
  readonly listening: Readonly<Record<string, unknown>>;
}

/** Options of {@link startGrpcServer}: those of the base helper, plus `grpc: false` to start without gRPC. */
export interface GrpcServerOptions extends ServerOptions {
  readonly grpc?: boolean;
}

/**
 * Starts `tilelog serve --grpc 127.0.0.1:0 …` and resolves once it listens. Throws if the listening line lacks a
 * well-formed `grpc` address (127.0.0.1 and a real port).
 */
export async function startGrpcServer(opts: GrpcServerOptions = {}, hook?: AfterHook): Promise<GrpcServerProcess> {
  if (hook !== undefined) hook.after(cleanupAll);
  const { grpc: withGrpc = true, ...base } = opts;
  const proc = await ServerProcess.start({ ...base, extraArgs: [...(withGrpc ? ['--grpc', '127.0.0.1:0'] : []), ...(base.extraArgs ?? [])] });
  const listening = proc.logRecords().find((r) => r['msg'] === 'listening');
  if (listening === undefined) {
    await proc.kill();
    throw new Error(`no listening record\n${proc.describe()}`);
  }
  const grpc = listening['grpc'];
  if (withGrpc && (typeof grpc !== 'string' || !/^127\.0\.0\.1:[1-9][0-9]*$/.test(grpc))) {
    await proc.kill();
    throw new Error(`listening line: bad "grpc": ${JSON.stringify(listening)}`);
  }
  return { proc, grpc: typeof grpc === 'string' ? grpc : '', baseUrl: proc.baseUrl, vkey: proc.vkey, origin: proc.origin, listening };
}

/** Resident set size of process `pid` in bytes (VmRSS of /proc/<pid>/status). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+([0-9]+) kB$/m.exec(status);
  if (m === null) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/**
 * Calls `fn` every `intervalMs` until it returns a value other than undefined, or throws after `timeoutMs` with
 * `what` (and the last error `fn` threw, if any).
 */
export async function pollUntil<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined> | T | undefined, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
      lastErr = undefined;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}${lastErr === undefined ? '' : ` (last error: ${(lastErr as Error).message})`}`);
    await sleep(intervalMs);
  }
}
