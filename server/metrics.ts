/**
 * Prometheus metrics (prom-client), served at GET /metrics in the text exposition format.
 * Names follow Prometheus conventions: `tilelog_` prefix, base units (seconds, bytes), `_total` for counters.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** All the log's metrics on one registry (one per server instance, so tests can run several). */
export class Metrics {
  readonly registry = new Registry();
  readonly appends = new Counter({ name: 'tilelog_appends_total', help: 'Entries submitted, by result (new = appended, duplicate = already in the log) and authenticated subject.', labelNames: ['result', 'subject'] as const, registers: [this.registry] });
  readonly batchSize = new Histogram({ name: 'tilelog_batch_entries', help: 'Entries per sequenced batch (commit).', buckets: [1, 4, 16, 64, 256, 1000, 4000, 16000], registers: [this.registry] });
  readonly commitFailures = new Counter({ name: 'tilelog_commit_failures_total', help: 'Failed storage commits.', registers: [this.registry] });
  readonly toSequenced = new Histogram({ name: 'tilelog_submission_to_sequenced_seconds', help: 'Time from submission to durable sequencing.', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [this.registry] });
  readonly toPublished = new Histogram({ name: 'tilelog_submission_to_published_seconds', help: 'Time from submission to a published checkpoint covering the entry.', buckets: [0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10], registers: [this.registry] });
  readonly treeSize = new Gauge({ name: 'tilelog_tree_size', help: 'Tree size, integrated and published.', labelNames: ['state'] as const, registers: [this.registry] });
  readonly checkpointAge = new Gauge({ name: 'tilelog_checkpoint_age_seconds', help: 'Seconds since the latest checkpoint was published.', registers: [this.registry] });
  readonly pending = new Gauge({ name: 'tilelog_pool_entries', help: 'Entries waiting in the pool.', registers: [this.registry] });
  readonly pushback = new Counter({ name: 'tilelog_pushback_total', help: 'Requests refused because the pool was full or the log draining.', registers: [this.registry] });
  readonly rateLimited = new Counter({ name: 'tilelog_rate_limited_total', help: 'Submissions refused because the subject was over its rate limit.', labelNames: ['subject'] as const, registers: [this.registry] });
  readonly authFailures = new Counter({ name: 'tilelog_auth_failures_total', help: 'Requests refused by authentication, by error code.', labelNames: ['code'] as const, registers: [this.registry] });
  readonly grpcCalls = new Counter({ name: 'tilelog_grpc_calls_total', help: 'gRPC calls by method and status code.', labelNames: ['method', 'code'] as const, registers: [this.registry] });
  readonly requests = new Counter({ name: 'tilelog_http_requests_total', help: 'HTTP requests by route, method and status.', labelNames: ['route', 'method', 'status'] as const, registers: [this.registry] });
  readonly leader = new Gauge({ name: 'tilelog_leader', help: 'Several frontends: 1 while this frontend holds the leader lease (sequences and publishes), else 0.', registers: [this.registry] });
  readonly leaderEpoch = new Gauge({ name: 'tilelog_leader_epoch', help: 'Several frontends: the lease epoch this frontend last led with.', registers: [this.registry] });
  readonly fenced = new Counter({ name: 'tilelog_fenced_total', help: 'Several frontends: writes of this frontend refused by storage because a newer leader fenced it.', registers: [this.registry] });
  readonly forwarded = new Counter({ name: 'tilelog_forwarded_entries_total', help: 'Several frontends: entries this frontend forwarded to the leader.', registers: [this.registry] });
  readonly errors = new Counter({ name: 'tilelog_errors_total', help: 'Errors returned to clients, by error code.', labelNames: ['code'] as const, registers: [this.registry] });

  /** Counts an error returned to a client: by code, plus pushback and authentication failures. */
  recordError(code: string): void {
    this.errors.inc({ code });
    if (code === 'PUSHBACK') this.pushback.inc();
    if (code === 'UNAUTHENTICATED' || code === 'PERMISSION_DENIED') this.authFailures.inc({ code });
  }

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'tilelog_process_' });
  }
}
