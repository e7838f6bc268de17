/**
 * Kubernetes API-server audit events (audit.k8s.io/v1 and v1beta1 `Event`) → IngressEvent.
 *
 * SPEC: kubernetes/kubernetes staging/src/k8s.io/apiserver/pkg/apis/audit/v1/types.go; shared/docs/formats.md §1.
 * Parsing is lenient as real data requires: `kind` and `apiVersion` may be missing (webhook EventList items,
 * falco captures), legacy keys (`metadata`, `timestamp`) are accepted, unknown keys are ignored. Required:
 * `auditID`, `stage` and `verb` as strings.
 *
 * Kind, decided in this order:
 *  1. denied — responseStatus.code 401 or 403, or annotation `authorization.k8s.io/decision: forbid`, or an
 *     admission denial (`admission webhook "…" denied the request`, or a code ≥ 400 with responseStatus.reason
 *     `Forbidden`/`Unauthorized`).
 *  2. error — responseStatus.code ≥ 500.
 *  3. config_change — a write (create, update, patch, delete, deletecollection) to an ingress-related resource
 *     ({@link CONFIG_RESOURCES}) that has not failed: no code yet (stage RequestReceived) or a code < 400.
 *  4. access — anything else: an API request that is neither of the above is an *access of the API* (reads,
 *     watches, exec, writes to other resources, and writes rejected with another 4xx such as 409 Conflict).
 * Every stage of a request gives its own event; dedupe on (k8s.auditId, k8s.stage).
 */
import {
  type IngressEvent,
  type IngressEventKind,
  type LinePosition,
  checkRfc3339,
  isRecord,
  makeEvent,
  makeSource,
  own,
  uint,
  unparsed,
} from './event.js';

/** Resources whose writes are `config_change`, by API group ("" = core). */
export const CONFIG_RESOURCES: Readonly<Record<string, readonly string[]>> = {
  '': ['configmaps', 'secrets'],
  'networking.k8s.io': ['ingresses', 'ingressclasses'],
  extensions: ['ingresses'],
  'gateway.networking.k8s.io': [
    'gatewayclasses', 'gateways', 'httproutes', 'grpcroutes', 'tlsroutes', 'tcproutes', 'udproutes', 'referencegrants',
    'backendtlspolicies',
  ],
  'traefik.io': ['ingressroutes', 'ingressroutetcps', 'ingressrouteudps', 'middlewares', 'middlewaretcps', 'tlsoptions', 'serverstransports'],
  'traefik.containo.us': ['ingressroutes', 'ingressroutetcps', 'ingressrouteudps', 'middlewares', 'middlewaretcps', 'tlsoptions', 'serverstransports'],
  'admissionregistration.k8s.io': ['validatingwebhookconfigurations'],
};

/** Verbs that change objects. */
export const WRITE_VERBS: readonly string[] = ['create', 'update', 'patch', 'delete', 'deletecollection'];

function s(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function rec(v: unknown): Record<string, unknown> {
  return isRecord(v) ? v : {};
}

function strings(v: unknown): string[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out = v.filter((x): x is string => typeof x === 'string' && x !== '');
  return out.length > 0 ? out : undefined;
}

function rawOf(event: unknown): string {
  try {
    const j = JSON.stringify(event);
    return typeof j === 'string' ? j : String(event);
  } catch {
    return '[unserialisable value]';
  }
}

/** The API group of a request: objectRef.apiGroup, else from `/apis/<group>/…`, else core for `/api/…`. */
function apiGroupOf(objectRef: Record<string, unknown>, requestURI: string | undefined): string | undefined {
  const g = own(objectRef, 'apiGroup');
  if (typeof g === 'string') return g;
  if (requestURI === undefined) return undefined;
  const m = /^\/apis\/([^/?]+)\//.exec(requestURI);
  if (m) return m[1];
  return requestURI.startsWith('/api/') ? '' : undefined;
}

const ADMISSION_DENIED = /admission webhook "[^"]*" denied the request/;

/**
 * Maps one audit Event object (already JSON-parsed, untrusted) to an IngressEvent. Never throws; returns
 * `unparsed` with the object re-serialised as `raw` when it is not an Event. `defaultApiVersion` is reported as
 * `source.format` when the event has no apiVersion of its own (EventList items).
 */
export function parseK8sAuditEvent(event: unknown, position?: LinePosition, defaultApiVersion?: string): IngressEvent {
  const apiVersion = isRecord(event) ? s(own(event, 'apiVersion')) : undefined;
  const source = makeSource('k8s-audit', apiVersion ?? defaultApiVersion ?? 'audit.k8s.io', position);
  try {
    if (!isRecord(event)) return unparsed(rawOf(event), 'audit event is not a JSON object', source);
    const g = (k: string): unknown => own(event, k);
    const kind = s(g('kind'));
    if (kind !== undefined && kind !== 'Event') return unparsed(rawOf(event), `kind ${JSON.stringify(kind)} is not an audit Event`, source);
    if (apiVersion !== undefined && !apiVersion.startsWith('audit.k8s.io/')) return unparsed(rawOf(event), `apiVersion ${JSON.stringify(apiVersion)} is not audit.k8s.io`, source);
    const auditId = s(g('auditID'));
    const stage = s(g('stage'));
    const verb = s(g('verb'));
    if (auditId === undefined || stage === undefined || verb === undefined) {
      return unparsed(rawOf(event), 'not an audit Event: auditID, stage and verb are required strings', source);
    }
    const user = rec(g('user'));
    const imp = rec(g('impersonatedUser'));
    const ref = rec(g('objectRef'));
    const status = rec(g('responseStatus'));
    const ann = rec(g('annotations'));
    const requestURI = s(g('requestURI'));
    const code = uint(own(status, 'code'));
    const decision = s(own(ann, 'authorization.k8s.io/decision'));
    const statusReason = s(own(status, 'reason'));
    const message = s(own(status, 'message'));
    const resource = s(own(ref, 'resource'));
    const apiGroup = apiGroupOf(ref, requestURI);
    const sourceIPs = strings(g('sourceIPs'));

    let k: IngressEventKind;
    let reason: string | undefined;
    if (code === 401 || code === 403) {
      k = 'denied';
      reason = `responseStatus.code ${code}${statusReason ? ` ${statusReason}` : ''}`;
    } else if (decision === 'forbid') {
      k = 'denied';
      reason = 'authorization.k8s.io/decision: forbid';
    } else if (code !== undefined && code >= 400 && ((message !== undefined && ADMISSION_DENIED.test(message)) || statusReason === 'Forbidden' || statusReason === 'Unauthorized')) {
      k = 'denied';
      reason = `admission denied (${code}${statusReason ? ` ${statusReason}` : ''})`;
    } else if (code !== undefined && code >= 500) {
      k = 'error';
      reason = `responseStatus.code ${code}${statusReason ? ` ${statusReason}` : ''}`;
    } else if (
      WRITE_VERBS.includes(verb) &&
      resource !== undefined &&
      apiGroup !== undefined &&
      (CONFIG_RESOURCES[apiGroup]?.includes(resource) ?? false) &&
      (code === undefined || code < 400)
    ) {
      k = 'config_change';
    } else {
      k = 'access';
    }

    const timeV = s(g('stageTimestamp')) ?? s(g('requestReceivedTimestamp')) ?? s(g('timestamp'));
    const reqObj = rec(g('requestObject'));
    const ingressClass =
      (resource === 'ingresses' ? s(own(rec(own(reqObj, 'spec')), 'ingressClassName')) : undefined) ??
      (resource === 'ingresses' ? s(own(rec(own(rec(own(reqObj, 'metadata')), 'annotations')), 'kubernetes.io/ingress.class')) : undefined);
    const isIngress = resource === 'ingresses' || resource === 'httproutes' || resource === 'gateways' || resource === 'grpcroutes';

    return makeEvent({
      kind: k,
      time: timeV === undefined ? undefined : checkRfc3339(timeV),
      source,
      client: {
        address: sourceIPs?.[sourceIPs.length - 1],
        user: s(own(user, 'username')),
        userAgent: s(g('userAgent')),
        forwardedFor: sourceIPs !== undefined && sourceIPs.length > 1 ? sourceIPs.join(', ') : undefined,
      },
      request: { path: requestURI },
      response: { status: code },
      ingress: isIngress
        ? { namespace: s(own(ref, 'namespace')), name: s(own(ref, 'name')), class: ingressClass }
        : undefined,
      k8s: {
        auditId,
        stage,
        level: s(g('level')),
        verb,
        user: s(own(user, 'username')),
        groups: strings(own(user, 'groups')),
        impersonatedUser: s(own(imp, 'username')),
        resource,
        subresource: s(own(ref, 'subresource')),
        namespace: s(own(ref, 'namespace')),
        name: s(own(ref, 'name')),
        apiGroup: apiGroup === '' ? undefined : apiGroup,
        apiVersion: s(own(ref, 'apiVersion')),
        decision,
        authorizationReason: s(own(ann, 'authorization.k8s.io/reason')),
        statusReason,
        message,
      },
      reason,
    });
  } catch (e) {
    return unparsed(rawOf(event), `internal parser error: ${String(e)}`, source);
  }
}

/** Parses one line of an audit log file (`--audit-log-path`, one JSON Event per line). Never throws. */
export function parseK8sAuditLine(line: string, position?: LinePosition): IngressEvent {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    return unparsed(line, `invalid JSON: ${e instanceof Error ? e.message : String(e)}`, makeSource('k8s-audit', 'audit.k8s.io', position));
  }
  const ev = parseK8sAuditEvent(v, position);
  // Keep the line byte for byte in `raw`, not the re-serialisation.
  return ev.kind === 'unparsed' ? { ...ev, raw: line } : ev;
}

/**
 * Maps an audit webhook body: an `EventList` (`{kind: "EventList", items: [...]}`), a bare array of Events, or a
 * single Event. Returns one event per item, in order. Never throws.
 */
export function parseK8sAuditEventList(body: unknown): IngressEvent[] {
  if (Array.isArray(body)) return body.map((e) => parseK8sAuditEvent(e));
  if (isRecord(body) && own(body, 'kind') === 'EventList') {
    const items = own(body, 'items');
    if (!Array.isArray(items)) {
      return [unparsed(rawOf(body), 'EventList without an items array', makeSource('k8s-audit', s(own(body, 'apiVersion')) ?? 'audit.k8s.io'))];
    }
    const listVersion = s(own(body, 'apiVersion'));
    return items.map((e) => parseK8sAuditEvent(e, undefined, listVersion));
  }
  return [parseK8sAuditEvent(body)];
}
