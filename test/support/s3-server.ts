/**
 * A real S3 endpoint for tests: Ceph RGW (Debian's `ceph-mon ceph-osd radosgw ceph-common`) started by
 * test/support/ceph-s3/start-s3.sh on loopback in a scratch directory, stopped by stop-s3.sh (by PID files only).
 *
 * {@link cephInstalled} tells whether the binaries exist; tests skip LOUDLY when they do not (.ci/run installs
 * them, so CI runs these tests). Every wait is bounded by the scripts' own timeouts and the spawn timeout here.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './server-process.js';
import { isExecutable, scratchDaemons } from './scratch-daemons.js';

const run = promisify(execFile);
const SCRIPTS = join(REPO_ROOT, 'test', 'support', 'ceph-s3');
/** Clusters started and not stopped yet (their directories), stopped at exit as a last resort. */
const running = scratchDaemons(join(SCRIPTS, 'stop-s3.sh'));

/** The environment a client (or `tilelog serve`) needs to reach the endpoint. */
export interface S3Env {
  readonly S3_ENDPOINT: string;
  readonly AWS_ACCESS_KEY_ID: string;
  readonly AWS_SECRET_ACCESS_KEY: string;
  readonly AWS_REGION: string;
}

export interface S3Server {
  readonly env: S3Env;
  readonly endpoint: string;
  stop(): Promise<void>;
}

/** True if the Ceph binaries start-s3.sh needs are on PATH. */
export function cephInstalled(): boolean {
  const path = (process.env['PATH'] ?? '').split(':');
  return ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'ceph', 'monmaptool', 'curl'].every((b) => path.some((d) => isExecutable(join(d, b))));
}

/** The message of a skipped S3 test (printed to stderr too, so that nobody misses it). */
export function skipMessage(): string | false {
  if (cephInstalled()) return false;
  const msg = 'SKIPPED: Ceph RGW binaries not installed (apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw ceph-common curl); the S3 tests did NOT run';
  process.stderr.write(`\n*** ${msg} ***\n\n`);
  return msg;
}

/** Starts a fresh RGW on a free loopback port (tries a few random ports). */
export async function startS3(): Promise<S3Server> {
  let lastErr: unknown;
  for (let attempt = 0; attempt < 4; attempt++) {
    const dir = mkdtempSync('/tmp/tls3.');
    const port = 20000 + 2 * Math.floor(Math.random() * 4000); // mon on port+1; outside Ceph's 6800-7300
    try {
      const { stdout } = await run(join(SCRIPTS, 'start-s3.sh'), [dir, String(port)], { timeout: 90_000, env: { ...process.env, START_TIMEOUT: '60' } });
      const env = Object.fromEntries(stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)])) as unknown as S3Env;
      let stopped = false;
      running.add(dir);
      const stop = async () => {
        if (stopped) return;
        stopped = true;
        running.delete(dir);
        await run(join(SCRIPTS, 'stop-s3.sh'), [dir], { timeout: 40_000 }).catch(() => {});
        rmSync(dir, { recursive: true, force: true });
      };
      return { env, endpoint: env.S3_ENDPOINT, stop };
    } catch (err) {
      lastErr = err;
      rmSync(dir, { recursive: true, force: true });
    }
  }
  throw new Error(`could not start Ceph RGW: ${String((lastErr as { stderr?: string })?.stderr ?? lastErr)}`);
}
