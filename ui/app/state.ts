/**
 * The page's state: the key it trusts, the server's claims, the checkpoint seen at page load and the latest
 * one (both verified), and the one {@link TileVerifier} (tile cache) every view shares.
 */
import type { VerifiedCheckpoint, Vkey } from '../lib/note.js';
import { TileVerifier } from '../lib/verifier.js';
import { getBytes } from './api.js';

export interface PageState {
  trusted: Vkey | undefined;
  witnessKeys: Vkey[];
  serverVkey: string | undefined;
  ed25519: boolean;
  /** The first checkpoint verified on this page. */
  atPageLoad: VerifiedCheckpoint | undefined;
  /** The latest verified checkpoint (consistent with atPageLoad). */
  latest: VerifiedCheckpoint | undefined;
  /** When (ms) this page first saw `latest`. */
  latestSeenAt: number;
  /** Every distinct checkpoint note this page received, in order. */
  seen: string[];
  /** Fetches and verifies the latest checkpoint now (set by main). */
  refresh: () => Promise<void>;
}

export const state: PageState = {
  trusted: undefined,
  witnessKeys: [],
  serverVkey: undefined,
  ed25519: false,
  atPageLoad: undefined,
  latest: undefined,
  latestSeenAt: 0,
  seen: [],
  refresh: async () => {},
};

/** Fetches tiles (hash tiles are public; entry bundles may need the read token). */
export const verifier = new TileVerifier((path) => getBytes(path, { entryContent: path.startsWith('tile/entries/') }));

const listeners: (() => void)[] = [];

/** Calls `f` whenever a new latest checkpoint is verified. */
export function onCheckpoint(f: () => void): void {
  listeners.push(f);
}

/** Notifies the views of a new latest checkpoint. */
export function checkpointChanged(): void {
  for (const f of listeners) f();
}
