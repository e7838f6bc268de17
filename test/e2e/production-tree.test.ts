/**
 * The container's production tree without a Docker engine: the final stage of deploy/Dockerfile is replayed in a
 * temporary directory (its COPY lines: build output from this checkout, node_modules from `npm ci --omit=dev
 * --ignore-scripts`, which works from the npm cache), then `tilelog serve` runs from it with the image's
 * environment, serves /checkpoint and gRPC, and writes nothing inside the tree (read-only root filesystem).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { parseDockerfile, parseKeyValues, type Stage } from '../support/dockerfile.js';
import { REPO_ROOT, withTimeout } from '../support/server-process.js';

const root = mkdtempSync(join(tmpdir(), 'tilelog-image-'));
const app = join(root, 'app');
after(() => rmSync(root, { recursive: true, force: true }));

function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(`${relative(dir, p)} ${statSync(p).mtimeMs}`);
    }
  };
  walk(dir);
  return out.sort();
}

test('the Dockerfile final stage, replayed in a temp dir, runs tilelog serve', { timeout: 240_000 }, async () => {
  const { stages } = parseDockerfile(join(REPO_ROOT, 'deploy', 'Dockerfile'));
  const final = stages[stages.length - 1] as Stage;
  mkdirSync(app, { recursive: true });
  for (const c of final.instructions.filter((i) => i.op === 'COPY')) {
    const parts = c.args.split(/\s+/);
    const from = /^--from=(\S+)$/.exec(parts[0] as string)?.[1];
    const [src, dest] = (from !== undefined ? parts.slice(1) : parts) as [string, string];
    const target = dest.endsWith('/') ? join(app, dest, src.split('/').at(-1) as string) : join(app, dest);
    if (from === 'deps' && dest === './node_modules') {
      // The deps stage: production dependencies only, scripts off (the package's `prepare` runs tsc, a devDependency).
      const deps = byName(stages, 'deps');
      const install = deps.instructions.filter((i) => i.op === 'RUN').map((i) => i.args).find((r) => r.startsWith('npm ci')) as string;
      const work = join(root, 'deps');
      mkdirSync(work);
      cpSync(join(REPO_ROOT, 'package.json'), join(work, 'package.json'));
      cpSync(join(REPO_ROOT, 'package-lock.json'), join(work, 'package-lock.json'));
      const r = spawnSync('npm', [...install.split(/\s+/).slice(1), '--prefer-offline'], { cwd: work, encoding: 'utf8', timeout: 180_000 });
      assert.equal(r.status, 0, `${install}\n${r.stdout}\n${r.stderr}`);
      assert.ok(!existsSync(join(work, 'node_modules', 'typescript')), 'no devDependencies');
      // Without --ignore-scripts, npm would run the package's `prepare`: it must succeed without TypeScript.
      mkdirSync(join(work, 'scripts'));
      cpSync(join(REPO_ROOT, 'scripts', 'prepare.js'), join(work, 'scripts', 'prepare.js'));
      const prepare = spawnSync(process.execPath, [join(work, 'scripts', 'prepare.js')], { cwd: work, encoding: 'utf8', timeout: 30_000 });
      assert.equal(prepare.status, 0, prepare.stderr);
      assert.match(prepare.stderr, /TypeScript is not installed/);
      cpSync(join(work, 'node_modules'), target, { recursive: true, verbatimSymlinks: true });
    } else if (from === 'build') {
      cpSync(join(REPO_ROOT, src.replace(/^\/src\//, '')), target, { recursive: true });
    } else {
      assert.equal(from, undefined, `unknown stage ${from}`);
      cpSync(join(REPO_ROOT, src), target, { recursive: true });
    }
  }
  const env = parseKeyValues(final.instructions.filter((i) => i.op === 'ENV').map((i) => i.args).join(' '));
  const before = listTree(app);
  const data = join(root, 'data');
  const child = spawn(process.execPath, [join(app, 'bin', 'tilelog.js'), 'serve', '--data', data, '--http', '127.0.0.1:0', '--grpc', '127.0.0.1:0'], {
    cwd: app,
    env: { PATH: process.env['PATH'] ?? '', HOME: join(root, 'home-does-not-exist'), ...Object.fromEntries(env) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const closed = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    const line = await withTimeout(
      new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout }).once('line', resolve);
        void closed.then((code) => reject(new Error(`exited ${code}: ${stderr}`)));
      }),
      30_000,
      'the listening line',
    );
    const info = JSON.parse(line) as { msg: string; http: string; grpc: string; origin: string };
    assert.equal(info.msg, 'listening', line);
    assert.match(info.grpc, /^127\.0\.0\.1:\d+$/, 'gRPC (protos loaded from the tree)');
    const r = await fetch(`http://${info.http}/checkpoint`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(r.status, 200);
    assert.ok((await r.text()).startsWith(`${info.origin}\n0\n`));
    const post = await fetch(`http://${info.http}/v1/entries?wait=published`, { method: 'POST', body: 'hello', headers: { 'content-type': 'application/octet-stream' }, signal: AbortSignal.timeout(10_000) });
    assert.equal(post.status, 200, await post.text());
    assert.equal((await fetch(`http://${info.http}/readyz`, { signal: AbortSignal.timeout(10_000) })).status, 200);
  } finally {
    child.kill('SIGTERM');
    await withTimeout(closed, 20_000, 'exit after SIGTERM').catch(() => child.kill('SIGKILL'));
  }
  assert.equal(await closed, 0, stderr);
  assert.deepEqual(listTree(app), before, 'nothing written inside the application tree');
  assert.ok(existsSync(join(data, 'leveldb')) && existsSync(join(data, 'log.key')), 'state under the data directory');
});

function byName(stages: Stage[], name: string): Stage {
  const s = stages.find((x) => x.name === name);
  assert.ok(s !== undefined, `stage ${name}`);
  return s;
}
