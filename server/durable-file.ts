/**
 * Durable small-file writes (key files, state hints, evidence): the data is fsynced before the file becomes
 * visible under its name, and the directory entry is fsynced after, so that a crash leaves either the old file or
 * the complete new one, never a torn or missing one.
 */
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** Opens `path` with `flags`, writes all of `data`, fsyncs and closes it. */
function writeSynced(path: string, data: string | Uint8Array, flags: string, mode: number): void {
  const fd = openSync(path, flags, mode);
  try {
    if (typeof data === 'string') writeSync(fd, data);
    else for (let off = 0; off < data.length; ) off += writeSync(fd, data, off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Fsyncs a directory, making renames and creations in it durable. */
export function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Replaces `path` atomically and durably: writes `<path>.tmp`, fsyncs it, renames it over `path`, fsyncs the
 * directory. `mode` applies when the temp file is created (subject to the umask).
 */
export function writeFileDurably(path: string, data: string | Uint8Array, mode = 0o666): void {
  const tmp = `${path}.tmp`;
  writeSynced(tmp, data, 'w', mode);
  renameSync(tmp, path);
  fsyncDirectory(dirname(path));
}

/** Creates `path` (EEXIST if it exists) with `data`, durably: the file and then its directory are fsynced. */
export function createFileDurably(path: string, data: string | Uint8Array, mode = 0o666): void {
  writeSynced(path, data, 'wx', mode);
  fsyncDirectory(dirname(path));
}
