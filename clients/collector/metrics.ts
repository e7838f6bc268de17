/**
 * The collector's Prometheus metrics (prom-client), served at GET /metrics. Prefix `tilelog_collector_`.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export class CollectorMetrics {
  readonly registry = new Registry();
  /** Set by the collector: refreshes the sampled gauges (spool size, bytes behind) at scrape time. */
  sample: () => void = () => {};
  readonly read = new Counter({ name: 'tilelog_collector_records_read_total', help: 'Records read from the inputs (and spooled), by input.', labelNames: ['input'] as const, registers: [this.registry] });
  readonly submitted = new Counter({ name: 'tilelog_collector_records_submitted_total', help: 'Records sent to the log (a retried record counts again).', registers: [this.registry] });
  readonly acknowledged = new Counter({ name: 'tilelog_collector_records_acknowledged_total', help: 'Records the log acknowledged as durably sequenced, by result (new, duplicate).', labelNames: ['result'] as const, registers: [this.registry] });
  readonly submitErrors = new Counter({ name: 'tilelog_collector_submit_errors_total', help: 'Failed submissions (retried), by status.', labelNames: ['status'] as const, registers: [this.registry] });
  readonly spooledRecords = new Gauge({ name: 'tilelog_collector_spool_records', help: 'Records in the spool, not yet acknowledged by the log.', registers: [this.registry], collect: () => this.sample() });
  readonly spooledBytes = new Gauge({ name: 'tilelog_collector_spool_bytes', help: 'Bytes of the records in the spool.', registers: [this.registry], collect: () => this.sample() });
  readonly spoolMaxBytes = new Gauge({ name: 'tilelog_collector_spool_max_bytes', help: 'Spool bound (spool.maxBytes): above it the inputs pause.', registers: [this.registry] });
  readonly spoolFull = new Gauge({ name: 'tilelog_collector_spool_full', help: '1 while the spool is full and the inputs are paused (back-pressure).', registers: [this.registry] });
  readonly backpressure = new Counter({ name: 'tilelog_collector_backpressure_total', help: 'Times the spool became full and the inputs stopped reading.', registers: [this.registry] });
  readonly behind = new Gauge({ name: 'tilelog_collector_bytes_behind', help: 'Bytes of input files not yet read, by input and file.', labelNames: ['input', 'file'] as const, registers: [this.registry], collect: () => this.sample() });
  readonly pendingBatches = new Gauge({ name: 'tilelog_collector_pending_batches', help: 'Acknowledged batches waiting for their attestation or receipt.', registers: [this.registry] });
  readonly attestations = new Counter({ name: 'tilelog_collector_attestations_total', help: 'Batch attestations signed and logged, by result.', labelNames: ['result'] as const, registers: [this.registry] });
  readonly receipts = new Counter({ name: 'tilelog_collector_receipts_verified_total', help: 'Entries whose inclusion in a verified checkpoint was checked.', registers: [this.registry] });
  readonly receiptFailures = new Counter({ name: 'tilelog_collector_receipt_failures_total', help: 'Receipt alarms (bad checkpoint signature, rollback, fork, inconsistency, entry not included), by kind.', labelNames: ['kind'] as const, registers: [this.registry] });
  readonly verifiedTreeSize = new Gauge({ name: 'tilelog_collector_verified_tree_size', help: 'Size of the latest checkpoint the collector verified.', registers: [this.registry] });
  readonly webhookRequests = new Counter({ name: 'tilelog_collector_webhook_requests_total', help: 'Audit webhook requests, by status.', labelNames: ['status'] as const, registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'tilelog_collector_process_' });
  }
}
