/**
 * Throw-away daemons the tests start in scratch directories (Ceph RGW: s3-server.ts; PostgreSQL: pg-server.ts),
 * each stopped by its own stop script given the directory (by PID files only). If a test process ends without its
 * `after` hook, the registry stops whatever is still running, synchronously at exit: never leave daemons behind.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, rmSync } from 'node:fs';

/** The directories of running daemons of one kind, stopped at process exit by `stopScript DIR`. */
export function scratchDaemons(stopScript: string): { add(dir: string): void; delete(dir: string): void } {
  const running = new Set<string>();
  process.once('exit', () => {
    for (const dir of running) {
      spawnSync(stopScript, [dir], { timeout: 20_000, stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
    }
  });
  return { add: (dir) => void running.add(dir), delete: (dir) => void running.delete(dir) };
}

/** True if `file` exists and is executable. */
export function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
