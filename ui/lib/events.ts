/**
 * Reads an entry as a table row: the normalised ingress event (docs/ingress-event.md) of collector
 * (`collector.record/v1` → `event`), audit (`k8s.audit/v1` → `ingressEvent`) and shipper (`log.record/v1` →
 * `event`) entries, a bare ingress event, Rekor entries, or anything else. Untrusted input: never throws.
 */

/** One row of the entries table. Every field is display text ('' when absent). */
export interface EventRow {
  readonly type: string;
  readonly time: string;
  readonly kind: string;
  readonly controller: string;
  readonly namespaceIngress: string;
  readonly method: string;
  readonly host: string;
  readonly path: string;
  readonly status: string;
  readonly client: string;
  readonly user: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'bigint' ? String(v) : '');
const get = (o: unknown, ...path: string[]): unknown => {
  let v = o;
  for (const p of path) v = isObj(v) ? v[p] : undefined;
  return v;
};

/** Parses entry bytes as JSON, or undefined when they are not UTF-8 JSON. */
export function parseEntryJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as unknown;
  } catch {
    return undefined;
  }
}

/** The ingress event inside an entry, if any. */
export function ingressEventOf(entry: unknown): Obj | undefined {
  if (!isObj(entry)) return undefined;
  const t = entry['type'];
  const ev = t === 'k8s.audit/v1' ? entry['ingressEvent'] : t === 'collector.record/v1' || t === 'log.record/v1' ? entry['event'] : entry;
  return isObj(ev) && typeof ev['kind'] === 'string' ? ev : undefined;
}

/** The table row of an entry (bytes). */
export function eventRow(bytes: Uint8Array): EventRow {
  const json = parseEntryJson(bytes);
  const type = isObj(json) && typeof json['type'] === 'string' ? json['type'] : isObj(json) && typeof json['kind'] === 'string' && isObj(json['spec']) ? `rekor ${str(json['kind'])}` : json === undefined ? 'binary' : 'json';
  const ev = ingressEventOf(json);
  if (ev === undefined) {
    return { type, time: '', kind: type.startsWith('rekor') ? 'rekor' : 'other', controller: '', namespaceIngress: '', method: '', host: '', path: '', status: '', client: '', user: '' };
  }
  const ns = str(get(ev, 'ingress', 'namespace')) || str(get(ev, 'k8s', 'namespace'));
  const name = str(get(ev, 'ingress', 'name')) || str(get(ev, 'k8s', 'name'));
  return {
    type,
    time: str(ev['time']),
    kind: str(ev['kind']),
    controller: str(get(ev, 'source', 'type')),
    namespaceIngress: ns && name ? `${ns}/${name}` : ns || name,
    method: str(get(ev, 'request', 'method')) || str(get(ev, 'k8s', 'verb')),
    host: str(get(ev, 'request', 'host')),
    path: str(get(ev, 'request', 'path')) || str(get(ev, 'request', 'line')),
    status: str(get(ev, 'response', 'status')),
    client: str(get(ev, 'client', 'address')),
    user: str(get(ev, 'client', 'user')) || str(get(ev, 'k8s', 'user')),
  };
}
