/**
 * Overview: origin, trusted vkey, tree size, root hash, checkpoint age, witnesses that cosigned the latest
 * checkpoint (and when), what was verified, and the live growth chart. Updates in place (text only).
 */
import { toBase64, toHex } from '../lib/bytes.js';
import { alarmRaised } from './alarm.js';
import { GrowthChart, metricValue } from './chart.js';
import { byId, formatAge, h, setText } from './dom.js';
import { getText } from './api.js';
import { onCheckpoint, state } from './state.js';

let chart: GrowthChart | undefined;
let serverAgeSeconds: number | undefined;
let serverAgeAt = 0;
let lastIntegrated: { t: number; size: number } | undefined;
let lastRate: number | undefined;

function renderCheckpoint(): void {
  const v = state.latest;
  if (v === undefined) return;
  const cp = v.checkpoint;
  setText(byId('ov-origin'), cp.origin);
  setText(byId('ov-vkey'), state.trusted?.text ?? '');
  setText(byId('ov-size'), cp.treeSize.toString());
  byId('ov-size').dataset['value'] = cp.treeSize.toString();
  setText(byId('ov-root-hex'), toHex(cp.rootHash));
  setText(byId('ov-root-b64'), toBase64(cp.rootHash));
  byId('ov-root-hex').dataset['base64'] = toBase64(cp.rootHash);
  const first = state.atPageLoad;
  if (!alarmRaised()) {
    setText(byId('ov-verified'), `✔ Verified in this browser: the checkpoint is signed by the trusted key; the hash tiles hash to its root` +
      (first !== undefined && first.checkpoint.treeSize !== cp.treeSize ? `; it is consistent with the checkpoint seen at page load (size ${first.checkpoint.treeSize}).` : '.'));
    byId('ov-verified').className = 'verdict ok';
  }
  const body = byId('ov-witnesses');
  if (v.cosignatures.length === 0) {
    body.replaceChildren(h('tr', {}, h('td', { colspan: '4' }, 'No witness cosigned this checkpoint.')));
  } else {
    body.replaceChildren(...v.cosignatures.map((c) => h('tr', {},
      h('td', {}, c.name),
      h('td', { class: 'mono' }, c.keyId.toString(16).padStart(8, '0')),
      h('td', {}, new Date(Number(c.timestamp) * 1000).toISOString().replace('.000Z', 'Z')),
      h('td', {}, c.verified === true ? '✔ verified' : 'not verified (pass ?witness=<vkey> to check)'))));
  }
  chart?.add(Date.now(), Number(cp.treeSize), lastRate);
}

function tickAge(): void {
  if (state.latest === undefined) return;
  const seen = (Date.now() - state.latestSeenAt) / 1000;
  const server = serverAgeSeconds === undefined ? undefined : serverAgeSeconds + (Date.now() - serverAgeAt) / 1000;
  const newestCosig = state.latest.cosignatures.filter((c) => c.verified === true).map((c) => Number(c.timestamp)).sort((a, b) => b - a)[0];
  let text = server !== undefined ? `${formatAge(server)} (server's metrics)` : formatAge(seen);
  text += `; first seen by this page ${formatAge(seen)} ago`;
  if (newestCosig !== undefined) text += `; cosigned ${formatAge(Date.now() / 1000 - newestCosig)} ago`;
  setText(byId('ov-age'), text);
}

async function pollMetrics(): Promise<void> {
  try {
    const text = await getText('metrics', { noStore: true });
    const now = Date.now();
    const integrated = metricValue(text, 'tilelog_tree_size', { state: 'integrated' });
    const age = metricValue(text, 'tilelog_checkpoint_age_seconds');
    if (age !== undefined) {
      serverAgeSeconds = age;
      serverAgeAt = now;
    }
    if (integrated !== undefined) {
      if (lastIntegrated !== undefined && now > lastIntegrated.t) lastRate = Math.max(0, (integrated - lastIntegrated.size) / ((now - lastIntegrated.t) / 1000));
      lastIntegrated = { t: now, size: integrated };
      setText(byId('ov-rate'), lastRate === undefined ? '…' : `${lastRate.toFixed(1)} entries/s (integrated ${integrated})`);
    }
  } catch {
    setText(byId('ov-rate'), 'metrics unavailable');
  }
}

/** Sets the overview up: chart, age ticker, metrics polling. */
export function initOverview(): void {
  chart = new GrowthChart(byId('ov-chart') as unknown as SVGSVGElement);
  onCheckpoint(renderCheckpoint);
  setInterval(tickAge, 1000);
  void pollMetrics();
  setInterval(() => void pollMetrics(), 2000);
  setInterval(() => {
    if (state.latest !== undefined) chart?.add(Date.now(), Number(state.latest.checkpoint.treeSize), lastRate);
  }, 2000);
}
