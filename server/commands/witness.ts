/**
 * `tilelog witness`: runs a C2SP tlog-witness (server/witness/) over HTTP, plus `/metrics` and `/healthz`.
 * Wiring only. The first stdout line is the JSON `listening` log line (address, witness name and cosigner vkey).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { Counter, Registry } from 'prom-client';
import { formatAddress, parseListenAddress } from '../config.js';
import { newCosigner } from '../core/cosignature.js';
import { parseKeyString } from '../core/keys.js';
import { loadOrCreateKey } from '../key-file.js';
import { createLogger } from '../logger.js';
import { createWitnessHandler } from '../witness/http.js';
import { Witness, parseKnownLog, type KnownLog } from '../witness/witness.js';

export interface WitnessCommandOptions {
  readonly data: string;
  readonly key: string | undefined;
  readonly name: string | undefined;
  readonly http: string;
  readonly logs: readonly KnownLog[];
  readonly logLevel: string;
  /** Print the cosigner vkey and exit (creating the key file if missing). */
  readonly printVkey?: boolean;
}

/** Runs the witness until SIGTERM/SIGINT. */
export async function runWitness(o: WitnessCommandOptions): Promise<void> {
  const logger = createLogger(o.logLevel);
  mkdirSync(o.data, { recursive: true });
  // The witness key is an ordinary Go note signer key file (as `tilelog keygen` writes); its seed and name make
  // the cosignature/v1 key (signature type 0x04), whose vkey differs from the file's 0x01 vkey.
  const keyPath = o.key ?? join(o.data, 'witness.key');
  const { signer } = loadOrCreateKey(keyPath, o.name, 'localhost/witness');
  const skey = readFileSync(keyPath, 'utf8').trim();
  const seed = parseKeyString(skey.slice('PRIVATE+KEY+'.length), 'witness key').keyBytes.subarray(1);
  const cosigner = newCosigner(signer.name, seed);
  if (o.printVkey === true) {
    process.stdout.write(`${cosigner.vkey}\n`);
    return;
  }
  // Merge repeated --log flags for one origin (several trusted keys, e.g. during a rotation).
  const merged = new Map<string, string[]>();
  for (const l of o.logs) merged.set(l.origin, [...(merged.get(l.origin) ?? []), ...l.vkeys]);
  const witness = await Witness.open({
    dir: join(o.data, 'leveldb'),
    cosigner,
    logs: [...merged].map(([origin, vkeys]) => ({ origin, vkeys })),
    onRejected: (e) => logger.warn({ origin: e.origin, status: e.status, reason: e.reason, request: e.body }, 'refused an inconsistent checkpoint (possible log misbehaviour)'),
  });
  const registry = new Registry();
  const requests = new Counter({ name: 'tilelog_witness_add_checkpoint_total', help: 'add-checkpoint requests by HTTP status.', labelNames: ['status'] as const, registers: [registry] });
  const handler = createWitnessHandler(witness, {
    onAddCheckpoint: (status) => requests.inc({ status: String(status) }),
    onError: (err) => logger.error({ err }, 'witness request failed'),
  });
  const server = createServer((req, res) => {
    handler(req, res, () => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' }).end('ok\n');
      } else if (path === '/metrics' && (req.method === 'GET' || req.method === 'HEAD')) {
        void registry.metrics().then((m) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(m));
      } else {
        res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
      }
    });
  });
  server.keepAliveTimeout = 65_000;
  const listen = parseListenAddress(o.http);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  logger.info({ http: formatAddress(addr.address, addr.port), name: cosigner.name, vkey: cosigner.vkey, origins: witness.origins }, 'listening');
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'shutting down');
      server.close(() => {
        void witness.close().then(resolve, (err) => {
          logger.error({ err }, 'unclean shutdown');
          process.exitCode = 1;
          resolve();
        });
      });
      server.closeIdleConnections();
      setTimeout(() => server.closeAllConnections(), 5_000).unref();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

/** The `tilelog witness` command. */
export function witnessCommand(): Command {
  return new Command('witness')
    .description('run a C2SP tlog-witness: POST /add-checkpoint and GET /<hex sha256(origin)>/checkpoint')
    .option('--data <dir>', 'data directory (LevelDB state and, by default, the key)', './witness-data')
    .option('--key <file>', 'witness private key file (Go note signer key, as `tilelog keygen` writes); created if missing (default: <data>/witness.key)')
    .option('--name <name>', 'witness name (key name) when the key file is created')
    .option('--http <host:port>', 'HTTP listen address (port 0 = any free port)', '127.0.0.1:8081')
    .option('--log <origin=vkey>', 'a log to witness: ORIGIN=VKEY, or VKEY alone when its key name is the origin (repeatable)', (v: string, prev: KnownLog[]) => {
      try {
        return [...prev, parseKnownLog(v)];
      } catch (err) {
        throw new InvalidArgumentError((err as Error).message);
      }
    }, [] as KnownLog[])
    .option('--log-level <level>', 'log level (fatal, error, warn, info, debug)', 'info')
    .option('--print-vkey', 'print the cosigner vkey (signature type 0x04) to give to logs, and exit')
    .action(async (o: { data: string; key?: string; name?: string; http: string; log: KnownLog[]; logLevel: string; printVkey?: boolean }) => {
      await runWitness({ data: o.data, key: o.key, name: o.name, http: o.http, logs: o.log, logLevel: o.logLevel, printVkey: o.printVkey === true });
    });
}
