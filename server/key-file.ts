/**
 * The log's private key file: one line, Go's note signer key `PRIVATE+KEY+<name>+<id>+<base64>`.
 * A missing file is created (mode 0600, fsynced with its directory) so that a restart never silently changes
 * the log's key.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createFileDurably } from './durable-file.js';
import { newSigner, type Ed25519NoteSigner } from './core/keys.js';
import { generateKey } from './keygen.js';

/** Reads the signer key at `path`; creates one for `origin` if the file does not exist. */
export function loadOrCreateKey(path: string, origin: string | undefined, fallbackOrigin: string): { signer: Ed25519NoteSigner; created: boolean } {
  let text: string | undefined;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (text !== undefined) {
    const signer = newSigner(text.trim());
    if (origin !== undefined && signer.name !== origin) {
      throw new Error(`the key in ${path} is for ${JSON.stringify(signer.name)}, not the origin ${JSON.stringify(origin)}`);
    }
    return { signer, created: false };
  }
  const { skey } = generateKey(origin ?? fallbackOrigin);
  writeKeyFile(path, skey);
  return { signer: newSigner(skey), created: true };
}

/**
 * Reads an existing signer key (an additional checkpoint key during a key rotation); its name must be `origin`.
 * Never creates one: a missing rotation key is a configuration error.
 */
export function loadKey(path: string, origin: string): Ed25519NoteSigner {
  const signer = newSigner(readFileSync(path, 'utf8').trim());
  if (signer.name !== origin) throw new Error(`the key in ${path} is for ${JSON.stringify(signer.name)}, not the origin ${JSON.stringify(origin)}`);
  return signer;
}

/** Writes a new key file (fails if it exists), mode 0600, and fsyncs it and its directory. */
export function writeKeyFile(path: string, skey: string): void {
  mkdirSync(dirname(path), { recursive: true });
  createFileDurably(path, `${skey}\n`, 0o600);
}
