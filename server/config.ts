/** Parsing of command-line values: durations, sizes, listen addresses (strict, with messages that say what to type). */
import type { AddressInfo, Server as NetServer } from 'node:net';

/** Parses `250ms`, `1s`, `1.5s`, `2m` or a bare number of milliseconds. */
export function parseDuration(s: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m)?$/.exec(s.trim());
  if (m === null) throw new Error(`invalid duration ${JSON.stringify(s)}: use e.g. 250ms, 1s, 2m`);
  const n = Number(m[1]);
  const ms = m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n;
  if (!Number.isFinite(ms) || ms < 0 || ms > 24 * 3600_000) throw new Error(`duration out of range: ${s}`);
  return ms;
}

/** Parses a byte size: `65536`, `64KiB`, `32MiB`, `1GiB`. */
export function parseBytes(s: string): number {
  const m = /^([0-9]+)(B|KiB|MiB|GiB)?$/.exec(s.trim());
  if (m === null) throw new Error(`invalid size ${JSON.stringify(s)}: use e.g. 65536, 64KiB, 32MiB`);
  const mult = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 }[(m[2] ?? 'B') as 'B' | 'KiB' | 'MiB' | 'GiB'];
  return Number(m[1]) * mult;
}

/** Parses a positive integer option. */
export function parsePositiveInt(s: string): number {
  if (!/^[1-9][0-9]{0,8}$/.test(s)) throw new Error(`invalid number ${JSON.stringify(s)}: want a positive integer`);
  return Number(s);
}

/** A listen address. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** Parses `HOST:PORT` or `[V6]:PORT` (port 0 = any free port). */
export function parseListenAddress(s: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(s);
  if (m === null) throw new Error(`invalid address ${JSON.stringify(s)}: use HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:0`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`invalid port in ${s}`);
  return { host: (m[1] ?? m[2]) as string, port };
}

/** Formats a bound address as HOST:PORT ([V6]:PORT). */
export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Starts `server` listening on `at` (port 0 or undefined = any free port); resolves with the bound address as
 * HOST:PORT once bound, rejects on a listen error (EADDRINUSE, EACCES …).
 */
export async function listenOn(server: NetServer, at: { readonly host?: string | undefined; readonly port?: number | undefined }): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  return formatAddress(a.address, a.port);
}
