/**
 * Tilelog's auditor: follows tlog-tiles logs, verifies every checkpoint and its consistency from tiles, optionally
 * rebuilds whole trees (full audit), gossips tree heads with peers and raises alarms with third-party-verifiable
 * evidence (split view, rollback, bad signature, bad tile). Built on clients/tlog.
 */
export { Auditor, EXIT_ALARM, EXIT_ERROR, EXIT_OK, type AuditorOptions, type GossipReply } from './auditor.js';
export { AlarmSink, writeFileDurably, type AlarmSinkOptions } from './alarms.js';
export { loadAuditConfig, mergeLogs, parseAuditConfig, parseLogSpec, type AuditConfigFile, type LogConfig } from './config.js';
export { evidenceProof, parseEvidence, verifyEvidence, type AlarmKind, type Evidence, type EvidenceProof, type EvidenceVerdict, type ObservedCheckpoint } from './evidence.js';
export { fullAudit, type FullAuditOptions } from './full-audit.js';
export { originPathHash, peerBase, pullFrom, pushTo, type PullResult } from './gossip.js';
export { createAuditHandler, type AuditHandlerOptions } from './http.js';
export { LogView, type LogViewDeps, type ObserveResult, type OnVerified, type PollResult } from './log-view.js';
export { AuditMetrics } from './metrics.js';
export { AuditState, type OriginState } from './state.js';
