/** Structured JSON logs on stdout (pino). The first line a `serve` prints is the `listening` line. */
import { pino, type Logger } from 'pino';

export type { Logger };

/** A logger at `level` writing JSON lines to stdout. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}
