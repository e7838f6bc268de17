/**
 * server/config-file.ts: `--config FILE` (YAML, camelCase option names), TILELOG_* environment variables,
 * precedence flags > env > file > defaults, every value through the option's own parser, errors naming the option
 * and its source, unknown keys refused. Also checks the real `tilelog serve` and deploy/config/example.yaml.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parse } from 'yaml';
import { ConfigError, envName, withConfigFile } from '../../server/config-file.js';
import { parseDuration, parsePositiveInt } from '../../server/config.js';
import { REPO_ROOT, TILELOG_BIN } from '../support/server-process.js';

const dir = mkdtempSync(join(tmpdir(), 'tilelog-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function yamlFile(text: string): string {
  const f = join(dir, `c${n++}.yaml`);
  writeFileSync(f, text);
  return f;
}

function wrap<T>(p: (s: string) => T): (s: string) => T {
  return (s) => {
    try {
      return p(s);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };
}

/** A command shaped like `serve`, parsed with `args` and `env`; returns its option values. */
async function run(args: string[], env: Record<string, string> = {}): Promise<Record<string, unknown>> {
  let got: Record<string, unknown> = {};
  const cmd = withConfigFile(new Command('demo'), env)
    .exitOverride()
    .configureOutput({ writeErr: () => {}, writeOut: () => {} })
    .option('--data <dir>', 'data', './data')
    .requiredOption('--origin <name>', 'origin')
    .option('--checkpoint-interval <duration>', 'interval', wrap(parseDuration), 1000)
    .option('--batch-size <n>', 'batch', wrap(parsePositiveInt), 1000)
    .option('--auth-subject <sub>', 'subject', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--read-auth', 'flag')
    .addOption(new Option('--log-level <level>', 'level').choices(['info', 'debug']).default('info'))
    .action((o: Record<string, unknown>) => {
      got = o;
    });
  await cmd.parseAsync(args, { from: 'user' });
  return got;
}

async function failure(args: string[], env: Record<string, string> = {}): Promise<string> {
  try {
    await run(args, env);
  } catch (err) {
    return (err as Error).message;
  }
  assert.fail(`expected ${JSON.stringify(args)} ${JSON.stringify(env)} to fail`);
}

describe('config file and environment', () => {
  test('envName: camelCase attribute → TILELOG_UPPER_SNAKE', () => {
    assert.equal(envName('checkpointInterval'), 'TILELOG_CHECKPOINT_INTERVAL');
    assert.equal(envName('data'), 'TILELOG_DATA');
    assert.equal(envName('leveldbOpenFiles'), 'TILELOG_LEVELDB_OPEN_FILES');
  });

  test('defaults when there is no file and no environment', async () => {
    const o = await run(['--origin', 'o']);
    assert.equal(o['checkpointInterval'], 1000);
    assert.deepEqual(o['authSubject'], []);
    assert.equal(o['readAuth'], undefined);
    assert.equal(o['data'], './data');
  });

  test('file values go through the option parsers; a required option can come from the file', async () => {
    const f = yamlFile('origin: example.com/log\ncheckpointInterval: 2s\nbatchSize: 500\nauthSubject: [a, b]\nreadAuth: true\nlogLevel: debug\n');
    const o = await run(['--config', f]);
    assert.equal(o['origin'], 'example.com/log');
    assert.equal(o['checkpointInterval'], 2000);
    assert.equal(o['batchSize'], 500);
    assert.deepEqual(o['authSubject'], ['a', 'b']);
    assert.equal(o['readAuth'], true);
    assert.equal(o['logLevel'], 'debug');
  });

  test('precedence: flags > environment > file > defaults (lists replaced, not merged)', async () => {
    const f = yamlFile('origin: file\ncheckpointInterval: 2s\nbatchSize: 500\nauthSubject: [a, b]\ndata: /file\n');
    const env = { TILELOG_CHECKPOINT_INTERVAL: '3s', TILELOG_BATCH_SIZE: '7', TILELOG_AUTH_SUBJECT: 'c, d', TILELOG_ORIGIN: 'env' };
    const o = await run(['--config', f, '--batch-size', '9', '--auth-subject', 'x'], env);
    assert.equal(o['checkpointInterval'], 3000, 'env over file');
    assert.equal(o['batchSize'], 9, 'flag over env');
    assert.deepEqual(o['authSubject'], ['x'], 'flag list replaces');
    assert.equal(o['origin'], 'env');
    assert.equal(o['data'], '/file', 'file over default');
    const o2 = await run(['--config', f], env);
    assert.deepEqual(o2['authSubject'], ['c', 'd'], 'env list (comma-separated) replaces the file list');
  });

  test('TILELOG_CONFIG names the file; boolean flags from the environment', async () => {
    const f = yamlFile('origin: from-env-file\n');
    const o = await run([], { TILELOG_CONFIG: f, TILELOG_READ_AUTH: 'true' });
    assert.equal(o['origin'], 'from-env-file');
    assert.equal(o['readAuth'], true);
    assert.equal((await run(['--origin', 'o'], { TILELOG_READ_AUTH: '0' }))['readAuth'], false);
  });

  test('an empty file is an empty configuration', async () => {
    assert.equal((await run(['--config', yamlFile(''), '--origin', 'o']))['batchSize'], 1000);
  });

  test('an invalid file value fails naming the option, the file and the key', async () => {
    const f = yamlFile('origin: o\ncheckpointInterval: soon\n');
    const msg = await failure(['--config', f]);
    assert.match(msg, /--checkpoint-interval/);
    assert.match(msg, /key checkpointInterval/);
    assert.ok(msg.includes(f), msg);
    assert.match(msg, /invalid duration "soon"/);
  });

  test('an invalid environment value fails naming the variable', async () => {
    const msg = await failure(['--origin', 'o'], { TILELOG_BATCH_SIZE: '-3' });
    assert.match(msg, /--batch-size/);
    assert.match(msg, /environment variable TILELOG_BATCH_SIZE/);
  });

  test('choices are enforced for file values', async () => {
    const msg = await failure(['--config', yamlFile('origin: o\nlogLevel: loud\n')]);
    assert.match(msg, /--log-level/);
    assert.match(msg, /key logLevel/);
  });

  test('wrong shapes fail: a list for a single value, a string for a flag, YAML 1.1 "yes"', async () => {
    assert.match(await failure(['--config', yamlFile('origin: [a, b]\n')]), /--origin.*want a single value/);
    assert.match(await failure(['--config', yamlFile('origin: o\nreadAuth: yes\n')]), /--read-auth.*want true or false/);
    assert.match(await failure(['--origin', 'o'], { TILELOG_READ_AUTH: 'maybe' }), /TILELOG_READ_AUTH/);
  });

  test('unknown keys fail naming the key (with a camelCase hint for kebab-case keys)', async () => {
    const msg = await failure(['--config', yamlFile('origin: o\ncheckpointIntervall: 1s\n')]);
    assert.match(msg, /unknown key "checkpointIntervall"/);
    const kebab = await failure(['--config', yamlFile('origin: o\ncheckpoint-interval: 1s\n')]);
    assert.match(kebab, /camelCase: checkpointInterval/);
    assert.match(await failure(['--config', yamlFile('config: other.yaml\n')]), /unknown key "config"/);
  });

  test('not a mapping, invalid YAML, duplicate keys and a missing file fail naming the file', async () => {
    assert.match(await failure(['--config', yamlFile('- a\n- b\n')]), /want a mapping/);
    assert.match(await failure(['--config', yamlFile('origin: [\n')]), /not valid YAML/);
    assert.match(await failure(['--config', yamlFile('origin: a\norigin: b\n')]), /not valid YAML/);
    assert.match(await failure(['--config', join(dir, 'missing.yaml')]), /cannot read config file/);
  });

  test('errors are ConfigError instances', async () => {
    try {
      await run(['--origin', 'o'], { TILELOG_BATCH_SIZE: 'x' });
      assert.fail('expected an error');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
    }
  });

  test('a missing required option is still reported when no source gives it', async () => {
    assert.match(await failure([]), /required option '--origin/);
  });
});

describe('tilelog serve with --config', () => {
  function serve(args: string[], env: Record<string, string> = {}) {
    return spawnSync(process.execPath, [TILELOG_BIN, 'serve', ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 20_000, env: { ...process.env, ...env } });
  }

  test('an invalid value fails at start (exit 1) naming the option and its source', () => {
    const r = serve(['--config', yamlFile('data: /nonexistent\ncheckpointInterval: 5 minutes\n')]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /--checkpoint-interval \(from config file .*, key checkpointInterval\)/);
    const r2 = serve(['--data', join(dir, 'd')], { TILELOG_HTTP: 'localhost' });
    assert.equal(r2.status, 1, r2.stderr);
    assert.match(r2.stderr, /--http \(from environment variable TILELOG_HTTP\)/);
    const r3 = serve(['--config', yamlFile('data: /nonexistent\nlogLevel: chatty\n')]);
    assert.equal(r3.status, 1, r3.stderr);
    assert.match(r3.stderr, /--log-level/);
    const r4 = serve(['--config', yamlFile('data: /nonexistent\nbogus: 1\n')]);
    assert.equal(r4.status, 1, r4.stderr);
    assert.match(r4.stderr, /unknown key "bogus"/);
  });

  test('deploy/config/example.yaml: valid, and it documents every serve option (set or commented out)', () => {
    const text = readFileSync(join(REPO_ROOT, 'deploy/config/example.yaml'), 'utf8');
    const help = serve(['--help']);
    assert.equal(help.status, 0, help.stderr);
    const flags = [...help.stdout.matchAll(/--([a-z][a-z0-9-]*)/g)].map((m) => m[1] as string).filter((f) => f !== 'help' && f !== 'config');
    assert.ok(flags.length >= 20, help.stdout);
    for (const flag of new Set(flags)) {
      const key = flag.replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
      assert.match(text, new RegExp(`^(# )?${key}:`, 'm'), `example.yaml does not mention ${key} (--${flag})`);
    }
    const values = parse(text) as Record<string, unknown>;
    for (const key of Object.keys(values)) assert.ok(flags.map((f) => f.replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase())).includes(key), `unknown key ${key}`);
  });
});
