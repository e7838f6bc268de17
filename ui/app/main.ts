/**
 * The explorer's entry point: decides which key to trust (`?vkey=` or the field, remembered in localStorage;
 * the server's `/v1/log` vkey is only shown as a claim), checks that WebCrypto has Ed25519, then polls
 * `/checkpoint`: each new checkpoint must carry a valid signature by the trusted key, its tiles must hash to its
 * root, and it must be consistent with the checkpoint seen at page load and with the previous one. Any failure
 * raises the alarm. Views: #overview, #entries, #lookup (hash routing, plain links: keyboard friendly).
 */
import { ed25519Supported, parseVkey, verifyCheckpoint, type VerifiedCheckpoint, type Vkey } from '../lib/note.js';
import { VerificationError } from '../lib/verifier.js';
import { alarmRaised, initAlarm, raiseAlarm, wireAlarmDownload } from './alarm.js';
import { getJson, getText } from './api.js';
import { byId, setText } from './dom.js';
import { initEntries, loadLatest } from './entries.js';
import { initLookup } from './lookup.js';
import { initOverview } from './overview.js';
import { checkpointChanged, state, verifier } from './state.js';

const VKEY_STORAGE = 'tilelog.vkey';
const POLL_MS = 2000;
const VIEWS = ['overview', 'entries', 'lookup'] as const;

/** Shows the view named by the URL's hash; on a user's navigation, moves focus to the view's heading. */
function route(ev?: Event): void {
  const want = location.hash.slice(1);
  const view = (VIEWS as readonly string[]).includes(want) ? want : 'overview';
  for (const v of VIEWS) {
    byId(`view-${v}`).hidden = v !== view;
    const tab = byId(`tab-${v}`);
    if (v === view) tab.setAttribute('aria-current', 'page');
    else tab.removeAttribute('aria-current');
  }
  if (ev !== undefined) byId(`h-${view}`).focus();
  if (view === 'entries' && byId('entries-body').childElementCount === 0) void loadLatest();
}

function status(text: string): void {
  setText(byId('status'), text);
}

async function setupTrust(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const fromUrl = params.get('vkey');
  const text = fromUrl ?? localStorage.getItem(VKEY_STORAGE) ?? '';
  byId<HTMLInputElement>('vkey').value = text;
  for (const w of params.getAll('witness')) {
    try {
      state.witnessKeys.push(await parseVkey(w));
    } catch (e) {
      setText(byId('vkey-error'), `Ignoring witness key ${w}: ${(e as Error).message}`);
    }
  }
  if (text !== '') {
    try {
      state.trusted = await parseVkey(text);
      if (state.trusted.sigType !== 0x01) throw new Error('a log key must be an Ed25519 key (type 0x01)');
      if (fromUrl !== null) localStorage.setItem(VKEY_STORAGE, text);
    } catch (e) {
      state.trusted = undefined;
      setText(byId('vkey-error'), `This key cannot be used: ${(e as Error).message}`);
    }
  }
  byId('trust-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = byId<HTMLInputElement>('vkey').value.trim();
    void parseVkey(v).then(() => {
      localStorage.setItem(VKEY_STORAGE, v);
      const url = new URL(location.href);
      url.searchParams.set('vkey', v);
      location.replace(url.toString());
    }, (e: unknown) => setText(byId('vkey-error'), `This key cannot be used: ${(e as Error).message}`));
  });
  byId('use-claimed').addEventListener('click', () => {
    if (state.serverVkey !== undefined) byId<HTMLInputElement>('vkey').value = state.serverVkey;
    byId<HTMLInputElement>('vkey').focus();
  });
}

function compareClaim(): void {
  const warn = byId('vkey-warning');
  setText(byId('server-vkey'), state.serverVkey ?? '(unavailable)');
  if (state.trusted === undefined) {
    warn.hidden = false;
    setText(warn, 'No trusted key: nothing on this page is verified. Enter the log\'s public key (vkey), obtained from a source you trust, not from this server.');
    byId('use-claimed').hidden = state.serverVkey === undefined;
  } else if (state.serverVkey !== undefined && state.serverVkey !== state.trusted.text) {
    warn.hidden = false;
    setText(warn, 'Warning: the key this server claims differs from the key you trust. Checkpoints are verified with the key you trust.');
  } else {
    warn.hidden = true;
    byId('use-claimed').hidden = true;
  }
}

async function accept(note: string): Promise<void> {
  if (state.latest?.note === note) return;
  if (!state.seen.includes(note)) state.seen.push(note);
  let v: VerifiedCheckpoint;
  try {
    v = await verifyCheckpoint(note, state.trusted as Vkey, state.witnessKeys);
  } catch (e) {
    throw new VerificationError(`checkpoint: ${(e as Error).message}`, { check: 'checkpoint signature by the trusted key (Ed25519, WebCrypto)', checkpoint: note });
  }
  await verifier.verifyTree(v.checkpoint);
  if (state.atPageLoad !== undefined) await verifier.consistency(state.atPageLoad.checkpoint, v.checkpoint);
  if (state.latest !== undefined && state.latest !== state.atPageLoad) await verifier.consistency(state.latest.checkpoint, v.checkpoint);
  state.atPageLoad ??= v;
  state.latest = v;
  state.latestSeenAt = Date.now();
  status(`Latest checkpoint verified at ${new Date().toLocaleTimeString()}.`);
  checkpointChanged();
}

async function poll(): Promise<void> {
  if (alarmRaised()) return;
  try {
    await accept(await getText('checkpoint', { noStore: true }));
  } catch (e) {
    if (e instanceof VerificationError) raiseAlarm('checkpoint', e);
    else status(`Could not fetch the checkpoint: ${(e as Error).message}`);
  }
}

async function main(): Promise<void> {
  initAlarm({
    trustedVkey: () => state.trusted?.text,
    serverVkey: () => state.serverVkey,
    checkpoints: () => ({ atPageLoad: state.atPageLoad?.note, latest: state.latest?.note, seen: state.seen }),
    tiles: () => verifier.fetched,
  });
  wireAlarmDownload();
  window.addEventListener('hashchange', route);
  initOverview();
  initEntries();
  initLookup();
  route();
  await setupTrust();
  try {
    const info = await getJson<{ vkey?: string }>('v1/log');
    state.serverVkey = typeof info.vkey === 'string' ? info.vkey : undefined;
  } catch {
    state.serverVkey = undefined;
  }
  compareClaim();
  state.ed25519 = await ed25519Supported();
  if (!state.ed25519) {
    const w = byId('crypto-warning');
    w.hidden = false;
    setText(w, 'This browser cannot verify Ed25519 signatures (WebCrypto lacks Ed25519), so nothing here can be verified. Use a current Chromium or Firefox.');
    status('Not verifying: this browser lacks Ed25519.');
    return;
  }
  if (state.trusted === undefined) {
    status('Waiting for a trusted key: nothing is verified.');
    return;
  }
  state.refresh = poll;
  status('Verifying the latest checkpoint…');
  await poll();
  route();
  setInterval(() => void poll(), POLL_MS);
}

void main();
