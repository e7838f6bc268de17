/**
 * `tilelog collect`: the collector (clients/collector/, docs/collector.md). Configuration from `--config FILE`
 * (YAML, `${VAR}` expanded), overridden by flags and `TILELOG_COLLECTOR_*` environment variables for the common
 * settings. The first stdout line is a JSON log line with msg `listening` naming the bound addresses.
 *
 * Exit codes: 0 ok; 1 configuration or start-up error; 3 (`--once`) a receipt alarm was raised.
 */
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { Collector, EXIT_OK, EXIT_RECEIPT_ALARM } from '../../clients/collector/collector.js';
import { buildConfig, ConfigError, expandEnv, parseConfigText } from '../../clients/collector/config.js';
import { makeInput } from '../../clients/collector/inputs/factory.js';
import { createLogger } from '../logger.js';

type Obj = Record<string, unknown>;

/** Deep merge: `b` wins key by key; arrays are replaced, except `inputs`, which are appended. */
export function mergeDocs(a: Obj, b: Obj): Obj {
  const out: Obj = { ...a };
  for (const [k, v] of Object.entries(b)) {
    if (v === undefined) continue;
    const prev = out[k];
    if (k === 'inputs' && Array.isArray(prev) && Array.isArray(v)) out[k] = [...prev, ...v];
    else if (typeof v === 'object' && v !== null && !Array.isArray(v) && typeof prev === 'object' && prev !== null && !Array.isArray(prev)) out[k] = mergeDocs(prev as Obj, v as Obj);
    else out[k] = v;
  }
  return out;
}

/** The configuration document given by flags (and their environment variables). */
function flagsDoc(o: Obj): Obj {
  const log: Obj = {};
  if (o['logUrl'] !== undefined) log['url'] = o['logUrl'];
  if (o['grpc'] !== undefined) log['grpc'] = o['grpc'];
  if (o['transport'] !== undefined) log['transport'] = o['transport'];
  if (o['vkey'] !== undefined) log['vkey'] = o['vkey'];
  if (o['origin'] !== undefined) log['origin'] = o['origin'];
  if (o['tokenFile'] !== undefined) log['tokenFile'] = o['tokenFile'];
  if (o['receipts'] === false) log['receipts'] = false;
  const doc: Obj = {};
  if (Object.keys(log).length > 0) doc['log'] = log;
  if (o['name'] !== undefined) doc['name'] = o['name'];
  if (o['node'] !== undefined) doc['node'] = o['node'];
  if (o['spool'] !== undefined || o['spoolMaxBytes'] !== undefined) doc['spool'] = { ...(o['spool'] !== undefined ? { dir: o['spool'] } : {}), ...(o['spoolMaxBytes'] !== undefined ? { maxBytes: o['spoolMaxBytes'] } : {}) };
  if (o['key'] !== undefined) doc['signing'] = { keyFile: o['key'] };
  else if (typeof process.env['TILELOG_COLLECTOR_KEY_PEM'] === 'string') doc['signing'] = { keyPem: process.env['TILELOG_COLLECTOR_KEY_PEM'] };
  if (o['metrics'] !== undefined) doc['metrics'] = o['metrics'];
  const batch: Obj = {};
  if (o['batchSize'] !== undefined) batch['maxRecords'] = Number(o['batchSize']);
  if (o['batchDelay'] !== undefined) batch['delay'] = o['batchDelay'];
  if (Object.keys(batch).length > 0) doc['batch'] = batch;
  if (o['receiptInterval'] !== undefined) doc['receiptInterval'] = o['receiptInterval'];
  if (o['once'] === true) doc['once'] = true;
  if (o['logLevel'] !== undefined) doc['logLevel'] = o['logLevel'];
  const inputs: Obj[] = [];
  const files = o['file'] as string[];
  if (files.length > 0) inputs.push({ type: 'file', name: 'files', paths: files, cri: o['cri'] === true, format: o['format'] ?? 'auto' });
  const audit = o['auditLog'] as string[];
  if (audit.length > 0) inputs.push({ type: 'audit-log', name: 'audit-log', paths: audit });
  if (o['stdin'] === true) inputs.push({ type: 'stdin', name: 'stdin', cri: o['cri'] === true, format: o['format'] ?? 'auto' });
  if (o['auditWebhook'] !== undefined) inputs.push({ type: 'audit-webhook', name: 'audit-webhook', listen: o['auditWebhook'] });
  if (inputs.length > 0) doc['inputs'] = inputs;
  return doc;
}

const env = (flag: Option, name: string) => flag.env(`TILELOG_COLLECTOR_${name}`);

/** The `collect` command. */
export function collectCommand(): Command {
  return new Command('collect')
    .description('collect ingress access logs and audit events: spool durably, submit to the log, sign batches at the source, check receipts')
    .option('--config <file>', 'YAML configuration file (deploy/config/collector.example.yaml documents every key)')
    .addOption(env(new Option('--name <name>', 'collector name, in every entry (default: host name)'), 'NAME'))
    .addOption(new Option('--node <name>', 'node name, in attestations').env('NODE_NAME'))
    .addOption(env(new Option('--log-url <url>', "the log's HTTP base URL"), 'LOG_URL'))
    .addOption(env(new Option('--grpc <host:port>', "the log's gRPC address (submission over AppendStream)"), 'GRPC'))
    .addOption(env(new Option('--transport <t>', 'grpc or http (default: grpc when --grpc is given)').choices(['grpc', 'http']), 'TRANSPORT'))
    .addOption(env(new Option('--vkey <vkey>', "the log's verifier key (checks checkpoints and receipts)"), 'VKEY'))
    .option('--origin <origin>', "the log's origin (default: the vkey's name)")
    .addOption(env(new Option('--token-file <file>', 'bearer token file (a projected service-account token), re-read when it changes'), 'TOKEN_FILE'))
    .option('--no-receipts', 'do not check receipts (no vkey needed)')
    .addOption(env(new Option('--spool <dir>', 'spool directory (LevelDB, bundles, alarm evidence)'), 'SPOOL'))
    .addOption(env(new Option('--spool-max-bytes <size>', 'spooled bytes above which inputs pause (e.g. 256MiB)'), 'SPOOL_MAX_BYTES'))
    .addOption(env(new Option('--key <file>', 'signing key (PEM, Ed25519 or P-256); or TILELOG_COLLECTOR_KEY_PEM'), 'KEY'))
    .addOption(env(new Option('--metrics <host:port>', 'serve /metrics and /healthz here'), 'METRICS'))
    .option('--file <glob>', 'tail files matching this glob (repeatable); input "files"', (v: string, p: string[]) => [...p, v], [] as string[])
    .option('--audit-log <glob>', 'tail kube-apiserver audit log files (repeatable); input "audit-log"', (v: string, p: string[]) => [...p, v], [] as string[])
    .option('--stdin', 'read records from standard input; input "stdin"')
    .option('--cri', 'the --file/--stdin lines are in the CRI format (/var/log/containers)')
    .option('--format <format>', 'record format of --file/--stdin (auto, ingress-nginx, ingress-nginx-json, traefik, traefik-json, envoy, k8s-audit, raw)')
    .option('--audit-webhook <host:port>', 'receive the kube-apiserver audit webhook here; input "audit-webhook"')
    .option('--batch-size <n>', 'most records per submitted batch')
    .option('--batch-delay <duration>', 'how long a partial batch waits (e.g. 50ms)')
    .option('--receipt-interval <duration>', 'how often to attest batches and check receipts (e.g. 1s)')
    .option('--once', 'drain the inputs, wait for every receipt, then exit (0, or 3 on a receipt alarm)')
    .addOption(env(new Option('--log-level <level>', 'fatal, error, warn, info, debug'), 'LOG_LEVEL'))
    .action(async (o: Obj) => {
      let config;
      try {
        const file = o['config'] as string | undefined;
        const fileDoc = file === undefined ? {} : (expandEnv(parseConfigText(readFileSync(file, 'utf8'), file), process.env) as Obj);
        config = buildConfig(mergeDocs(fileDoc, flagsDoc(o)));
      } catch (err) {
        if (err instanceof ConfigError) throw new Error(`collect: ${err.message}`);
        throw err;
      }
      const logger = createLogger(config.logLevel);
      const collector = new Collector(config, logger, makeInput);
      await collector.start();
      logger.info({ name: config.name, origin: config.log.origin, transport: config.log.transport, ...collector.addresses }, 'listening');
      collector.run();
      let stopping = false;
      const stop = async (why: string, code: number) => {
        if (stopping) return;
        stopping = true;
        logger.info({ why }, 'stopping');
        await collector.stop();
        process.exit(code);
      };
      process.once('SIGTERM', () => void stop('SIGTERM', EXIT_OK));
      process.once('SIGINT', () => void stop('SIGINT', EXIT_OK));
      if (!config.once) return;
      const bar = process.stderr.isTTY ? new SingleBar({ format: 'collect [{bar}] {value} read | {spooled} spooled | {pending} batches pending receipt', stream: process.stderr, hideCursor: true }, Presets.shades_classic) : undefined;
      bar?.start(0, 0, { spooled: 0, pending: 0 });
      await collector.drain((p) => {
        bar?.setTotal(Math.max(p.read, 1));
        bar?.update(p.read - p.spooled, { spooled: p.spooled, pending: p.pendingBatches });
      });
      bar?.stop();
      const alarms = collector.status.alarms;
      logger.info({ alarms }, 'drained');
      await stop('drained', alarms > 0 ? EXIT_RECEIPT_ALARM : EXIT_OK);
    });
}
