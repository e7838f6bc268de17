#!/usr/bin/env node
// npm `prepare` (run by `npm ci` / `npm install`): compiles server/ and clients/ into dist/ with
// `tsc -p tsconfig.build.json`, and the web explorer (ui/) into dist/ui with `tsc -p tsconfig.ui.json`. A production install (`npm ci --omit=dev`) has no TypeScript: then there is
// nothing to compile with, and dist/ must come from a build that had the devDependencies (the image's build
// stage), so this says so and succeeds instead of failing the install. A failing compilation still fails.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let tsc;
try {
  tsc = require.resolve('typescript/bin/tsc');
} catch {
  process.stderr.write('prepare: TypeScript is not installed (production install, --omit=dev): not compiling; dist/ must come from a build with the devDependencies\n');
  process.exit(0);
}
for (const project of ['tsconfig.build.json', 'tsconfig.ui.json']) {
  const r = spawnSync(process.execPath, [tsc, '-p', project], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
