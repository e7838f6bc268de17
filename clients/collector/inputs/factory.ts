/** Makes the Input for a file, audit-log or stdin input configuration (the audit webhook is not an Input). */
import type { Logger } from 'pino';
import type { InputConfig } from '../config.js';
import { FileInput } from './file-input.js';
import type { Input } from './input.js';
import { StdinInput } from './stdin-input.js';

export function makeInput(c: InputConfig, logger: Logger): Input | undefined {
  const log = logger;
  switch (c.type) {
    case 'file':
    case 'audit-log':
      return new FileInput({ name: c.name, paths: c.paths, cri: c.cri, readFromStart: c.readFromStart, pollIntervalMs: c.pollIntervalMs, maxLineBytes: c.maxLineBytes, logger: log });
    case 'stdin':
      return new StdinInput({ name: c.name, cri: c.cri, maxLineBytes: c.maxLineBytes, logger: log });
    case 'audit-webhook':
      return undefined;
  }
}
