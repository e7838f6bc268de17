/**
 * Kubernetes API-server audit events (audit.k8s.io/v1 and v1beta1) as log entries.
 * Sources: kubernetes `staging/src/k8s.io/apiserver/pkg/apis/audit/v1/types.go` (Event, EventList) and the webhook
 * backend (`plugin/pkg/audit/webhook/webhook.go`), summarised in shared/docs/formats.md §1.
 *
 * Entry = RFC 8785 canonical JSON of `{"type":"k8s.audit/v1","submitter"?,"event":<the Event as received>,
 * "ingressEvent":<the Event normalised into the ingress event schema>}`.
 * `submitter` is the authenticated writer (omitted when authentication is off), so the log records who sent what.
 *
 * Sameness: two events are the same record iff they have the same `(auditID, stage)` — the API server's own
 * identity of an audit event, which its webhook retries (whole batches, every error) resend unchanged. The
 * sequencer detects duplicates by the identity hash SHA-256("tilelog.dev/k8s-audit/v1\n" || auditID || "\n" ||
 * stage), so a retried batch appends nothing, even if an event's bytes changed in between.
 *
 * Size: an event whose entry would exceed 65,535 bytes keeps its metadata; its `requestObject` and
 * `responseObject` are replaced by `{"elided":true,"sha256":"<hex of the value's canonical JSON>","size":<bytes>}`
 * and `"tilelog.dev/elided"` lists what was elided. If that is still too large, every optional field but the
 * identity, verb, user, objectRef, responseStatus and timestamps is elided the same way.
 */
import { createHash } from 'node:crypto';
import { malformed } from '../core/errors.js';
import { canonicalBytes } from './canonical.js';
import { MAX_ENTRY_SIZE } from '../core/entry-bundle.js';
import type { Hash } from '../core/hash.js';
import { parseK8sAuditEvent } from '../../clients/ingest/index.js';

type Json = Record<string, unknown>;

/** The record type of audit entries. */
export const K8S_AUDIT_TYPE = 'k8s.audit/v1';


function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The events of an EventList as the webhook backend sends it: `kind` (if present) must be `EventList`,
 * `apiVersion` (if present) `audit.k8s.io/v1` or `audit.k8s.io/v1beta1`; items with or without their own
 * kind/apiVersion. Unknown fields are ignored. MALFORMED otherwise.
 */
export function eventsOfList(body: unknown): Json[] {
  if (!isObject(body)) throw malformed('body: want an audit.k8s.io EventList object');
  if (body['kind'] !== undefined && body['kind'] !== 'EventList') throw malformed(`body: kind ${JSON.stringify(body['kind'])} is not EventList`);
  checkApiVersion(body['apiVersion'], 'body');
  const items = body['items'];
  if (items === undefined || items === null) return [];
  if (!Array.isArray(items)) throw malformed('body: items must be an array');
  return items.map((e, i) => checkEvent(e, `items[${i}]`));
}

function checkApiVersion(v: unknown, where: string): void {
  if (v !== undefined && v !== 'audit.k8s.io/v1' && v !== 'audit.k8s.io/v1beta1') throw malformed(`${where}: apiVersion ${JSON.stringify(v)} is not audit.k8s.io/v1 or v1beta1`);
}

/** Checks one Event: an object with non-empty string `auditID` and `stage`; kind (if present) `Event`. */
export function checkEvent(e: unknown, where: string): Json {
  if (!isObject(e)) throw malformed(`${where}: an audit Event must be an object`);
  if (e['kind'] !== undefined && e['kind'] !== 'Event') throw malformed(`${where}: kind ${JSON.stringify(e['kind'])} is not Event`);
  checkApiVersion(e['apiVersion'], where);
  if (typeof e['auditID'] !== 'string' || e['auditID'] === '') throw malformed(`${where}: auditID is required`);
  if (typeof e['stage'] !== 'string' || e['stage'] === '') throw malformed(`${where}: stage is required`);
  return e;
}

/** The identity hash of an audit event: SHA-256("tilelog.dev/k8s-audit/v1\n" || auditID || "\n" || stage). */
export function auditIdentity(e: Json): Hash {
  return createHash('sha256').update(`tilelog.dev/k8s-audit/v1\n${String(e['auditID'])}\n${String(e['stage'])}`).digest();
}

/**
 * The identity hash of a stored entry that is a Kubernetes audit entry (JSON with type k8s.audit/v1, as built by
 * {@link auditEntry}), else undefined. `auditID` and `stage` are never elided, so the identity the ingest passed
 * to the sequencer is always derivable from the entry's bytes (fsck checks the index rows with it; migrate copies
 * them with it).
 */
export function auditEntryIdentity(entry: Uint8Array): Hash | undefined {
  if (entry.length === 0 || entry[0] !== 0x7b || !Buffer.from(entry.buffer, entry.byteOffset, entry.byteLength).includes(`"type":"${K8S_AUDIT_TYPE}"`)) return undefined;
  try {
    const v = JSON.parse(Buffer.from(entry.buffer, entry.byteOffset, entry.byteLength).toString('utf8')) as Record<string, unknown>;
    if (v['type'] !== K8S_AUDIT_TYPE || v['event'] === null || typeof v['event'] !== 'object') return undefined;
    return auditIdentity(v['event'] as Record<string, unknown>);
  } catch {
    return undefined;
  }
}

function elide(value: unknown): Json {
  const c = canonicalBytes(value, 'elided value');
  return { elided: true, sha256: createHash('sha256').update(c).digest('hex'), size: c.length };
}

const KEEP = new Set(['kind', 'apiVersion', 'level', 'auditID', 'stage', 'requestURI', 'verb', 'user', 'impersonatedUser', 'objectRef', 'responseStatus', 'requestReceivedTimestamp', 'stageTimestamp', 'timestamp']);

function entryBytes(event: Json, submitter: string | undefined, ingressEvent: unknown): Uint8Array {
  return canonicalBytes({ type: K8S_AUDIT_TYPE, ...(submitter !== undefined ? { submitter } : {}), event, ingressEvent }, `audit event ${String(event['auditID'])}`);
}

/** The entry for one event (eliding large objects as described above). */
export function auditEntry(event: Json, submitter: string | undefined): Uint8Array {
  // The event normalised into the ingress event schema (docs/ingress-event.md), from the full event.
  const ingressEvent = parseK8sAuditEvent(event);
  return fitAuditEvent(event, (e) => entryBytes(e, submitter, ingressEvent));
}

/**
 * The smallest of `build(event)`, `build(event with requestObject/responseObject elided)` and `build(event with
 * every field but the metadata elided)` that fits in an entry (65,535 bytes); elided values become
 * `{"elided":true,"sha256":<hex of their canonical JSON>,"size":<bytes>}` and `"tilelog.dev/elided"` lists them.
 * MALFORMED when even the last does not fit. Shared by every entry type that embeds an audit Event.
 */
export function fitAuditEvent(event: Json, build: (event: Json) => Uint8Array): Uint8Array {
  let bytes = build(event);
  if (bytes.length <= MAX_ENTRY_SIZE) return bytes;
  const slim: Json = { ...event };
  const elided: string[] = [];
  for (const k of ['requestObject', 'responseObject']) {
    if (slim[k] !== undefined) {
      slim[k] = elide(slim[k]);
      elided.push(k);
    }
  }
  slim['tilelog.dev/elided'] = elided;
  bytes = build(slim);
  if (bytes.length <= MAX_ENTRY_SIZE) return bytes;
  for (const k of Object.keys(slim)) {
    if (!KEEP.has(k) && k !== 'tilelog.dev/elided' && !elided.includes(k)) {
      slim[k] = elide(slim[k]);
      elided.push(k);
    }
  }
  slim['tilelog.dev/elided'] = elided;
  bytes = build(slim);
  if (bytes.length > MAX_ENTRY_SIZE) throw malformed(`audit event ${String(event['auditID'])}: too large even with its objects elided`);
  return bytes;
}
