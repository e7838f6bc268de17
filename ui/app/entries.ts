/**
 * Entries: the latest entries, or any range by index, read from the entry bundles; every entry's leaf hash is
 * checked against the level-0 hash tile authenticated by the latest verified checkpoint. Filters (kind, status
 * class) act on the loaded range.
 */
import { eventRow } from '../lib/events.js';
import { TILE_WIDTH } from '../lib/tiles.js';
import { VerificationError } from '../lib/verifier.js';
import { raiseAlarm } from './alarm.js';
import { byId, h, setText } from './dom.js';
import { entryRows } from './entry-view.js';
import { state, verifier } from './state.js';

const MAX_COUNT = 1000n;

function applyFilters(): void {
  const kind = byId<HTMLSelectElement>('filter-kind').value;
  const status = byId<HTMLSelectElement>('filter-status').value;
  let shown = 0;
  let total = 0;
  for (const tr of byId('entries-body').querySelectorAll<HTMLTableRowElement>('tr[data-index]')) {
    total++;
    const s = tr.dataset['status'] ?? '';
    const ok = (kind === '' || tr.dataset['kind'] === kind) &&
      (status === '' || (status === 'none' ? s === '' : s.startsWith(status.slice(0, 1)) && s.length === 3));
    tr.hidden = !ok;
    const raw = tr.nextElementSibling as HTMLTableRowElement | null;
    if (raw !== null && raw.classList.contains('raw-row')) {
      const expanded = tr.querySelector('button.raw-toggle')?.getAttribute('aria-expanded') === 'true';
      raw.hidden = !ok || !expanded;
    }
    if (ok) shown++;
  }
  setText(byId('entries-filter-count'), total === 0 ? '' : `${shown} of ${total} loaded entries shown`);
}

/** Loads entries [from, from + count) ∩ [0, tree size). */
async function load(from: bigint, count: bigint): Promise<void> {
  const status = byId('entries-status');
  const v = state.latest;
  if (v === undefined) {
    setText(status, 'No verified checkpoint yet: set the trusted key first.');
    return;
  }
  const cp = v.checkpoint;
  const end = from + count < cp.treeSize ? from + count : cp.treeSize;
  if (from >= end) {
    setText(status, `Nothing to show: the tree has ${cp.treeSize} entries (indexes 0 to ${cp.treeSize - 1n}).`);
    byId('entries-body').replaceChildren();
    applyFilters();
    return;
  }
  setText(status, `Loading entries ${from} to ${end - 1n}…`);
  const rows: HTMLTableRowElement[] = [];
  const kinds = new Set<string>();
  const W = BigInt(TILE_WIDTH);
  try {
    for (let b = from / W; b * W < end; b++) {
      const entries = await verifier.verifiedBundle(b, cp);
      entries.forEach((e, i) => {
        const index = b * W + BigInt(i);
        if (index < from || index >= end) return;
        const row = eventRow(e);
        kinds.add(row.kind);
        rows.push(...entryRows(index, e, row));
      });
    }
  } catch (e) {
    if (e instanceof VerificationError) raiseAlarm(`entries ${from}–${end - 1n}`, e);
    setText(status, `Could not load entries: ${(e as Error).message}`);
    return;
  }
  byId('entries-body').replaceChildren(...rows);
  const sel = byId<HTMLSelectElement>('filter-kind');
  const keep = sel.value;
  sel.replaceChildren(h('option', { value: '' }, 'All kinds'), ...[...kinds].sort().map((k) => h('option', { value: k }, k)));
  sel.value = kinds.has(keep) ? keep : '';
  applyFilters();
  setText(status, `✔ Entries ${from} to ${end - 1n} of ${cp.treeSize}: each leaf hash matches the hash tiles verified against the checkpoint (size ${cp.treeSize}).`);
}

function parseIndex(s: string): bigint | undefined {
  return /^(0|[1-9][0-9]{0,18})$/.test(s.trim()) ? BigInt(s.trim()) : undefined;
}

/** Wires the entries view. */
export function initEntries(): void {
  byId('entries-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const from = parseIndex(byId<HTMLInputElement>('entries-from').value);
    const count = parseIndex(byId<HTMLSelectElement>('entries-count').value) ?? 64n;
    if (from === undefined) {
      setText(byId('entries-status'), 'The start index must be a whole number ≥ 0.');
      return;
    }
    void load(from, count > MAX_COUNT ? MAX_COUNT : count);
  });
  byId('entries-latest').addEventListener('click', () => void loadLatest());
  byId('filter-kind').addEventListener('change', applyFilters);
  byId('filter-status').addEventListener('change', applyFilters);
}

/** Loads the latest entries (the last `count`). */
export async function loadLatest(): Promise<void> {
  const v = state.latest;
  if (v === undefined) return;
  const count = parseIndex(byId<HTMLSelectElement>('entries-count').value) ?? 64n;
  const n = v.checkpoint.treeSize;
  const from = n > count ? n - count : 0n;
  byId<HTMLInputElement>('entries-from').value = from.toString();
  await load(from, count);
}
