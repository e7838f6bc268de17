/**
 * A real PostgreSQL for tests: Debian's server binaries (/usr/lib/postgresql/<version>/bin, package `postgresql`)
 * started by test/support/postgres/start-pg.sh on loopback in a scratch directory, stopped by stop-pg.sh (by its
 * PID file only). The coordination backend of issue #11 (server/coordination/postgres.ts) is tested against it.
 *
 * {@link pgInstalled} tells whether the binaries exist; tests skip LOUDLY when they do not (.ci/run installs them,
 * so CI runs these tests). Every wait is bounded by the scripts' own timeouts and the spawn timeouts here.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, REPO_ROOT } from './server-process.js';
import { isExecutable, scratchDaemons } from './scratch-daemons.js';

const run = promisify(execFile);
const SCRIPTS = join(REPO_ROOT, 'test', 'support', 'postgres');
/** Clusters started and not removed yet (their directories), stopped at exit as a last resort. */
const running = scratchDaemons(join(SCRIPTS, 'stop-pg.sh'));

/** A running test PostgreSQL. */
export interface PgServer {
  /** `postgres://tilelog:PASSWORD@127.0.0.1:PORT/tilelog` (password role, SCRAM over TCP). */
  readonly url: string;
  /** Stops the server (fast shutdown), keeping its data: {@link PgServer.restart} starts it again, same port. */
  kill(): Promise<void>;
  /** Starts the stopped server again on the same port and data. */
  restart(): Promise<void>;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
}

/** True if Debian's PostgreSQL server binaries that start-pg.sh needs are installed. */
export function pgInstalled(): boolean {
  let versions: string[];
  try {
    versions = readdirSync('/usr/lib/postgresql');
  } catch {
    return false;
  }
  return versions.some((v) => ['initdb', 'pg_ctl', 'postgres', 'createdb'].every((b) => isExecutable(join('/usr/lib/postgresql', v, 'bin', b))));
}

/** The message of a skipped PostgreSQL test (printed to stderr too, so that nobody misses it). */
export function skipMessage(): string | false {
  if (pgInstalled()) return false;
  const msg = 'SKIPPED: PostgreSQL server binaries not installed (apt-get install -y --no-install-recommends postgresql); the PostgreSQL coordination tests did NOT run';
  process.stderr.write(`\n*** ${msg} ***\n\n`);
  return msg;
}

async function startIn(dir: string, port: number): Promise<string> {
  const { stdout } = await run(join(SCRIPTS, 'start-pg.sh'), [dir, String(port)], { timeout: 45_000, env: { ...process.env, START_TIMEOUT: '30' } });
  const line = stdout.split('\n').find((l) => l.startsWith('PGURL='));
  if (line === undefined) throw new Error(`start-pg.sh printed no PGURL line: ${stdout}`);
  return line.slice('PGURL='.length);
}

/** Starts a fresh PostgreSQL on a free loopback port (a few attempts, in case the port was taken meanwhile). */
export async function startPostgres(): Promise<PgServer> {
  let lastErr: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = mkdtempSync('/tmp/tlpg.');
    running.add(dir);
    const port = await freePort();
    try {
      const url = await startIn(dir, port);
      let removed = false;
      const kill = async () => {
        await run(join(SCRIPTS, 'stop-pg.sh'), [dir], { timeout: 30_000 });
      };
      return {
        url,
        kill,
        restart: async () => {
          await startIn(dir, port);
        },
        stop: async () => {
          if (removed) return;
          removed = true;
          await kill().catch(() => {});
          running.delete(dir);
          rmSync(dir, { recursive: true, force: true });
        },
      };
    } catch (err) {
      lastErr = err;
      await run(join(SCRIPTS, 'stop-pg.sh'), [dir], { timeout: 30_000 }).catch(() => {});
      running.delete(dir);
      rmSync(dir, { recursive: true, force: true });
    }
  }
  throw new Error(`could not start PostgreSQL: ${String((lastErr as { stderr?: string })?.stderr ?? lastErr)}`);
}
