/**
 * `POST /v1/ingest[/<source>]`: records from log shippers that already run in the cluster — Fluent Bit's `http`
 * output (`format json`: a JSON array, `application/json`; `format json_lines`: `application/x-ndjson`), Vector's
 * `http` sink (`codec: json` array, or `framing: newline_delimited`), Fluentd's `out_http` (NDJSON by default,
 * `json_array true` for an array). gzip bodies accepted (all three can compress).
 *
 * Each record (a JSON object) becomes one entry: RFC 8785 canonical JSON of
 * `{"type":"log.record/v1","source":"<source>","submitter"?:"<authenticated writer>","record":<the record>,
 * "event"?:<the record's log line as an ingress event>}`.
 * `<source>` is the path segment (e.g. Fluentd's `${tag}` placeholder) or the `X-Tilelog-Source` header (e.g.
 * Fluent Bit's `header_tag`), else `unknown`.
 *
 * Sameness: two records are the same iff their entries are byte-identical — same source, same submitter, same
 * content including the shipper's own origin fields (Fluent Bit's `date`, Vector's `timestamp`, Fluentd's `time`,
 * the tailed file and offset when the shipper adds them). A resent record is reported as a duplicate; two identical
 * log lines read at different times stay two entries because their origin fields differ.
 *
 * Statuses chosen for the shippers' retry rules: 200 once durably sequenced; 503 + Retry-After on pushback
 * (every shipper retries 503); 400 only for undecodable data; 413 for oversize.
 */
import express, { Router, type Request, type Response } from 'express';
import { malformed } from '../core/errors.js';
import { parseAccessLine } from '../../clients/ingest/index.js';
import type { Principal } from '../auth.js';
import { canonicalBytes } from '../ingest/canonical.js';
import { decodeJsonValues } from './entries-body.js';
import { entriesReply, writerAuth, type ApiOptions, type ApiServices } from './api-routes.js';
import { queryParams, sendJson } from './util.js';

/** The record type of shipper entries. */
export const LOG_RECORD_TYPE = 'log.record/v1';

const SOURCE = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,252}$/;

/** The log line a shipper record carries: Fluent Bit/Fluentd `log`, Vector/OTel `message`, journald `MESSAGE`. */
function lineOf(record: Record<string, unknown>): string | undefined {
  for (const k of ['log', 'message', 'MESSAGE']) {
    const v = record[k];
    if (typeof v === 'string') return v.endsWith('\n') ? v.slice(0, -1) : v;
  }
  return undefined;
}

/**
 * The entry of one shipper record. When the record carries a log line, `event` is that line normalised into the
 * ingress event schema (docs/ingress-event.md; `kind: "unparsed"` with the reason when it is not an access-log line
 * the parsers know): every ingress record lands in one documented shape, next to the record as received.
 */
export function recordEntry(source: string, submitter: string | undefined, record: Record<string, unknown>, where = 'record'): Uint8Array {
  const line = lineOf(record);
  const event = line === undefined ? undefined : parseAccessLine(line);
  return canonicalBytes({ type: LOG_RECORD_TYPE, source, ...(submitter !== undefined ? { submitter } : {}), record, ...(event !== undefined ? { event } : {}) }, where);
}

/** Routes of the shipper ingest endpoint. */
export function ingestRoutes(services: ApiServices, opts: ApiOptions): Router {
  const r = Router();
  const raw = express.raw({ type: () => true, limit: opts.maxBodyBytes, inflate: true });
  const handler = async (req: Request, res: Response) => {
    queryParams(req, []);
    const principal = res.locals['principal'] as Principal;
    const fromPath = req.params['source'];
    const header = req.headers['x-tilelog-source'];
    const source = typeof fromPath === 'string' ? fromPath : typeof header === 'string' ? header : 'unknown';
    if (!SOURCE.test(source)) throw malformed('source: 1–253 characters of A-Z a-z 0-9 . _ : / -, starting with a letter or digit');
    const body: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const { values, where } = decodeJsonValues(req.headers['content-type'], body);
    const submitter = principal.authenticated ? principal.subject : undefined;
    const entries = values.map((v, i) => {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw malformed(`${where(i)}: a record must be a JSON object`);
      return recordEntry(source, submitter, v as Record<string, unknown>, where(i));
    });
    const results = await services.ingest.append(principal, entries);
    sendJson(res, entriesReply(results));
  };
  r.post('/v1/ingest', writerAuth(services, 'v1/ingest'), raw, handler);
  r.post('/v1/ingest/:source', writerAuth(services, 'v1/ingest'), raw, handler);
  return r;
}
