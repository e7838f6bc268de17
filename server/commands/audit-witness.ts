// SPEC: c2sp.org/tlog-witness v1.0.0 (add-checkpoint, monitoring), c2sp.org/tlog-cosignature.
/**
 * `tilelog audit --witness-key FILE`: the auditor is also a tlog-witness (server/witness). Wiring only:
 *  - the witness knows the audited logs (origin + vkey) and keeps its state under `<state>/witness`;
 *  - POST /add-checkpoint (logs asking for cosignatures) is mounted on the auditor's HTTP server;
 *  - every checkpoint the auditor verifies from the log is also submitted to the witness with a consistency proof
 *    computed from the tiles (from the witness's own latest size), so the witness cosigns what the auditor checked;
 *  - the gossip/monitoring GET `/<hex SHA-256(origin)>/checkpoint` serves the witness's cosigned checkpoint when it
 *    is at least as new as the auditor's verified one (http.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { LogConfig, OnVerified } from '../../clients/auditor/index.js';
import { parseCheckpoint } from '../core/checkpoint.js';
import { newCosigner } from '../core/cosignature.js';
import { parseKeyString } from '../core/keys.js';
import { parseNote } from '../core/note.js';
import { formatAddCheckpointRequest, parseTreeSizeBody } from '../core/witness-protocol.js';
import { loadOrCreateKey } from '../key-file.js';
import { createWitnessHandler, Witness, type WitnessHandler } from '../witness/index.js';

/** The mounted witness: its handler, the cosigned-checkpoint lookup and the auditor hook. */
export interface AuditWitness {
  readonly witness: Witness;
  readonly handler: WitnessHandler;
  readonly cosigned: (hash: string) => Promise<string | undefined>;
  readonly onVerified: OnVerified;
}

/** Opens the witness with the key in `keyPath` (a Go note signer key file; created if missing). */
export async function openAuditWitness(keyPath: string, stateDir: string, logs: readonly LogConfig[], logger: Logger): Promise<AuditWitness> {
  const { signer } = loadOrCreateKey(keyPath, undefined, 'localhost/auditor-witness');
  const skey = readFileSync(keyPath, 'utf8').trim();
  const seed = parseKeyString(skey.slice('PRIVATE+KEY+'.length), 'witness key').keyBytes.subarray(1);
  const cosigner = newCosigner(signer.name, seed);
  const witness = await Witness.open({
    dir: join(stateDir, 'witness'),
    cosigner,
    logs: logs.map((l) => ({ origin: l.origin, vkeys: [l.vkey] })),
    onRejected: (e) => logger.warn({ origin: e.origin, status: e.status, reason: e.reason }, 'witness refused a checkpoint (possible log misbehaviour)'),
  });
  const handler = createWitnessHandler(witness, { onError: (err) => logger.error({ err }, 'witness request failed') });

  const onVerified: OnVerified = async (_prev, next, builder) => {
    const origin = next.checkpoint.origin;
    for (let attempt = 0; attempt < 2; attempt++) {
      const stored = await witness.latestFor(origin);
      const oldSize = stored === undefined ? 0n : parseCheckpoint(parseNote(stored).text).treeSize;
      if (oldSize >= next.checkpoint.treeSize) return; // already cosigned this size or a later one
      const proof = await builder.consistencyProof(oldSize);
      const r = await witness.addCheckpoint(formatAddCheckpointRequest(oldSize, proof, next.note));
      if (r.status === 200) {
        logger.debug({ origin, treeSize: next.checkpoint.treeSize.toString() }, 'witness cosigned the verified checkpoint');
        return;
      }
      if (r.status === 409 && attempt === 0 && parseTreeSizeBody(r.body) !== oldSize) continue; // raced with a log's own request
      logger.warn({ origin, status: r.status, body: r.body.trim() }, 'the witness did not cosign the verified checkpoint');
      return;
    }
  };
  return { witness, handler, cosigned: (hash) => witness.latest(hash), onVerified };
}
