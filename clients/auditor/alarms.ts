/**
 * Raising an alarm: the evidence file is written durably (temp file, fsync, rename, fsync of the directory) in the
 * evidence directory, then an error-level log line, the `tilelog_audit_alarms_total` metric and, if configured, a
 * webhook POST of the evidence JSON. One alarm per distinct (kind, origin, checkpoints) in a process — for rollback,
 * bad-tile and bad-signature alarms per (kind, origin, first checkpoint), so a log that keeps publishing bad
 * checkpoints after the auditor's last good one raises one alarm, not one per checkpoint. The file name is derived
 * from the same key, so a restarted auditor rewrites nothing it already wrote.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Evidence } from './evidence.js';
import type { AuditMetrics } from './metrics.js';

/** Options of {@link AlarmSink}. */
export interface AlarmSinkOptions {
  readonly evidenceDir: string;
  readonly logger: Logger;
  readonly metrics: AuditMetrics;
  /** POST every evidence document (JSON) here; failures are logged, never fatal. */
  readonly webhook?: string;
}

/** Writes `data` to `path` durably: a crash leaves either no file or the whole file. */
export function writeFileDurably(path: string, dir: string, data: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

/** Collects alarms (see the module comment). */
export class AlarmSink {
  private readonly seen = new Map<string, string>();
  /** Alarms raised by this process (distinct). */
  raised = 0;

  constructor(private readonly o: AlarmSinkOptions) {
    mkdirSync(o.evidenceDir, { recursive: true });
  }

  /** Raises an alarm; returns the path of its evidence file. Idempotent for the same kind, origin and notes. */
  async raise(e: Evidence): Promise<string> {
    const notes = e.kind === 'split-view' ? e.checkpoints.map((c) => c.note) : e.checkpoints.slice(0, 1).map((c) => c.note);
    const id = createHash('sha256').update(JSON.stringify([e.kind, e.origin, notes])).digest('hex').slice(0, 16);
    const known = this.seen.get(id);
    if (known !== undefined) return known;
    const originId = createHash('sha256').update(e.origin).digest('hex').slice(0, 8);
    const path = join(this.o.evidenceDir, `${e.kind}-${originId}-${id}.json`);
    this.seen.set(id, path);
    this.raised++;
    const json = `${JSON.stringify(e, null, 2)}\n`;
    if (!existsSync(path)) writeFileDurably(path, this.o.evidenceDir, json);
    this.o.metrics.alarms.inc({ origin: e.origin, kind: e.kind });
    this.o.logger.error({ alarm: e.kind, origin: e.origin, evidence: path, detail: e.detail }, `ALARM ${e.kind}: ${e.detail}`);
    if (this.o.webhook !== undefined) {
      try {
        const res = await fetch(this.o.webhook, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: json, signal: AbortSignal.timeout(5_000) });
        await res.body?.cancel().catch(() => undefined);
        if (!res.ok) this.o.logger.warn({ webhook: this.o.webhook, status: res.status }, 'alarm webhook refused the evidence');
      } catch (err) {
        this.o.logger.warn({ webhook: this.o.webhook, err: (err as Error).message }, 'alarm webhook failed');
      }
    }
    return path;
  }
}
