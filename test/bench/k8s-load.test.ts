/** Self-checks of the k8s phase's body builders (fast; runs with `npm test`): audit EventLists and OTLP exports. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import protobuf from 'protobufjs';
import { join } from 'node:path';
import { AuditEventLists, K8S_AUDIT_FIXTURE, OTLP_LOGS_SERVICE_PROTO, otlpProtosPresent, OtlpLogExports } from './k8s-load.js';
import { REPO_ROOT } from './server.js';

test('audit EventLists: webhook form, n events with unique auditIDs, stages kept, no per-item kind/apiVersion', { skip: !existsSync(K8S_AUDIT_FIXTURE) && 'no fixture' }, () => {
  const a = new AuditEventLists();
  const lists = [a.body(400), a.body(100)].map((b) => JSON.parse(b.toString('utf8')) as { kind: string; apiVersion: string; metadata: unknown; items: Record<string, unknown>[] });
  const ids = new Set<string>();
  for (const l of lists) {
    assert.equal(l.kind, 'EventList');
    assert.equal(l.apiVersion, 'audit.k8s.io/v1');
    assert.deepEqual(l.metadata, {});
    for (const e of l.items) {
      assert.equal(e['kind'], undefined);
      assert.equal(e['apiVersion'], undefined);
      assert.match(String(e['auditID']), /^[0-9a-f]{8}-0000-4000-8000-[0-9a-f]{12}$/);
      assert.ok(typeof e['stage'] === 'string' && e['stage'] !== '');
      ids.add(String(e['auditID']));
    }
  }
  assert.equal(ids.size, 500);
  assert.equal(a.produced, 500);
  assert.deepEqual(a.count(Buffer.from(JSON.stringify({ entries: [{ index: 0, leafHash: 'x', duplicate: false }, { index: 1, leafHash: 'y', duplicate: true }] })), 2), { added: 1, duplicates: 1 });
});

test('OTLP exports: n LogRecords with unique bodies in one resource and scope', { skip: !otlpProtosPresent() && 'no vendored OTLP protos' }, () => {
  const o = new OtlpLogExports();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(REPO_ROOT, 'proto', target);
  root.loadSync(OTLP_LOGS_SERVICE_PROTO);
  const Request = root.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest');
  const bodies = new Set<string>();
  for (let i = 0; i < 2; i++) {
    const r = Request.toObject(Request.decode(o.body(400))) as { resourceLogs: { scopeLogs: { logRecords: { body: { stringValue: string } }[] }[] }[] };
    assert.equal(r.resourceLogs.length, 1);
    assert.equal(r.resourceLogs[0]?.scopeLogs.length, 1);
    const recs = r.resourceLogs[0]?.scopeLogs[0]?.logRecords ?? [];
    assert.equal(recs.length, 400);
    for (const x of recs) bodies.add(x.body.stringValue);
  }
  assert.equal(bodies.size, 800);
  assert.deepEqual(o.count(Buffer.alloc(0), 400), { added: 400, duplicates: 0 });
});
