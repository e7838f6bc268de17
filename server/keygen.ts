// SPEC: key strings of golang.org/x/mod/sumdb/note (GenerateKey); c2sp.org/signed-note, c2sp.org/tlog-cosignature.
/**
 * Key generation: the only place that draws randomness for note keys (the core stays deterministic).
 */
import { randomBytes } from 'node:crypto';
import { formatCosignerVkey, newCosigner } from './core/cosignature.js';
import { formatPrivateKey, newEd25519Signer } from './core/keys.js';

/**
 * A new Ed25519 log key for `name` (which SHOULD be the log's origin): the secret signer key
 * `PRIVATE+KEY+<name>+<id>+<base64>` and the public vkey, both readable by Go's note.NewSigner/NewVerifier.
 * Precondition: valid key name (non-empty, no '+', no Unicode spaces).
 */
export function generateKey(name: string): { skey: string; vkey: string } {
  const seed = randomBytes(32);
  try {
    return { skey: formatPrivateKey(name, seed), vkey: newEd25519Signer(name, seed).vkey };
  } finally {
    seed.fill(0);
  }
}

/**
 * A new witness (cosigner) key: the 32-byte seed (secret; feed it to `newCosigner`) and the 0x04 vkey.
 */
export function generateCosignerKey(name: string): { seed: Uint8Array; vkey: string } {
  const seed = new Uint8Array(randomBytes(32));
  const cosigner = newCosigner(name, seed);
  return { seed, vkey: formatCosignerVkey(name, cosigner.publicKey) };
}
