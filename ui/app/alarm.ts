/**
 * The alarm: any verification failure of what the log served turns the page red, names the failure, and offers
 * the evidence (checkpoints seen, the tiles involved, the failed computation) as a JSON download.
 */
import { toBase64 } from '../lib/bytes.js';
import { VerificationError } from '../lib/verifier.js';
import { byId, setText } from './dom.js';

/** What the evidence file needs from the page's state. */
export interface EvidenceSource {
  trustedVkey(): string | undefined;
  serverVkey(): string | undefined;
  checkpoints(): { atPageLoad?: string; latest?: string; seen: readonly string[] };
  tiles(): ReadonlyMap<string, Uint8Array>;
}

let source: EvidenceSource | undefined;
let raised = false;

/** Registers where evidence comes from. */
export function initAlarm(s: EvidenceSource): void {
  source = s;
}

/** True once an alarm was raised (verification stops being reported as good). */
export function alarmRaised(): boolean {
  return raised;
}

/** Raises the alarm for `err` (idempotent for the first failure; later ones are appended). */
export function raiseAlarm(what: string, err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  const computation = err instanceof VerificationError ? err.computation : { error: message };
  const banner = byId('alarm');
  banner.hidden = false; // shown before its content changes, so that screen readers announce the new item
  const li = document.createElement('li');
  li.textContent = `${what}: ${message}`;
  byId('alarm-list').append(li);
  const s = source;
  const relevant = new Set<string>(Array.isArray(computation['tiles']) ? (computation['tiles'] as string[]) : []);
  if (typeof computation['tile'] === 'string') relevant.add(computation['tile']);
  if (typeof computation['parentTile'] === 'string') relevant.add(computation['parentTile']);
  const tiles: Record<string, string> = {};
  // Every hash tile fetched (small, and what the checkpoints commit to); entry bundles only when involved.
  for (const [path, bytes] of s?.tiles() ?? new Map<string, Uint8Array>()) {
    if (!path.startsWith('tile/entries/') || relevant.has(path)) tiles[path] = toBase64(bytes);
  }
  const evidence = {
    kind: 'tilelog-explorer-evidence/v1',
    generatedAt: new Date().toISOString(),
    page: location.href,
    failure: { what, message, computation },
    trustedVkey: s?.trustedVkey() ?? null,
    serverClaimedVkey: s?.serverVkey() ?? null,
    checkpoints: s?.checkpoints() ?? null,
    tilesInvolved: [...relevant],
    tiles,
  };
  const prev = byId('alarm-download').dataset['evidence'];
  const all = prev === undefined ? [evidence] : [...(JSON.parse(prev) as unknown[]), evidence];
  byId('alarm-download').dataset['evidence'] = JSON.stringify(all);
  if (!raised) {
    raised = true;
    document.title = `⚠ VERIFICATION FAILED — ${document.title}`;
    document.body.classList.add('alarmed');
    setText(byId('alarm-title'), 'Verification failed: do not trust what this log shows');
    const ov = byId('ov-verified');
    ov.className = 'verdict bad';
    setText(ov, `✘ NOT verified: ${message}`);
    setText(byId('status'), 'Verification failed: see the alarm at the top of the page. Polling stopped.');
    byId('alarm-download').focus();
  }
  console.warn(`tilelog explorer: verification failed: ${what}: ${message}`);
}

/** Wires the download button. */
export function wireAlarmDownload(): void {
  byId('alarm-download').addEventListener('click', () => {
    const data = byId('alarm-download').dataset['evidence'] ?? '[]';
    const blob = new Blob([JSON.stringify(JSON.parse(data), null, 2) + '\n'], { type: 'application/json' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `tilelog-evidence-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  });
}
