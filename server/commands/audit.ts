/**
 * `tilelog audit`: follows logs (--log ORIGIN=URL=VKEY, repeatable, or --config FILE), verifies every checkpoint and
 * its consistency from tiles, optionally fully audits (--full), gossips with --peer auditors, and raises alarms with
 * evidence files (clients/auditor). `--once`: one round, then exit 0 (ok), 3 (alarm) or 2 (usage / network).
 *
 * `tilelog audit verify-evidence FILE --vkey VKEY`: checks an evidence file from the file alone; exit 0 when it
 * proves misbehaviour, 1 otherwise (2 for usage errors).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Command } from 'commander';
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import { Auditor, EXIT_ERROR, createAuditHandler, loadAuditConfig, mergeLogs, parseLogSpec, verifyEvidence, type AuditConfigFile, type LogConfig } from '../../clients/auditor/index.js';
import { formatAddress, parseDuration, parseListenAddress } from '../config.js';
import { createLogger } from '../logger.js';
import { newVerifier } from '../core/keys.js';
import { readText, usageExit } from './common.js';
import { openAuditWitness } from './audit-witness.js';

const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

interface AuditCliOptions {
  log?: string[];
  config?: string;
  peer?: string[];
  state: string;
  evidenceDir?: string;
  interval: string;
  timeout: string;
  /** The config file, loaded once (resolveOptions). */
  file?: AuditConfigFile;
  full?: boolean;
  once?: boolean;
  http?: string;
  alarmWebhook?: string;
  logLevel: string;
  witnessKey?: string;
}

/** Parses the options into what the auditor needs; throws (→ exit 2) on anything wrong. */
function resolveOptions(o: AuditCliOptions): { logs: LogConfig[]; peers: string[]; intervalMs: number; timeoutMs: number } {
  const fromFile = o.file ?? { logs: [], peers: [], options: {} };
  const logs = mergeLogs(fromFile.logs, (o.log ?? []).map(parseLogSpec));
  const peers = [...fromFile.peers, ...(o.peer ?? [])];
  for (const p of peers) {
    const u = new URL(p);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`--peer must be http(s): ${p}`);
  }
  if (o.alarmWebhook !== undefined) new URL(o.alarmWebhook);
  if (o.http !== undefined) parseListenAddress(o.http);
  const intervalMs = parseDuration(o.interval);
  const timeoutMs = parseDuration(o.timeout);
  if (intervalMs < 10 || timeoutMs < 10) throw new Error('--interval and --timeout must be at least 10ms');
  return { logs, peers, intervalMs, timeoutMs };
}

/** Progress bars on a terminal (stderr) for --full; undefined otherwise. */
function progressBars(): { update: (origin: string, n: bigint, N: bigint) => void; stop: () => void } | undefined {
  if (process.stderr.isTTY !== true) return undefined;
  const multi = new MultiBar({ stream: process.stderr, format: '{origin} [{bar}] {percentage}% {value}/{total} entries, {eta_formatted} left', hideCursor: true, clearOnComplete: false }, Presets.shades_classic);
  const bars = new Map<string, SingleBar>();
  return {
    update: (origin, n, N) => {
      let b = bars.get(origin);
      if (b === undefined) {
        b = multi.create(Number(N), Number(n), { origin });
        bars.set(origin, b);
      }
      b.setTotal(Number(N));
      b.update(Number(n), { origin });
    },
    stop: () => multi.stop(),
  };
}

/** Defaults of the options a config file may set (commander gets none, so that a file value is not overridden). */
const DEFAULTS = { state: './audit-state', interval: '10s', timeout: '10s', logLevel: 'info' } as const;

async function runAudit(cli: Partial<AuditCliOptions>): Promise<void> {
  let resolved: ReturnType<typeof resolveOptions>;
  let o: AuditCliOptions;
  try {
    // Flags win over the config file, which wins over the defaults.
    const file = cli.config === undefined ? undefined : loadAuditConfig(cli.config);
    const given = Object.fromEntries(Object.entries(cli).filter(([, v]) => v !== undefined));
    o = { ...DEFAULTS, ...file?.options, ...given, ...(file !== undefined ? { file } : {}) } as AuditCliOptions;
    resolved = resolveOptions(o);
  } catch (err) {
    process.stderr.write(`tilelog audit: ${(err as Error).message}\n`);
    process.exitCode = EXIT_ERROR;
    return;
  }
  const logger = createLogger(o.logLevel);
  const bars = o.full === true ? progressBars() : undefined;
  if (o.witnessKey !== undefined && o.http === undefined) {
    process.stderr.write('tilelog audit: --witness-key needs --http (the witness endpoints are served there)\n');
    process.exitCode = EXIT_ERROR;
    return;
  }
  let witness: Awaited<ReturnType<typeof openAuditWitness>> | undefined;
  let auditor: Auditor;
  try {
    witness = o.witnessKey === undefined ? undefined : await openAuditWitness(o.witnessKey, o.state, resolved.logs, logger);
    auditor = await Auditor.open({
      logs: resolved.logs,
      peers: resolved.peers,
      stateDir: o.state,
      evidenceDir: o.evidenceDir ?? join(o.state, 'evidence'),
      ...(o.alarmWebhook !== undefined ? { webhook: o.alarmWebhook } : {}),
      full: o.full === true,
      intervalMs: resolved.intervalMs,
      timeoutMs: resolved.timeoutMs,
      logger,
      ...(bars !== undefined ? { onFullProgress: bars.update } : {}),
      ...(witness !== undefined ? { onVerified: witness.onVerified } : {}),
    });
  } catch (err) {
    // State locked by another process, unreadable key, a stored checkpoint that no longer verifies with --log's key…
    process.stderr.write(`tilelog audit: cannot start: ${(err as Error).message}\n`);
    await witness?.witness.close();
    process.exitCode = EXIT_ERROR;
    return;
  }
  let server: Server | undefined;
  if (o.http !== undefined) {
    const listen = parseListenAddress(o.http);
    server = createServer(createAuditHandler(auditor, { logger, ...(witness !== undefined ? { cosigned: witness.cosigned, extra: witness.handler } : {}) }));
    const s = server;
    try {
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(listen.port, listen.host, () => resolve());
      });
    } catch (err) {
      process.stderr.write(`tilelog audit: cannot listen on ${o.http}: ${(err as Error).message}\n`);
      await auditor.close();
      await witness?.witness.close();
      process.exitCode = EXIT_ERROR;
      return;
    }
    const addr = s.address() as AddressInfo;
    logger.info({ http: formatAddress(addr.address, addr.port), origins: resolved.logs.map((l) => l.origin), peers: auditor.peers, ...(witness !== undefined ? { witness: witness.witness.cosigner.name, witnessVkey: witness.witness.vkey } : {}) }, 'listening');
  }
  const ac = new AbortController();
  const stop = (signal: string) => {
    logger.info({ signal }, 'shutting down');
    ac.abort();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  try {
    if (o.once === true) process.exitCode = await auditor.once();
    else await auditor.run(ac.signal);
  } finally {
    bars?.stop();
    if (server !== undefined) {
      const s = server;
      const closed = new Promise<void>((r) => s.close(() => r()));
      s.closeAllConnections();
      await closed;
    }
    await auditor.close();
    await witness?.witness.close();
  }
  logger.info({ alarms: auditor.alarms.raised, errors: auditor.errors }, 'stopped');
}

/** `tilelog audit verify-evidence FILE --vkey VKEY`. */
function verifyEvidenceCommand(): Command {
  const cmd = new Command('verify-evidence')
    .description('check an evidence file from the file alone: exit 0 if it proves the log misbehaved, 1 if not, 2 usage')
    .argument('<file>', 'the evidence JSON written by tilelog audit')
    .requiredOption('--vkey <vkey>', "the log's verifier key");
  usageExit(cmd);
  return cmd.action((file: string, o: { vkey: string }) => {
    try {
      newVerifier(o.vkey);
    } catch (err) {
      process.stderr.write(`tilelog: error: --vkey: ${(err as Error).message}\n`);
      process.exitCode = EXIT_ERROR;
      return;
    }
    let text: string;
    try {
      text = readText(file, 'evidence');
    } catch (err) {
      process.stderr.write(`tilelog: error: ${(err as Error).message}\n`);
      process.exitCode = EXIT_ERROR;
      return;
    }
    const v = verifyEvidence(text, o.vkey);
    process.stdout.write(`${v.proven ? 'PROVEN' : 'NOT PROVEN'}: ${v.verdict}\n`);
    process.exitCode = v.proven ? 0 : 1;
  });
}

/** The `audit` command (with its `verify-evidence` subcommand). */
export function auditCommand(): Command {
  const cmd = new Command('audit')
    .description('follow logs: verify checkpoints and consistency from tiles, --full rebuilds every tree, gossip with peers, alarm on split views and rollbacks')
    .option('--log <origin=url=vkey>', 'a log to follow (repeatable)', collect)
    .option('--config <file>', 'YAML file with a logs: list (origin, url, vkey), optional peers:, and any option below in camelCase (state, interval, http, …); flags win')
    .option('--peer <url>', 'another auditor to gossip with (repeatable)', collect)
    .option('--state <dir>', 'state directory (LevelDB in <dir>/leveldb, the witness in <dir>/witness) (default: ./audit-state)')
    .option('--evidence-dir <dir>', 'where evidence files are written (default: <state>/evidence)')
    .option('--interval <duration>', 'poll and gossip interval (default: 10s)')
    .option('--timeout <duration>', 'per-request timeout (default: 10s)')
    .option('--full', 'rebuild each tree from entry bundles and tiles (resumable), then keep auditing new entries')
    .option('--once', 'one round over every log and peer, then exit (0 ok, 3 alarm, 2 error)')
    .option('--http <host:port>', 'serve /metrics, /healthz, the gossip endpoints (port 0 = any free port)')
    .option('--alarm-webhook <url>', 'POST every evidence document here')
    .option('--log-level <level>', 'log level (fatal, error, warn, info, debug) (default: info)')
    .option('--witness-key <file>', 'also act as a C2SP tlog-witness with this key (Go note signer key file; created if missing): POST /add-checkpoint on --http, cosigns every verified checkpoint');
  usageExit(cmd);
  cmd.addCommand(verifyEvidenceCommand());
  return cmd.action(async (o: Partial<AuditCliOptions>) => {
    await runAudit(o);
  });
}
