/**
 * Architecture test (cf. Tessera's TestForbiddenFunction): the core is pure. Files in server/core may import only
 * node:crypto, node:buffer and each other — no file system, network, timers, clock or environment.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
const coreDir = join(root, 'server', 'core');

test('server/core imports nothing but node:crypto, node:buffer and itself, and reads no clock or environment', () => {
  const files = readdirSync(coreDir).filter((f) => f.endsWith('.ts'));
  assert.ok(files.length >= 10, `expected the core sources in ${coreDir}`);
  for (const f of files) {
    const src = readFileSync(join(coreDir, f), 'utf8');
    for (const m of src.matchAll(/^\s*import\s[^'"]*['"]([^'"]+)['"]/gm)) {
      const spec = m[1]!;
      assert.ok(spec.startsWith('./') || spec === 'node:crypto' || spec === 'node:buffer', `${f} imports ${spec}`);
    }
    for (const banned of ['Date.now', 'new Date(', 'process.env', 'setTimeout', 'setInterval', 'Math.random', 'randomBytes']) {
      assert.ok(!src.includes(banned), `${f} uses ${banned}`);
    }
  }
});
