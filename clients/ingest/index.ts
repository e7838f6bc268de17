/**
 * Pure parsers from the Kubernetes ecosystem's records to the normalised IngressEvent (docs/ingress-event.md).
 * No I/O, no clock; no parser throws.
 */
import { type IngressEvent, type LinePosition, isRecord } from './event.js';
import { parseEnvoyLine } from './envoy.js';
import { parseIngressNginxJsonLine, parseIngressNginxLine } from './ingress-nginx.js';
import { parseK8sAuditLine } from './k8s-audit.js';
import { parseTraefikJsonLine, parseTraefikLine } from './traefik.js';

export * from './event.js';
export { NGINX_JSON_KEYS, isUpstreamAddress, parseIngressNginxJsonLine, parseIngressNginxLine } from './ingress-nginx.js';
export { parseTraefikJsonLine, parseTraefikLine } from './traefik.js';
export { parseEnvoyLine } from './envoy.js';
export { CONFIG_RESOURCES, WRITE_VERBS, parseK8sAuditEvent, parseK8sAuditEventList, parseK8sAuditLine } from './k8s-audit.js';

const TRAEFIK_JSON_KEYS = ['DownstreamStatus', 'RequestMethod', 'StartUTC', 'RouterName', 'ClientHost', 'OriginStatus'];

/**
 * Parses one access-log line whose format is not known in advance:
 *  - a JSON object: an audit Event (has `auditID`) → k8s-audit; Traefik keys (`DownstreamStatus`, `RequestMethod`,
 *    `StartUTC`, …) → traefik json; anything else → ingress-nginx json;
 *  - text starting with `[` → Envoy default format;
 *  - text ending in `<n>ms` → Traefik common log format;
 *  - any other text → ingress-nginx default format (whose `unparsed` reason then says it matched nothing).
 * Never throws.
 */
export function parseAccessLine(line: string, position?: LinePosition): IngressEvent {
  const t = line.trim();
  if (t.startsWith('{')) {
    let o: unknown;
    try {
      o = JSON.parse(t);
    } catch {
      return parseIngressNginxJsonLine(line, position); // may still be repairable nginx JSON
    }
    if (isRecord(o)) {
      if (Object.prototype.hasOwnProperty.call(o, 'auditID')) return parseK8sAuditLine(line, position);
      if (TRAEFIK_JSON_KEYS.some((k) => Object.prototype.hasOwnProperty.call(o, k))) return parseTraefikJsonLine(line, position);
    }
    return parseIngressNginxJsonLine(line, position);
  }
  if (t.startsWith('[')) return parseEnvoyLine(line, position);
  if (/ \d+ms$/.test(t)) return parseTraefikLine(line, position);
  return parseIngressNginxLine(line, position);
}
