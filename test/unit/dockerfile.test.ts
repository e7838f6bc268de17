/**
 * deploy/Dockerfile, checked without a Docker engine: multi-stage on a pinned Node LTS bookworm-slim base, the
 * build stage runs `npm ci` and `npm run build`, the final stage gets production dependencies only, runs as a
 * numeric non-root user with its state under the /data volume, `tilelog` is the entrypoint, OCI labels are set,
 * MALLOC_ARENA_MAX=2, and the .dockerignore keeps secrets and build output out of the context.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseDockerfile, parseKeyValues, type Stage } from '../support/dockerfile.js';
import { REPO_ROOT } from '../support/server-process.js';

const { stages } = parseDockerfile(join(REPO_ROOT, 'deploy', 'Dockerfile'));
const final = stages[stages.length - 1] as Stage;
const byName = (name: string): Stage | undefined => stages.find((s) => s.name === name);
const runs = (s: Stage): string[] => s.instructions.filter((i) => i.op === 'RUN').map((i) => i.args);
const copies = (s: Stage): string[] => s.instructions.filter((i) => i.op === 'COPY').map((i) => i.args);
const last = (s: Stage, op: string): string | undefined => s.instructions.filter((i) => i.op === op).at(-1)?.args;

describe('deploy/Dockerfile', () => {
  test('multi-stage, every stage on the same pinned Node LTS bookworm-slim image', () => {
    assert.ok(stages.length >= 2, 'multi-stage');
    for (const s of stages) {
      const m = /^node:(\d+)\.(\d+)\.(\d+)-bookworm-slim$/.exec(s.image);
      assert.ok(m !== null, `pinned by full version tag: ${s.image}`);
      assert.ok([22, 24].includes(Number(m[1])), `an LTS major (22 or 24): ${s.image}`);
    }
    assert.equal(new Set(stages.map((s) => s.image)).size, 1);
  });

  test('the build stage runs npm ci and npm run build', () => {
    const build = stages.find((s) => runs(s).some((r) => /\bnpm run build\b/.test(r)));
    assert.ok(build !== undefined, 'a stage runs npm run build');
    assert.ok(runs(build).some((r) => /^npm ci\b/.test(r) && !r.includes('--omit=dev')), 'npm ci with devDependencies before the build');
    assert.ok(final !== build, 'the final stage is not the build stage');
    // `npm ci` runs the package's `prepare` script: whatever it needs is copied before it.
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    const ci = build.instructions.findIndex((i) => i.op === 'RUN' && /^npm ci\b/.test(i.args));
    const copiedBefore = build.instructions.slice(0, ci).filter((i) => i.op === 'COPY').flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    for (const word of (pkg.scripts['prepare'] ?? '').split(/\s+/).filter((w) => /[/.]/.test(w) && w !== 'node')) {
      assert.ok(copiedBefore.some((c) => word === c || word.startsWith(`${c}/`)), `prepare needs ${word}: copied before npm ci`);
    }
    for (const f of ['tsconfig.json', 'tsconfig.build.json', 'server', 'clients']) assert.ok(copiedBefore.includes(f), `${f} copied before npm ci`);
  });

  test('the final stage has production dependencies only and the build output', () => {
    const all = copies(final);
    const nm = all.find((c) => / \.\/node_modules$/.test(c));
    assert.ok(nm !== undefined, 'node_modules copied into the final stage');
    const from = /--from=(\S+)/.exec(nm)?.[1];
    const deps = byName(from ?? '');
    assert.ok(deps !== undefined, `node_modules come from a named stage (${from})`);
    const install = runs(deps).find((r) => /^npm ci\b/.test(r));
    assert.ok(install !== undefined && install.includes('--omit=dev'), 'npm ci --omit=dev');
    assert.ok(install.includes('--ignore-scripts'), 'prepare (tsc) must not run without devDependencies');
    assert.ok(!runs(final).some((r) => /\bnpm (ci|install)\b/.test(r)), 'no npm install in the final stage');
    for (const p of ['./dist/server', './dist/clients', './bin', './proto', './package.json']) {
      assert.ok(all.some((c) => c.endsWith(` ${p}`) || c.endsWith(` ${p.replace('./', '')}`) || (p === './package.json' && /package\.json/.test(c))), `final stage copies ${p}`);
    }
    assert.ok(!all.some((c) => /dist\/test|\btest\b/.test(c)), 'no tests in the final image');
  });

  test('non-root numeric user, /data volume, tilelog entrypoint, ports', () => {
    const user = last(final, 'USER');
    assert.ok(user !== undefined && /^[1-9][0-9]*(:[1-9][0-9]*)?$/.test(user), `numeric non-root USER: ${user}`);
    const uid = (user as string).split(':')[0];
    assert.ok(runs(final).some((r) => r.includes(`chown ${uid}`) && r.includes('/data')), '/data owned by that user');
    assert.match(last(final, 'VOLUME') ?? '', /"\/data"|\/data/);
    const entry = JSON.parse(last(final, 'ENTRYPOINT') ?? 'null') as string[];
    assert.ok(Array.isArray(entry), 'exec-form ENTRYPOINT');
    assert.ok(entry[0] === 'tilelog' || (entry[0] === 'node' && /bin\/tilelog\.js$/.test(entry[1] ?? '')), `tilelog entrypoint: ${JSON.stringify(entry)}`);
    assert.ok(runs(final).some((r) => r.includes('ln -s /app/bin/tilelog.js /usr/local/bin/tilelog')), 'tilelog on PATH');
    const cmd = JSON.parse(last(final, 'CMD') ?? '[]') as string[];
    assert.deepEqual(cmd.slice(0, 3), ['serve', '--data', '/data']);
    assert.match(last(final, 'EXPOSE') ?? '', /\b8080\b.*\b8081\b/);
    // Read-only root filesystem: nothing after USER writes, and the only RUN touches the image at build time.
    const userAt = final.instructions.findIndex((i) => i.op === 'USER');
    assert.ok(!final.instructions.slice(userAt).some((i) => i.op === 'RUN'), 'no RUN as the runtime user');
  });

  test('OCI labels and environment', () => {
    const labels = parseKeyValues(final.instructions.filter((i) => i.op === 'LABEL').map((i) => i.args).join(' '));
    for (const k of ['title', 'description', 'licenses', 'source', 'version', 'revision', 'created']) {
      assert.ok((labels.get(`org.opencontainers.image.${k}`) ?? '') !== '', `label org.opencontainers.image.${k}`);
    }
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { license: string };
    assert.equal(labels.get('org.opencontainers.image.licenses'), pkg.license);
    const env = parseKeyValues(final.instructions.filter((i) => i.op === 'ENV').map((i) => i.args).join(' '));
    assert.equal(env.get('MALLOC_ARENA_MAX'), '2');
    assert.equal(env.get('NODE_ENV'), 'production');
  });

  test('.dockerignore keeps build output, dependencies, VCS and keys out of the context', () => {
    const path = join(REPO_ROOT, '.dockerignore');
    assert.ok(existsSync(path));
    const lines = readFileSync(path, 'utf8').split('\n').map((l) => l.trim());
    for (const p of ['.git', 'node_modules', 'dist', 'data', '**/*.key']) assert.ok(lines.includes(p), `.dockerignore lists ${p}`);
    // Everything the build stage copies is in the context.
    for (const s of stages) {
      for (const c of copies(s).filter((c) => !c.startsWith('--from'))) {
        for (const src of c.split(/\s+/).slice(0, -1)) assert.ok(existsSync(join(REPO_ROOT, src)), `COPY source ${src} exists`);
      }
    }
  });
});
