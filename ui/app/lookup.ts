/**
 * Look-up: by index, by leaf hash (hex or base64), or by an entry file / a tlog-proof file (pasted, dropped or
 * chosen). Shows the entry, its inclusion proof, and a verdict computed in this browser:
 * - index/hash/entry: the inclusion proof is computed from the hash tiles and checked against the latest
 *   verified checkpoint's root (RFC 9162 §2.1.3.2); the entry's leaf hash must be the one proven;
 * - tlog-proof: its checkpoint must be signed by the trusted key, its proof must lead from the entry's leaf hash
 *   to that checkpoint's root, and that checkpoint must be consistent with the latest one.
 */
import { fromBase64, fromHex, toBase64, toHex, utf8 } from '../lib/bytes.js';
import { leafHash, rootFromInclusionProof, HASH_SIZE } from '../lib/merkle.js';
import { verifyCheckpoint } from '../lib/note.js';
import { TILE_WIDTH, tileWidth } from '../lib/tiles.js';
import { parseTlogProof, TLOG_PROOF_HEADER, type TlogProof } from '../lib/tlog-proof.js';
import { VerificationError } from '../lib/verifier.js';
import { raiseAlarm } from './alarm.js';
import { getJson, HttpError } from './api.js';
import { byId, h, setText } from './dom.js';
import { COLUMNS, entryRows } from './entry-view.js';
import { state, verifier } from './state.js';

type Verdict = 'verified' | 'failed' | 'notfound' | 'error';

function show(verdict: Verdict, headline: string, details: [string, string][] = [], proof: readonly Uint8Array[] = [], entry?: { index: bigint; bytes: Uint8Array }): void {
  const v = byId('lookup-verdict');
  v.dataset['verdict'] = verdict;
  v.className = `verdict ${verdict === 'verified' ? 'ok' : verdict === 'notfound' ? 'neutral' : 'bad'}`;
  setText(v, headline);
  byId('lookup-details').replaceChildren(...details.flatMap(([k, val]) => [h('dt', {}, k), h('dd', { class: 'mono' }, val)]));
  byId('lookup-proof').replaceChildren(...proof.map((p) => h('li', { class: 'mono' }, toHex(p))));
  byId('lookup-proof-box').hidden = proof.length === 0;
  const body = byId('lookup-entry-body');
  body.replaceChildren(...(entry === undefined ? [] : entryRows(entry.index, entry.bytes)));
  byId('lookup-entry-box').hidden = entry === undefined;
}

function parseLeafHash(s: string): Uint8Array | undefined {
  const t = s.trim();
  try {
    if (/^[0-9a-fA-F]{64}$/.test(t)) return fromHex(t, HASH_SIZE);
    const b = fromBase64(t);
    return b.length === HASH_SIZE ? b : undefined;
  } catch {
    return undefined;
  }
}

async function entryAt(index: bigint): Promise<Uint8Array | undefined> {
  const cp = state.latest!.checkpoint;
  try {
    const bundle = await verifier.bundle(index / BigInt(TILE_WIDTH), cp.treeSize);
    return bundle[Number(index % BigInt(TILE_WIDTH))];
  } catch (e) {
    if (e instanceof HttpError) return undefined; // e.g. no read token: the verdict still stands on the leaf hash
    throw e;
  }
}

/** Verifies that `leaf` is at `index` in the latest checkpoint; `entry` (if known) must hash to `leaf`. */
async function verifyAt(index: bigint, leaf: Uint8Array, entry: Uint8Array | undefined, source: string): Promise<void> {
  const v = state.latest!;
  const cp = v.checkpoint;
  const r = await verifier.inclusion(index, leaf, cp);
  const bytes = entry ?? (await entryAt(index));
  if (bytes !== undefined && toHex(await leafHash(bytes)) !== toHex(leaf)) {
    throw new VerificationError(`the entry served at index ${index} does not hash to the proven leaf hash`, {
      check: 'leaf hash of the served entry', leafIndex: index.toString(), provenLeafHashHex: toHex(leaf), entryBase64: toBase64(bytes),
    });
  }
  show('verified', `✔ Verified: entry ${index} is in the log (tree size ${cp.treeSize})`, [
    ['Looked up', source],
    ['Index', index.toString()],
    ['Leaf hash (hex)', toHex(leaf)],
    ['Leaf hash (base64)', toBase64(leaf)],
    ['Checkpoint', `${cp.origin}, size ${cp.treeSize}, root ${toHex(cp.rootHash)}`],
    ['Root recomputed from the proof', toHex(r.computedRoot!)],
    ['Hash tiles used', r.tiles.join(', ') || '(none: one-entry tree)'],
    ['Entry', bytes === undefined ? 'not shown (reading entry contents needs a token)' : `${bytes.length} bytes`],
  ], r.proof, bytes === undefined ? undefined : { index, bytes });
}

async function byHash(leaf: Uint8Array, entry: Uint8Array | undefined, source: string): Promise<void> {
  let index: bigint;
  try {
    const p = await getJson<{ index: number | string }>(`v1/proof/inclusion?leafHash=${toHex(leaf)}`);
    index = BigInt(p.index);
  } catch (e) {
    if (e instanceof HttpError && e.status === 404) {
      show('notfound', `Not found: no entry with leaf hash ${toHex(leaf)} is in the published log.`, [['Looked up', source]]);
      return;
    }
    throw e;
  }
  // The server only told us where to look; the proof below is computed and checked here. Its published tree may be
  // newer than the checkpoint this page verified last: catch up first.
  if (index >= state.latest!.checkpoint.treeSize) await state.refresh();
  if (index >= state.latest!.checkpoint.treeSize) {
    show('notfound', `Not yet verifiable: the server places this entry at index ${index}, beyond the latest checkpoint this page verified (size ${state.latest!.checkpoint.treeSize}). Try again in a moment.`, [['Looked up', source]]);
    return;
  }
  await verifyAt(index, leaf, entry, source);
}

async function byProof(p: TlogProof, entry: Uint8Array | undefined, source: string): Promise<void> {
  await state.refresh(); // compare the proof's checkpoint with the newest one
  const latest = state.latest!;
  let opened;
  try {
    opened = await verifyCheckpoint(p.checkpoint, state.trusted!, state.witnessKeys);
  } catch (e) {
    show('failed', `✘ Not verified: the proof's checkpoint is not signed by the trusted key (${(e as Error).message})`, [['Looked up', source]]);
    return;
  }
  const cp = opened.checkpoint;
  const bytes = entry ?? (p.index < latest.checkpoint.treeSize ? await entryAt(p.index) : undefined);
  if (bytes === undefined) {
    show('failed', '✘ Not verified: the entry is unknown (drop the entry file together with the proof, or give a read token).', [['Looked up', source]]);
    return;
  }
  const leaf = await leafHash(bytes);
  const root = await rootFromInclusionProof(p.index, cp.treeSize, leaf, p.proof);
  if (root === undefined || toHex(root) !== toHex(cp.rootHash)) {
    show('failed', `✘ Not verified: the proof does not lead from the entry to the root of its checkpoint (size ${cp.treeSize}).`, [
      ['Looked up', source], ['Index', p.index.toString()], ['Leaf hash', toHex(leaf)], ['Checkpoint root', toHex(cp.rootHash)], ['Computed root', root === undefined ? '(proof has the wrong shape)' : toHex(root)],
    ], p.proof, { index: p.index, bytes });
    return;
  }
  // The proof's checkpoint and the latest one must describe the same tree (one is a prefix of the other).
  let consistency = 'checked: same tree as the latest checkpoint';
  if (cp.treeSize <= latest.checkpoint.treeSize) {
    await verifier.consistency(cp, latest.checkpoint);
    consistency = `✔ consistent with the latest checkpoint (size ${latest.checkpoint.treeSize})`;
  } else {
    consistency = `newer than the latest checkpoint this page has (size ${latest.checkpoint.treeSize}): not yet checked`;
  }
  show('verified', `✔ Verified: the tlog-proof places entry ${p.index} in the log (tree size ${cp.treeSize})`, [
    ['Looked up', source], ['Index', p.index.toString()], ['Leaf hash (hex)', toHex(leaf)],
    ['Proof checkpoint', `${cp.origin}, size ${cp.treeSize}, root ${toHex(cp.rootHash)}, signed by the trusted key`],
    ['Consistency', consistency],
    ['Witness cosignatures', opened.cosignatures.map((c) => `${c.name} at ${new Date(Number(c.timestamp) * 1000).toISOString()}${c.verified === true ? ' ✔' : ' (not verified)'}`).join('; ') || 'none'],
  ], p.proof, { index: p.index, bytes });
}

async function run(what: string, f: () => Promise<void>): Promise<void> {
  if (state.latest === undefined || state.trusted === undefined) {
    show('error', 'No verified checkpoint yet: set the trusted key first.');
    return;
  }
  show('error', 'Verifying…');
  byId('lookup-verdict').dataset['verdict'] = 'pending';
  byId('lookup-verdict').className = 'verdict neutral';
  try {
    await f();
  } catch (e) {
    if (e instanceof VerificationError) {
      raiseAlarm(`look-up of ${what}`, e);
      show('failed', `✘ Verification FAILED: ${e.message}`, Object.entries(e.computation).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
    } else {
      show('error', `Could not look up ${what}: ${(e as Error).message}`);
    }
  }
}

/** Looks up typed input: an index or a leaf hash. */
function lookupQuery(q: string): Promise<void> {
  const t = q.trim();
  if (/^(0|[1-9][0-9]{0,18})$/.test(t) && t.length < 40) {
    return run(`index ${t}`, async () => {
      const index = BigInt(t);
      const cp = state.latest!.checkpoint;
      if (index >= cp.treeSize) {
        show('notfound', `Not in the published log: index ${index} ≥ tree size ${cp.treeSize}.`);
        return;
      }
      const bytes = await entryAt(index);
      if (bytes === undefined) {
        // Without the entry: prove the leaf hash that the level-0 tile holds.
        const tile = await verifier.authenticatedTile({ level: 0, index: index / BigInt(TILE_WIDTH), width: tileWidth(0, index / BigInt(TILE_WIDTH), cp.treeSize) }, cp);
        const off = Number(index % BigInt(TILE_WIDTH)) * HASH_SIZE;
        await verifyAt(index, tile.slice(off, off + HASH_SIZE), undefined, `index ${index}`);
        return;
      }
      await verifyAt(index, await leafHash(bytes), bytes, `index ${index}`);
    });
  }
  const leaf = parseLeafHash(t);
  if (leaf === undefined) {
    show('error', 'Enter an index (a whole number) or a leaf hash: 64 hex digits or base64 of 32 bytes.');
    return Promise.resolve();
  }
  return run(`leaf hash ${toHex(leaf)}`, () => byHash(leaf, undefined, `leaf hash ${t}`));
}

/** Looks up files or pasted text: a tlog-proof and/or an entry. */
async function lookupContents(items: { name: string; bytes: Uint8Array }[]): Promise<void> {
  const dec = new TextDecoder();
  const proofs = items.filter((x) => dec.decode(x.bytes.subarray(0, TLOG_PROOF_HEADER.length + 1)) === TLOG_PROOF_HEADER + '\n');
  const entries = items.filter((x) => !proofs.includes(x));
  if (proofs.length > 1 || entries.length > 1) {
    show('error', 'Give at most one entry and one tlog-proof at a time.');
    return;
  }
  const entry = entries[0];
  const proofItem = proofs[0];
  if (proofItem !== undefined) {
    let p: TlogProof;
    try {
      p = parseTlogProof(dec.decode(proofItem.bytes));
    } catch (e) {
      show('error', `Not a valid tlog-proof: ${(e as Error).message}`);
      return;
    }
    await run(`tlog-proof ${proofItem.name}`, () => byProof(p, entry?.bytes, `tlog-proof ${proofItem.name}${entry !== undefined ? ` with entry ${entry.name}` : ''}`));
    return;
  }
  if (entry !== undefined) {
    await run(`entry ${entry.name}`, async () => byHash(await leafHash(entry.bytes), entry.bytes, `entry ${entry.name} (${entry.bytes.length} bytes)`));
  }
}

async function readFiles(files: FileList | null): Promise<void> {
  if (files === null || files.length === 0) return;
  const items = await Promise.all([...files].map(async (f) => ({ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) })));
  await lookupContents(items);
}

/** Wires the look-up view. */
export function initLookup(): void {
  byId('lookup-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    void lookupQuery(byId<HTMLInputElement>('lookup-query').value);
  });
  byId('lookup-paste-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = byId<HTMLTextAreaElement>('lookup-paste').value;
    if (text === '') return;
    void lookupContents([{ name: 'pasted text', bytes: utf8(text) }]);
  });
  const input = byId<HTMLInputElement>('lookup-file');
  input.addEventListener('change', () => void readFiles(input.files));
  const zone = byId('lookup-drop');
  zone.addEventListener('dragover', (ev) => {
    ev.preventDefault();
    zone.classList.add('dragging');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
  zone.addEventListener('drop', (ev) => {
    ev.preventDefault();
    zone.classList.remove('dragging');
    void readFiles(ev.dataTransfer?.files ?? null);
  });
  const head = byId('lookup-entry-head');
  head.replaceChildren(h('tr', {}, h('th', { scope: 'col' }, '#'), ...COLUMNS.map(([, label]) => h('th', { scope: 'col' }, label)), h('th', { scope: 'col' }, 'JSON')));
}
