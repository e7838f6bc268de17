/**
 * `POST /v1/k8s/audit`: the kube-apiserver audit webhook backend (an audit.k8s.io/v1 or v1beta1 EventList as
 * `application/json`, exactly as the API server sends it) and the audit log backend's JSON lines
 * (`application/x-ndjson`, one Event per line). Each Event becomes one entry (server/ingest/k8s-audit.ts); the
 * reply is 200 only once the whole batch is durably sequenced, 503 + Retry-After on pushback. A retried batch
 * appends nothing: duplicates are detected by `(auditID, stage)`.
 */
import express, { Router, type Request, type Response } from 'express';
import { TlogError } from '../core/errors.js';
import type { Principal } from '../auth.js';
import { auditEntry, auditIdentity, checkEvent, eventsOfList } from '../ingest/k8s-audit.js';
import { entriesReply, writerAuth, type ApiOptions, type ApiServices } from './api-routes.js';
import { decodeJsonValues, decodeUtf8, mediaType, parseJson } from './entries-body.js';
import { queryParams, sendJson } from './util.js';

/** The audit events of a request body. */
export function auditEvents(contentType: string | undefined, body: Buffer): Record<string, unknown>[] {
  const type = mediaType(contentType);
  if (type === 'application/json') return eventsOfList(parseJson(decodeUtf8(body), 'body'));
  if (type === 'application/x-ndjson' || type === 'application/jsonl') {
    const { values, where } = decodeJsonValues(contentType, body);
    return values.map((v, i) => checkEvent(v, where(i)));
  }
  throw new TlogError('UNSUPPORTED_MEDIA_TYPE', `Content-Type ${JSON.stringify(type)} is not supported; the audit webhook sends application/json (EventList), the log backend's lines go as application/x-ndjson`);
}

/** Routes of the Kubernetes ingest endpoints. */
export function k8sRoutes(services: ApiServices, opts: ApiOptions): Router {
  const r = Router();
  const raw = express.raw({ type: () => true, limit: opts.maxBodyBytes, inflate: true });
  r.post('/v1/k8s/audit', writerAuth(services, 'v1/k8s/audit'), raw, async (req: Request, res: Response) => {
    queryParams(req, []);
    const principal = res.locals['principal'] as Principal;
    const body: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const events = auditEvents(req.headers['content-type'], body);
    const submitter = principal.authenticated ? principal.subject : undefined;
    const entries = events.map((e) => auditEntry(e, submitter));
    const results = entries.length === 0 ? [] : await services.ingest.append(principal, entries, events.map(auditIdentity));
    services.logger.info({ route: 'v1/k8s/audit', subject: principal.subject, events: events.length, appended: results.filter((x) => !x.duplicate).length }, 'audit batch');
    sendJson(res, entriesReply(results));
  });
  return r;
}
