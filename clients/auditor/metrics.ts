/** The auditor's Prometheus metrics (prom-client), `tilelog_audit_` prefix, served at GET /metrics. */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** All auditor metrics on one registry (one per process/auditor). */
export class AuditMetrics {
  readonly registry = new Registry();
  readonly checkpointsVerified = new Counter({ name: 'tilelog_audit_checkpoints_verified_total', help: 'New checkpoints from the log that verified (signature and consistency with the previous one).', labelNames: ['origin'] as const, registers: [this.registry] });
  readonly treeSize = new Gauge({ name: 'tilelog_audit_tree_size', help: 'Tree size of the last verified checkpoint.', labelNames: ['origin'] as const, registers: [this.registry] });
  readonly lastSuccess = new Gauge({ name: 'tilelog_audit_last_success_timestamp_seconds', help: 'UNIX time of the last successful poll of the log.', labelNames: ['origin'] as const, registers: [this.registry] });
  readonly alarms = new Counter({ name: 'tilelog_audit_alarms_total', help: 'Alarms raised (evidence written), by kind.', labelNames: ['origin', 'kind'] as const, registers: [this.registry] });
  readonly errors = new Counter({ name: 'tilelog_audit_errors_total', help: 'Failed polls, pulls and full-audit steps that are not misbehaviour (network, HTTP, timeouts).', labelNames: ['origin', 'stage'] as const, registers: [this.registry] });
  readonly fullEntries = new Gauge({ name: 'tilelog_audit_full_entries_verified', help: 'Leading entries verified by the full audit.', labelNames: ['origin'] as const, registers: [this.registry] });
  readonly gossipPulls = new Counter({ name: 'tilelog_audit_gossip_pulls_total', help: 'Checkpoints pulled from peers, by result (ok, absent, conflict, invalid, error).', labelNames: ['peer', 'result'] as const, registers: [this.registry] });
  readonly gossipPushes = new Counter({ name: 'tilelog_audit_gossip_pushes_total', help: 'Checkpoints pushed to peers, by HTTP status (or error).', labelNames: ['peer', 'result'] as const, registers: [this.registry] });
  readonly gossipReceived = new Counter({ name: 'tilelog_audit_gossip_received_total', help: 'POST /gossip requests, by reply status.', labelNames: ['status'] as const, registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'tilelog_audit_process_' });
  }
}
