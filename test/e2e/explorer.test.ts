/**
 * The web explorer (issue #10) in a real browser: Debian's Chromium (/usr/bin/chromium, installed by .ci/run)
 * driven by playwright-core, against a started `tilelog serve`.
 *
 * - /ui/ is served with a strict CSP; no console errors on an honest log;
 * - the overview shows the checkpoint's size and root (verified in the browser);
 * - the entries view shows the collector events as a table, filters work;
 * - looking up an entry by leaf hash (and a tlog-proof) says "verified";
 * - through a proxy that flips one byte of a hash tile, the page raises the alarm and offers evidence;
 * - with --read-auth, the page asks for a token and keeps it in sessionStorage only.
 * A screenshot of each view is written to test-artifacts/.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { cleanupAll, newDataDir, REPO_ROOT, startServer, TILELOG_BIN, withTimeout, type ServerProcess } from '../support/server-process.js';
import { formatPrivateKey, newEd25519Signer } from '../../server/core/keys.js';
import { newKey, signToken, writeJwksFile } from '../support/jwt.js';
import { ARTIFACTS, checkpointOf, collectorEntry, ENTRIES, NOT_FOUND_HASH, post, tamperingProxy, WAIT_MS, type Posted } from '../support/explorer.js';

const CHROMIUM = '/usr/bin/chromium';

/** Witness processes started here (killed in `after`). */
const children = new Set<ChildProcess>();
let srv: ServerProcess;
let context: BrowserContext;
let userDataDir: string;
let posted: Posted[];
const consoleErrors: string[] = [];

async function openPage(url: string, watchConsole: boolean): Promise<Page> {
  const page = await context.newPage();
  if (watchConsole) {
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.location().url.includes(NOT_FOUND_HASH)) consoleErrors.push(`${m.text()} (${m.location().url})`);
    });
    page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
  }
  return page;
}

/** The witnessed log (a witness process and a log that asks it to cosign), started in `before` alongside the rest. */
async function setupWitnessed() {
    const dir = newDataDir('tilelog-e2e-ui-wlog-');
    const origin = 'example.com/witnessed';
    const seed = randomBytes(32);
    const keyFile = join(dir, 'log.key');
    writeFileSync(keyFile, `${formatPrivateKey(origin, seed)}\n`, { mode: 0o600 });
    const logVkey = newEd25519Signer(origin, seed).vkey;
    const w = await startWitness('witness.example/w1', `${origin}=${logVkey}`);
    const log = await startServer({ dataDir: join(dir, 'data'), key: keyFile, origin, checkpointInterval: '200ms', extraArgs: ['--witness', `w1=${w.url}=${w.vkey}`, '--witness-timeout', '2s'] });
    await post(log.baseUrl, ENTRIES.slice(0, 3));
  return { log, logVkey, w };
}

/** A log with writer auth and --read-auth, and a token with the read scope. */
async function setupAuthed() {
    const key = await newKey('ES256', 'e2e-1');
    const dir = newDataDir('tilelog-e2e-ui-auth-');
    const jwksFile = join(dir, 'jwks.json');
    writeJwksFile(jwksFile, [key]);
    const iss = 'https://issuer.example';
    const aud = 'tilelog';
    const a = await startServer({ checkpointInterval: '200ms', extraArgs: ['--auth-issuer', iss, '--auth-audience', aud, '--auth-jwks-file', jwksFile, '--auth-subject', 'writer', '--read-auth'] });
    const writer = await signToken(key, { iss, aud, sub: 'writer' });
    await post(a.baseUrl, ENTRIES.slice(0, 2), writer);
    const reader = await signToken(key, { iss, aud, sub: 'reader', scope: 'tilelog:read' });
  return { a, reader };
}

let witnessed: ReturnType<typeof setupWitnessed>;
let authed: ReturnType<typeof setupAuthed>;

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; .ci/run does it)`);
  mkdirSync(ARTIFACTS, { recursive: true });
  // The other logs start meanwhile (awaited by their tests; a failure is reported there).
  witnessed = setupWitnessed();
  authed = setupAuthed();
  witnessed.catch(() => {});
  authed.catch(() => {});
  srv = await startServer({ checkpointInterval: '200ms', batchDelay: '5ms' });
  posted = await post(srv.baseUrl, ENTRIES);
  // One retry with a fresh profile: on a loaded machine Chromium's first start can fail on its own.
  for (let attempt = 1; ; attempt++) {
    userDataDir = mkdtempSync(join(tmpdir(), 'tilelog-chromium-'));
    try {
      context = await chromium.launchPersistentContext(userDataDir, {
        executablePath: CHROMIUM,
        headless: true,
        acceptDownloads: true,
        viewport: { width: 1280, height: 900 },
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
        timeout: 30_000,
      });
      break;
    } catch (err) {
      rmSync(userDataDir, { recursive: true, force: true });
      if (attempt === 2) throw err;
      console.error(`chromium did not start (${(err as Error).message.split('\n')[0]}); retrying once`);
    }
  }
});

/** Starts `tilelog witness` for one log and returns its URL and cosigner vkey. */
async function startWitness(name: string, log: string): Promise<{ url: string; vkey: string }> {
  const child = spawn(process.execPath, [TILELOG_BIN, 'witness', '--data', newDataDir('tilelog-e2e-ui-witness-'), '--name', name, '--http', '127.0.0.1:0', '--log', log], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('close', () => children.delete(child));
  child.stderr?.resume();
  const line = await withTimeout(new Promise<string>((resolve) => createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', resolve)), 15_000, 'witness listening');
  const v = JSON.parse(line) as { http: string; vkey: string };
  return { url: `http://${v.http}`, vkey: v.vkey };
}

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await context?.close().catch(() => {});
  if (userDataDir !== undefined) rmSync(userDataDir, { recursive: true, force: true });
  await cleanupAll();
});

describe('explorer on an honest log', () => {
  let page: Page;
  const vkeyParam = () => encodeURIComponent(srv.vkey);

  test('/ui redirects to /ui/, which is served with a strict CSP', async () => {
    const r = await fetch(`${srv.baseUrl}/ui`, { redirect: 'manual', signal: AbortSignal.timeout(5_000) });
    assert.equal(r.status, 301);
    assert.equal(new URL(r.headers.get('location') ?? '', `${srv.baseUrl}/ui`).pathname, '/ui/');
    page = await openPage('', true);
    const res = await page.goto(`${srv.baseUrl}/ui/?vkey=${vkeyParam()}`, { timeout: WAIT_MS });
    assert.ok(res !== null && res.status() === 200);
    const csp = res.headers()['content-security-policy'] ?? '';
    for (const d of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]) assert.ok(csp.includes(d), `CSP ${csp} has ${d}`);
    assert.ok(!csp.includes('unsafe-inline') && !csp.includes('unsafe-eval'));
    assert.equal(res.headers()['content-type'], 'text/html; charset=utf-8');
    assert.equal(res.headers()['x-content-type-options'], 'nosniff');
    const js = await fetch(`${srv.baseUrl}/ui/app/main.js`, { signal: AbortSignal.timeout(5_000) });
    assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.ok(js.headers.get('etag'));
    const again = await fetch(`${srv.baseUrl}/ui/app/main.js`, { headers: { 'if-none-match': js.headers.get('etag') ?? '' }, signal: AbortSignal.timeout(5_000) });
    assert.equal(again.status, 304);
    assert.equal((await fetch(`${srv.baseUrl}/ui/nope.js`, { signal: AbortSignal.timeout(5_000) })).status, 404);
    assert.equal((await fetch(`${srv.baseUrl}/ui/`, { method: 'POST', signal: AbortSignal.timeout(5_000) })).status, 405);
  });

  test('overview: the checkpoint\'s size and root, verified in the browser', async () => {
    const cp = await checkpointOf(srv.baseUrl);
    assert.equal(cp.treeSize, String(ENTRIES.length));
    await page.waitForSelector(`#ov-size[data-value="${cp.treeSize}"]`, { timeout: WAIT_MS });
    assert.equal(await page.textContent('#ov-root-b64'), cp.rootHash);
    assert.equal(await page.textContent('#ov-root-hex'), Buffer.from(cp.rootHash, 'base64').toString('hex'));
    assert.equal(await page.textContent('#ov-origin'), srv.origin);
    assert.match((await page.textContent('#ov-verified')) ?? '', /Verified in this browser/);
    assert.equal(await page.isVisible('#alarm'), false);
    assert.equal(await page.isVisible('#vkey-warning'), false, 'trusted key = claimed key: no warning');
    await page.waitForSelector('#ov-chart polyline[points*=","]', { state: 'attached', timeout: WAIT_MS });
    await page.screenshot({ path: join(ARTIFACTS, 'explorer-overview.png'), fullPage: true });
  });

  test('entries: the events as a table, raw JSON on demand, filters', async () => {
    await page.click('#tab-entries');
    await page.waitForSelector(`#entries-body tr[data-index="${ENTRIES.length - 1}"]`, { timeout: WAIT_MS });
    assert.equal(await page.locator('#entries-body tr[data-index]').count(), ENTRIES.length);
    assert.match((await page.textContent('#entries-status')) ?? '', /each leaf hash matches/);
    const row = page.locator('#entries-body tr[data-index="2"]');
    assert.equal(await row.locator('.col-kind').textContent(), 'denied');
    assert.equal(await row.locator('.col-status').textContent(), '403');
    assert.equal(await row.locator('.col-namespaceIngress').textContent(), 'shop/web');
    assert.equal(await row.locator('.col-user').textContent(), 'user2');
    await row.locator('button.raw-toggle').click();
    assert.match((await page.textContent('#raw-2 pre')) ?? '', /"collector.record\/v1"/);
    await page.selectOption('#filter-status', '5xx');
    assert.equal(await page.locator('#entries-body tr[data-index]:visible').count(), 1);
    await page.selectOption('#filter-status', '');
    await page.selectOption('#filter-kind', 'access');
    assert.equal(await page.locator('#entries-body tr[data-index]:visible').count(), 3);
    await page.selectOption('#filter-kind', '');
    await page.screenshot({ path: join(ARTIFACTS, 'explorer-entries.png'), fullPage: true });
  });

  test('look-up by leaf hash says verified; so does a pasted tlog-proof', async () => {
    await page.click('#tab-lookup');
    const target = posted[3]!;
    await page.fill('#lookup-query', Buffer.from(target.leafHash, 'base64').toString('hex'));
    await page.press('#lookup-query', 'Enter');
    await page.waitForSelector('#lookup-verdict[data-verdict="verified"]', { timeout: WAIT_MS });
    assert.match((await page.textContent('#lookup-verdict')) ?? '', /verified: entry 3 is in the log/i);
    assert.equal(await page.locator('#lookup-entry-body tr[data-index="3"] .col-status').textContent(), '502');
    await page.screenshot({ path: join(ARTIFACTS, 'explorer-lookup.png'), fullPage: true });

    await page.fill('#lookup-query', target.leafHash); // base64 too
    await page.press('#lookup-query', 'Enter');
    await page.waitForSelector('#lookup-verdict[data-verdict="verified"]', { timeout: WAIT_MS });

    const proof = await (await fetch(`${srv.baseUrl}/v1/proof/inclusion?index=1&format=tlog-proof`, { signal: AbortSignal.timeout(5_000) })).text();
    await page.fill('#lookup-paste', proof);
    await page.click('#lookup-paste-form button');
    await page.waitForSelector('#lookup-verdict[data-verdict="verified"]', { timeout: WAIT_MS });
    assert.match((await page.textContent('#lookup-verdict')) ?? '', /tlog-proof places entry 1/);

    const entryBytes = Buffer.from(await (await fetch(`${srv.baseUrl}/v1/entries/4`, { signal: AbortSignal.timeout(5_000) })).arrayBuffer());
    await page.setInputFiles('#lookup-file', { name: 'entry-4.json', mimeType: 'application/json', buffer: entryBytes });
    await page.waitForSelector('#lookup-verdict[data-verdict="verified"]:has-text("entry 4")', { timeout: WAIT_MS });

    await page.fill('#lookup-query', NOT_FOUND_HASH);
    await page.press('#lookup-query', 'Enter');
    await page.waitForSelector('#lookup-verdict[data-verdict="notfound"]', { timeout: WAIT_MS });
  });

  test('the page keeps up with new checkpoints (consistency from tiles) and shows no console errors', async () => {
    await post(srv.baseUrl, [collectorEntry(5, 'access', 204), collectorEntry(6, 'access', 200)]);
    const cp = await checkpointOf(srv.baseUrl);
    await page.click('#tab-overview');
    await page.waitForSelector(`#ov-size[data-value="${cp.treeSize}"]`, { timeout: WAIT_MS });
    assert.match((await page.textContent('#ov-verified')) ?? '', /consistent with the checkpoint seen at page load/);
    assert.equal(await page.isVisible('#alarm'), false);
    assert.deepEqual(consoleErrors, []);
    await page.close();
  });
});

describe('explorer through a proxy that tampers with a hash tile', () => {
  test('the page raises the alarm and offers the evidence', async () => {
    const proxy = await tamperingProxy(srv.baseUrl);
    try {
      const page = await openPage('', false);
      await page.goto(`${proxy.url}/ui/?vkey=${encodeURIComponent(srv.vkey)}`, { timeout: WAIT_MS });
      await page.waitForSelector('#alarm:not([hidden])', { timeout: WAIT_MS });
      assert.ok(proxy.tampered.length > 0, 'the proxy tampered with a tile');
      assert.match((await page.textContent('#alarm')) ?? '', /Verification failed/);
      assert.match((await page.textContent('#alarm-list')) ?? '', /do not hash to the checkpoint's root/);
      assert.doesNotMatch((await page.textContent('#ov-verified')) ?? '', /Verified in this browser/);
      await page.screenshot({ path: join(ARTIFACTS, 'explorer-alarm.png'), fullPage: true });
      const [download] = await Promise.all([page.waitForEvent('download', { timeout: WAIT_MS }), page.click('#alarm-download')]);
      const evidence = JSON.parse(readFileSync(await download.path(), 'utf8')) as { failure: { computation: { computedRootHex: string; expectedRootHex: string } }; checkpoints: { seen: string[] }; tiles: Record<string, string> }[];
      const e = evidence[0]!;
      assert.notEqual(e.failure.computation.computedRootHex, e.failure.computation.expectedRootHex);
      assert.ok(e.checkpoints.seen[0]?.startsWith(`${srv.origin}\n`));
      assert.ok(Object.keys(e.tiles).some((p) => p.startsWith('tile/0/')), 'the tampered tile is in the evidence');
      await page.close();
    } finally {
      await new Promise((resolve) => proxy.server.close(resolve));
    }
  });
});

describe('explorer through a proxy that tampers with an entry bundle', () => {
  test('the checkpoint verifies, but loading the entries raises the alarm', async () => {
    const proxy = await tamperingProxy(srv.baseUrl, /^\/tile\/entries\//);
    try {
      const page = await openPage('', false);
      await page.goto(`${proxy.url}/ui/?vkey=${encodeURIComponent(srv.vkey)}`, { timeout: WAIT_MS });
      await page.waitForSelector('#ov-verified.ok', { timeout: WAIT_MS });
      await page.click('#tab-entries');
      await page.waitForSelector('#alarm:not([hidden])', { timeout: WAIT_MS });
      assert.ok(proxy.tampered.some((p) => p.startsWith('/tile/entries/')));
      assert.match((await page.textContent('#alarm-list')) ?? '', /does not match its leaf hash in the tree/);
      assert.equal(await page.locator('#entries-body tr[data-index]').count(), 0, 'no unverified entry is shown');
      await page.close();
    } finally {
      await new Promise((resolve) => proxy.server.close(resolve));
    }
  });
});

describe('explorer on a witnessed log', () => {
  test('the overview lists the witness that cosigned the checkpoint, verified with ?witness=', async () => {
    const { log, logVkey, w } = await witnessed;
    const page = await openPage('', false);
    await page.goto(`${log.baseUrl}/ui/?vkey=${encodeURIComponent(logVkey)}&witness=${encodeURIComponent(w.vkey)}`, { timeout: WAIT_MS });
    await page.waitForSelector('#ov-witnesses td:has-text("✔ verified")', { timeout: WAIT_MS });
    assert.equal(await page.locator('#ov-witnesses tr td').first().textContent(), 'witness.example/w1');
    const at = Date.parse((await page.locator('#ov-witnesses tr td').nth(2).textContent()) ?? '');
    assert.ok(Math.abs(at - Date.now()) < 120_000, 'the cosignature time is shown');
    await page.screenshot({ path: join(ARTIFACTS, 'explorer-witnessed-overview.png'), fullPage: true });
    await page.close();
  });
});

describe('explorer on a log with --read-auth', () => {
  test('entries need a token: the page asks, uses it, and keeps it out of localStorage', async () => {
    const { a, reader } = await authed;
    const page = await openPage('', false);
    await page.goto(`${a.baseUrl}/ui/?vkey=${encodeURIComponent(a.vkey)}#entries`, { timeout: WAIT_MS });
    await page.waitForSelector('#token-dialog[open]', { timeout: WAIT_MS });
    await page.fill('#token-input', reader);
    await page.click('#token-dialog button[value="ok"]');
    await page.waitForSelector('#entries-body tr[data-index="1"]', { timeout: WAIT_MS });
    assert.equal(await page.locator('#entries-body tr[data-index]').count(), 2);
    const stored = await page.evaluate(() => {
      interface Store { getItem(k: string): string | null }
      const g = globalThis as unknown as { sessionStorage: Store; localStorage: Store & Record<string, unknown> };
      return { session: g.sessionStorage.getItem('tilelog.readToken'), local: Object.keys(g.localStorage).map((k) => g.localStorage.getItem(k) ?? '') };
    });
    assert.equal(stored.session, reader);
    assert.ok(!stored.local.some((v) => v.includes(reader)), 'the token is not in localStorage');
    await page.close();
  });
});
