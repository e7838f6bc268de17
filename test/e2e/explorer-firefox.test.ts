/**
 * The web explorer (issue #10 Must 1: "works in current Chromium and Firefox") in Firefox: Debian's Firefox ESR
 * (/usr/bin/firefox-esr, installed by .ci/run) driven by puppeteer-core over WebDriver BiDi, headless, with a fresh
 * profile that keeps it off the network, against a started `tilelog serve`.
 *
 * - the overview shows the checkpoint's size and root, verified in the browser (Ed25519 via WebCrypto);
 * - the entries view shows the collector events as a table, filters work;
 * - looking up an entry by leaf hash says "verified"; an unknown hash says "not found"; so do a pasted tlog-proof
 *   and an uploaded entry file;
 * - the page keeps up with a new checkpoint (consistency proof from tiles);
 * - no console errors, no page errors and no CSP violations on an honest log;
 * - through a proxy that flips one byte of a hash tile, the page raises the red alarm.
 * A screenshot of each view is written to test-artifacts/firefox-*.png.
 * The Chromium test (explorer.test.ts) covers the rest (evidence download, witnesses, --read-auth) in Chromium.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { cleanupAll, startServer, type ServerProcess } from '../support/server-process.js';
import { ARTIFACTS, checkpointOf, collectorEntry, ENTRIES, NOT_FOUND_HASH, post, tamperingProxy, WAIT_MS, type Posted } from '../support/explorer.js';

const FIREFOX = '/usr/bin/firefox-esr';
/** Bound on each test (the whole file stays well under a minute). */
const TEST_MS = 30_000;

/**
 * Preferences on top of puppeteer's Firefox defaults (which already disable app updates, data reporting, the
 * blocklist / remote-settings server, safe browsing and search updates): no telemetry, no captive-portal or
 * connectivity checks, no remote settings, no system add-on updates, no DNS-over-HTTPS, no prefetching; and any
 * request that is not to loopback goes to a dead proxy (127.0.0.1:9), so nothing can leave the machine even if
 * something is still enabled (checked once with a listening trap on that port: no request came).
 */
const OFFLINE_PREFS: Record<string, unknown> = {
  'app.update.auto': false,
  'app.update.enabled': false,
  'app.update.service.enabled': false,
  'app.update.staging.enabled': false,
  'app.normandy.enabled': false,
  'app.shield.optoutstudies.enabled': false,
  'browser.discovery.enabled': false,
  'browser.newtabpage.activity-stream.feeds.telemetry': false,
  'browser.newtabpage.activity-stream.telemetry': false,
  'browser.ping-centre.telemetry': false,
  'browser.region.network.url': '',
  'browser.region.update.enabled': false,
  'browser.safebrowsing.update.enabled': false,
  'browser.topsites.contile.enabled': false,
  'captivedetect.canonicalURL': '',
  'datareporting.usage.uploadEnabled': false,
  'extensions.blocklist.enabled': false,
  'extensions.systemAddon.update.enabled': false,
  'media.gmp-gmpopenh264.enabled': false,
  'messaging-system.rsexperimentloader.enabled': false,
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'network.dns.disablePrefetch': true,
  'network.predictor.enabled': false,
  'network.prefetch-next': false,
  'network.proxy.type': 1,
  'network.proxy.http': '127.0.0.1',
  'network.proxy.http_port': 9,
  'network.proxy.ssl': '127.0.0.1',
  'network.proxy.ssl_port': 9,
  'network.proxy.no_proxies_on': 'localhost, 127.0.0.1',
  'network.proxy.allow_hijacking_localhost': false,
  'network.trr.mode': 5,
  'security.OCSP.enabled': 0,
  'security.remote_settings.crlite_filters.enabled': false,
  'security.remote_settings.intermediates.enabled': false,
  // With MOZ_DISABLE_NONLOCAL_CONNECTIONS=1 (see the launch), release builds honour this server URL, and this exact
  // value makes remote settings skip all remote activity (services-settings/Utils.sys.mjs: shouldSkipRemoteActivity).
  'services.settings.server': 'data:,#remote-settings-dummy/v1',
  'services.settings.poll_interval': 86_400 * 365,
  'toolkit.telemetry.archive.enabled': false,
  'toolkit.telemetry.bhrPing.enabled': false,
  'toolkit.telemetry.enabled': false,
  'toolkit.telemetry.firstShutdownPing.enabled': false,
  'toolkit.telemetry.newProfilePing.enabled': false,
  'toolkit.telemetry.server': '',
  'toolkit.telemetry.shutdownPingSender.enabled': false,
  'toolkit.telemetry.unified': false,
  'toolkit.telemetry.updatePing.enabled': false,
};

let srv: ServerProcess;
let browser: Browser | undefined;
let profileDir: string | undefined;
let posted: Posted[];
const consoleErrors: string[] = [];

/** A new tab; with `watch`, console errors and uncaught page errors go to `consoleErrors`, CSP violations are kept. */
async function openPage(watch: boolean): Promise<Page> {
  assert.ok(browser);
  const page = await browser.newPage();
  page.setDefaultTimeout(WAIT_MS);
  await page.setViewport({ width: 1280, height: 900 });
  if (watch) {
    page.on('console', (m) => {
      if (m.type() === 'error' && !(m.location().url ?? '').includes(NOT_FOUND_HASH)) consoleErrors.push(`${m.text()} (${m.location().url ?? '?'})`);
    });
    page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e instanceof Error ? e.message : String(e)}`));
    // Firefox reports CSP violations to its web console, which WebDriver BiDi does not forward: record them in the page.
    await page.evaluateOnNewDocument(() => {
      const g = globalThis as unknown as { cspViolations: string[]; addEventListener(t: string, f: (e: { violatedDirective: string; blockedURI: string }) => void): void };
      g.cspViolations = [];
      g.addEventListener('securitypolicyviolation', (e) => g.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
    });
  }
  return page;
}

async function text(page: Page, selector: string): Promise<string> {
  return page.$eval(selector, (e) => e.textContent ?? '');
}

/** Rows of the entries table that are rendered (not hidden by a filter). */
async function visibleRows(page: Page): Promise<number> {
  return page.$$eval('#entries-body tr[data-index]', (rows) => rows.filter((r) => r.checkVisibility()).length);
}

async function isHidden(page: Page, selector: string): Promise<boolean> {
  return page.$eval(selector, (e) => !e.checkVisibility());
}

async function search(page: Page, query: string): Promise<void> {
  await page.locator('#lookup-query').fill(query);
  await page.focus('#lookup-query');
  await page.keyboard.press('Enter');
}

before(async () => {
  assert.ok(existsSync(FIREFOX), `${FIREFOX} is missing: install Debian's Firefox ESR (apt-get install -y firefox-esr; .ci/run does it)`);
  mkdirSync(ARTIFACTS, { recursive: true });
  srv = await startServer({ checkpointInterval: '200ms', batchDelay: '5ms' });
  posted = await post(srv.baseUrl, ENTRIES);
  // One retry with a fresh profile: on a loaded machine a browser's first start can fail on its own.
  for (let attempt = 1; ; attempt++) {
    profileDir = mkdtempSync(join(tmpdir(), 'tilelog-firefox-'));
    try {
      browser = await puppeteer.launch({
        browser: 'firefox',
        executablePath: FIREFOX,
        headless: true,
        userDataDir: profileDir,
        extraPrefsFirefox: OFFLINE_PREFS,
        // MOZ_DISABLE_NONLOCAL_CONNECTIONS: Firefox's own switch for tests, refusing connections to non-loopback hosts.
        env: { ...process.env, MOZ_CRASHREPORTER_DISABLE: '1', MOZ_DISABLE_AUTO_SAFE_MODE: '1', MOZ_DISABLE_NONLOCAL_CONNECTIONS: '1' },
        timeout: 30_000,
        protocolTimeout: 20_000,
      });
      break;
    } catch (err) {
      rmSync(profileDir, { recursive: true, force: true });
      if (attempt === 2) throw err;
      console.error(`firefox did not start (${(err as Error).message.split('\n')[0]}); retrying once`);
    }
  }
  console.error(`# ${await browser.version()} (${FIREFOX}, WebDriver BiDi)`);
});

after(async () => {
  await browser?.close().catch(() => {});
  if (profileDir !== undefined) rmSync(profileDir, { recursive: true, force: true });
  await cleanupAll();
});

describe('explorer in Firefox on an honest log', () => {
  let page: Page;

  test('overview: the checkpoint\'s size and root, verified with Ed25519 in Firefox', { timeout: TEST_MS }, async () => {
    const ua = await browser!.userAgent();
    assert.match(ua, /Firefox\/\d+/, `the browser is Firefox (${ua})`);
    page = await openPage(true);
    const res = await page.goto(`${srv.baseUrl}/ui/?vkey=${encodeURIComponent(srv.vkey)}`);
    assert.ok(res !== null && res.status() === 200);
    const cp = await checkpointOf(srv.baseUrl);
    assert.equal(cp.treeSize, String(ENTRIES.length));
    await page.waitForSelector(`#ov-size[data-value="${cp.treeSize}"]`);
    await page.waitForSelector('#ov-verified.ok');
    assert.equal(await text(page, '#ov-root-b64'), cp.rootHash);
    assert.equal(await text(page, '#ov-root-hex'), Buffer.from(cp.rootHash, 'base64').toString('hex'));
    assert.equal(await text(page, '#ov-origin'), srv.origin);
    assert.match(await text(page, '#ov-verified'), /Verified in this browser/);
    assert.equal(await isHidden(page, '#alarm'), true);
    assert.equal(await isHidden(page, '#vkey-warning'), true, 'trusted key = claimed key: no warning');
    await page.waitForSelector('#ov-chart polyline[points*=","]');
    await page.screenshot({ path: join(ARTIFACTS, 'firefox-overview.png'), fullPage: true });
  });

  test('entries: the events as a table, raw JSON on demand, filters', { timeout: TEST_MS }, async () => {
    await page.click('#tab-entries');
    await page.waitForSelector(`#entries-body tr[data-index="${ENTRIES.length - 1}"]`);
    assert.equal(await visibleRows(page), ENTRIES.length);
    assert.match(await text(page, '#entries-status'), /each leaf hash matches/);
    assert.equal(await text(page, '#entries-body tr[data-index="2"] .col-kind'), 'denied');
    assert.equal(await text(page, '#entries-body tr[data-index="2"] .col-status'), '403');
    assert.equal(await text(page, '#entries-body tr[data-index="2"] .col-namespaceIngress'), 'shop/web');
    await page.click('#entries-body tr[data-index="2"] button.raw-toggle');
    await page.waitForSelector('#raw-2 pre');
    assert.match(await text(page, '#raw-2 pre'), /"collector.record\/v1"/);
    await page.select('#filter-status', '5xx');
    assert.equal(await visibleRows(page), 1);
    await page.select('#filter-status', '');
    await page.select('#filter-kind', 'access');
    assert.equal(await visibleRows(page), 3);
    await page.select('#filter-kind', '');
    await page.screenshot({ path: join(ARTIFACTS, 'firefox-entries.png'), fullPage: true });
  });

  test('look-up by leaf hash (hex and base64) says verified; an unknown hash says not found', { timeout: TEST_MS }, async () => {
    await page.click('#tab-lookup');
    const target = posted[3]!;
    await search(page, Buffer.from(target.leafHash, 'base64').toString('hex'));
    await page.waitForSelector('#lookup-verdict[data-verdict="verified"]');
    assert.match(await text(page, '#lookup-verdict'), /verified: entry 3 is in the log/i);
    assert.equal(await text(page, '#lookup-entry-body tr[data-index="3"] .col-status'), '502');
    await page.screenshot({ path: join(ARTIFACTS, 'firefox-lookup.png'), fullPage: true });

    const other = posted[1]!;
    await search(page, other.leafHash);
    await page.waitForSelector('#lookup-entry-body tr[data-index="1"]');
    await page.waitForSelector('#lookup-verdict[data-verdict="verified"]');
    assert.match(await text(page, '#lookup-verdict'), /verified: entry 1 is in the log/i);

    await search(page, NOT_FOUND_HASH);
    await page.waitForSelector('#lookup-verdict[data-verdict="notfound"]');
  });

  test('a pasted tlog-proof and an uploaded entry file say verified', { timeout: TEST_MS }, async () => {
    const proof = await (await fetch(`${srv.baseUrl}/v1/proof/inclusion?index=1&format=tlog-proof`, { signal: AbortSignal.timeout(5_000) })).text();
    await page.locator('#lookup-paste').fill(proof);
    await page.click('#lookup-paste-form button');
    await page.waitForSelector('#lookup-verdict[data-verdict="verified"]');
    assert.match(await text(page, '#lookup-verdict'), /tlog-proof places entry 1/);

    const entryFile = join(profileDir!, 'entry-4.json');
    writeFileSync(entryFile, Buffer.from(await (await fetch(`${srv.baseUrl}/v1/entries/4`, { signal: AbortSignal.timeout(5_000) })).arrayBuffer()));
    const input = await page.$('#lookup-file');
    assert.ok(input);
    await input.uploadFile(entryFile);
    await page.waitForFunction(() => {
      const d = (globalThis as unknown as { document: { querySelector(s: string): { textContent: string | null } | null } }).document;
      return /entry 4/.test(d.querySelector('#lookup-verdict[data-verdict="verified"]')?.textContent ?? '');
    });
  });

  test('the page keeps up with new checkpoints (consistency from tiles); no console errors or CSP violations', { timeout: TEST_MS }, async () => {
    await post(srv.baseUrl, [collectorEntry(5, 'access', 204), collectorEntry(6, 'access', 200)]);
    const cp = await checkpointOf(srv.baseUrl);
    await page.click('#tab-overview');
    await page.waitForSelector(`#ov-size[data-value="${cp.treeSize}"]`);
    assert.match(await text(page, '#ov-verified'), /consistent with the checkpoint seen at page load/);
    assert.equal(await isHidden(page, '#alarm'), true);
    const csp = await page.evaluate(() => (globalThis as unknown as { cspViolations: string[] }).cspViolations);
    assert.deepEqual({ consoleErrors, cspViolations: csp }, { consoleErrors: [], cspViolations: [] });
    await page.close();
  });
});

describe('explorer in Firefox through a proxy that tampers with a hash tile', () => {
  test('the page raises the red alarm', { timeout: TEST_MS }, async () => {
    const proxy = await tamperingProxy(srv.baseUrl);
    try {
      const page = await openPage(false);
      await page.goto(`${proxy.url}/ui/?vkey=${encodeURIComponent(srv.vkey)}`);
      await page.waitForSelector('#alarm:not([hidden])');
      assert.ok(proxy.tampered.length > 0, 'the proxy tampered with a tile');
      assert.equal(await isHidden(page, '#alarm'), false, 'the alarm is rendered');
      const colour = await page.$eval('#alarm', (e) => {
        const style = (globalThis as unknown as { getComputedStyle(x: unknown): { backgroundColor: string; borderTopColor: string } }).getComputedStyle(e);
        return { backgroundColor: style.backgroundColor, borderTopColor: style.borderTopColor };
      });
      assert.ok([colour.backgroundColor, colour.borderTopColor].some((c) => isRed(c)), `the alarm is red (${JSON.stringify(colour)})`);
      assert.match(await text(page, '#alarm'), /Verification failed/);
      assert.match(await text(page, '#alarm-list'), /do not hash to the checkpoint's root/);
      assert.doesNotMatch(await text(page, '#ov-verified'), /Verified in this browser/);
      assert.equal(await isHidden(page, '#alarm-download'), false, 'the evidence can be downloaded');
      await page.screenshot({ path: join(ARTIFACTS, 'firefox-alarm.png'), fullPage: true });
      await page.close();
    } finally {
      await new Promise((resolve) => proxy.server.close(resolve));
    }
  });
});

/** True for a CSS rgb()/rgba() colour whose red channel dominates. */
function isRed(css: string): boolean {
  const m = /^rgba?\((\d+), (\d+), (\d+)/.exec(css);
  if (m === null) return false;
  const [r, g, b] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return r > 120 && r > g * 1.5 && r > b * 1.5;
}
