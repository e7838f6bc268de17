/**
 * The log entry of one collected record (docs/collector.md#entries). Pure: no I/O, no clock.
 *
 * Entry = RFC 8785 canonical JSON of
 * `{"type":"collector.record/v1","collector":<name>,"input":<input name>,"origin":<origin>,…}` with
 *  - a line record (files, CRI, stdin): `"text"` (the line as read; CRI: the joined message), `"event"` (the line
 *    normalised into the ingress event schema, docs/ingress-event.md), and for CRI `"stream"` and `"criTime"`;
 *    `"truncated":true` when the input cut an over-long line;
 *  - an audit Event (webhook or audit log file): `"auditEvent"` (the Event as received, large objects elided as
 *    for `/v1/k8s/audit`) and `"event"` (normalised).
 *
 * Invariant (what makes resends harmless): the entry is a function of the record's identity and content only —
 * the collector's name, the input's name, the origin (file identity + byte offset, or audit ID + stage) and the
 * text. No clock, no sequence number. A record re-read after a crash produces the same bytes, hence the same leaf
 * hash, which the log reports as a duplicate; two equal lines at different offsets are two different entries.
 */
import {
  isRecord,
  parseAccessLine,
  parseEnvoyLine,
  parseIngressNginxJsonLine,
  parseIngressNginxLine,
  parseK8sAuditEvent,
  parseK8sAuditLine,
  parseTraefikJsonLine,
  parseTraefikLine,
  type IngressEvent,
} from '../ingest/index.js';
import { canonicalBytes } from '../../server/ingest/canonical.js';
import { checkEvent, fitAuditEvent } from '../../server/ingest/k8s-audit.js';
import { MAX_ENTRY_SIZE } from '../../server/core/entry-bundle.js';
import type { InputRecord } from './inputs/input.js';

/** The record type of collector entries. */
export const COLLECTOR_RECORD_TYPE = 'collector.record/v1';

/** How an input's lines are read. `auto` detects the access-log format per line (parseAccessLine). */
export type RecordFormat = 'auto' | 'ingress-nginx' | 'ingress-nginx-json' | 'traefik' | 'traefik-json' | 'envoy' | 'k8s-audit' | 'raw';

export const RECORD_FORMATS: readonly RecordFormat[] = ['auto', 'ingress-nginx', 'ingress-nginx-json', 'traefik', 'traefik-json', 'envoy', 'k8s-audit', 'raw'];

/** The origin of an audit Event: the API server's own identity of it. */
export interface AuditOrigin {
  readonly auditID: string;
  readonly stage: string;
}

type Json = Record<string, unknown>;

function parseLine(text: string, format: RecordFormat): IngressEvent | undefined {
  switch (format) {
    case 'raw':
      return undefined;
    case 'auto':
      return parseAccessLine(text);
    case 'ingress-nginx':
      return parseIngressNginxLine(text);
    case 'ingress-nginx-json':
      return parseIngressNginxJsonLine(text);
    case 'traefik':
      return parseTraefikLine(text);
    case 'traefik-json':
      return parseTraefikJsonLine(text);
    case 'envoy':
      return parseEnvoyLine(text);
    case 'k8s-audit':
      return parseK8sAuditLine(text);
  }
}

/**
 * The entry of a line record. For `k8s-audit` lines that are a JSON audit Event, the Event itself is embedded
 * (origin still the file and offset: the audit log file is read like any file). Throws MALFORMED only if even the
 * minimal entry cannot be built (never for lines the input produced: they are at most maxLineBytes).
 */
export function lineEntry(collector: string, r: InputRecord, format: RecordFormat): Uint8Array {
  const base: Json = { type: COLLECTOR_RECORD_TYPE, collector, input: r.input, origin: { ...r.origin } };
  if (r.stream !== undefined) base['stream'] = r.stream;
  if (r.criTime !== undefined) base['criTime'] = r.criTime;
  if (r.truncated === true) base['truncated'] = true;
  if (r.malformed === true) base['criMalformed'] = true;
  if (format === 'k8s-audit') {
    let o: unknown;
    try {
      o = JSON.parse(r.text);
    } catch {
      o = undefined;
    }
    if (isRecord(o) && typeof o['auditID'] === 'string' && typeof o['stage'] === 'string') {
      const event = parseK8sAuditEvent(o);
      return fitAuditEvent(o, (e) => canonicalBytes({ ...base, auditEvent: e, event }, `${r.input}@${String(r.origin.offset)}`));
    }
  }
  const event = parseLine(r.text, format);
  const full = canonicalBytes({ ...base, text: r.text, ...(event !== undefined ? { event } : {}) }, `${r.input}@${String(r.origin.offset)}`);
  if (full.length <= MAX_ENTRY_SIZE) return full;
  // The normalised event repeats the line; drop it rather than the line itself.
  return canonicalBytes({ ...base, text: r.text, eventOmitted: 'entry too large' }, `${r.input}@${String(r.origin.offset)}`);
}

/**
 * The entry of an audit Event received by the collector's webhook receiver. Origin = (auditID, stage): the API
 * server resends whole batches unchanged on errors, so a resent event is the same entry.
 */
export function auditEventEntry(collector: string, input: string, event: unknown, where: string): { entry: Uint8Array; origin: AuditOrigin } {
  const e = checkEvent(event, where);
  const origin: AuditOrigin = { auditID: e['auditID'] as string, stage: e['stage'] as string };
  const normalised = parseK8sAuditEvent(e);
  const entry = fitAuditEvent(e, (x) => canonicalBytes({ type: COLLECTOR_RECORD_TYPE, collector, input, origin, auditEvent: x, event: normalised }, where));
  return { entry, origin };
}
