/** Renders entries as table rows (one row per entry, raw JSON on demand in a row below). */
import { fromUtf8, toHex } from '../lib/bytes.js';
import { eventRow, parseEntryJson, type EventRow } from '../lib/events.js';
import { h } from './dom.js';

/** Columns of the entries table, in order. */
export const COLUMNS: readonly [keyof EventRow, string][] = [
  ['time', 'Time'],
  ['kind', 'Kind'],
  ['controller', 'Controller'],
  ['namespaceIngress', 'Namespace/ingress'],
  ['method', 'Method'],
  ['host', 'Host'],
  ['path', 'Path'],
  ['status', 'Status'],
  ['client', 'Client'],
  ['user', 'User'],
];

/** Pretty raw form of an entry: indented JSON, else UTF-8 text, else hex. */
export function rawText(bytes: Uint8Array): string {
  const json = parseEntryJson(bytes);
  if (json !== undefined) return JSON.stringify(json, null, 2);
  try {
    return fromUtf8(bytes);
  } catch {
    return toHex(bytes);
  }
}

/** The `<tr>` pair (row + hidden raw row) of entry `index`. */
export function entryRows(index: bigint, bytes: Uint8Array, row: EventRow = eventRow(bytes)): HTMLTableRowElement[] {
  const rawId = `raw-${index}`;
  const button = h('button', { type: 'button', class: 'raw-toggle', 'aria-expanded': 'false', 'aria-controls': rawId }, 'Raw');
  const tr = h('tr', { 'data-index': index.toString(), 'data-kind': row.kind, 'data-status': row.status },
    h('th', { scope: 'row' }, index.toString()),
    ...COLUMNS.map(([k]) => h('td', { class: `col-${k}` }, row[k])),
    h('td', {}, button));
  const raw = h('tr', { id: rawId, class: 'raw-row', hidden: '' }, h('td', { colspan: String(COLUMNS.length + 2) }, h('pre', { tabindex: '0' }, rawText(bytes))));
  button.addEventListener('click', () => {
    const open = raw.hidden;
    raw.hidden = !open;
    button.setAttribute('aria-expanded', String(open));
    button.textContent = open ? 'Hide' : 'Raw';
  });
  return [tr, raw];
}
