/**
 * Talks to the log that served this page (same origin; the log's root is the parent of `/ui/`).
 * Read-scope tokens (`--read-auth`): when entry contents answer 401, the page asks for a token and keeps it in
 * memory and sessionStorage only (this tab), never in localStorage, and sends it as `Authorization: Bearer`.
 */
import { byId } from './dom.js';

/** The log's base URL: the parent of the page's directory (`/ui/` → `/`). */
export const LOG_BASE = new URL('../', document.baseURI);

const TOKEN_KEY = 'tilelog.readToken';
let token: string | undefined = sessionStorage.getItem(TOKEN_KEY) ?? undefined;
let asking: Promise<string | undefined> | undefined;

/** An HTTP answer other than 2xx. */
export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'HttpError';
  }
}

function askToken(): Promise<string | undefined> {
  asking ??= new Promise<string | undefined>((resolve) => {
    const dialog = byId<HTMLDialogElement>('token-dialog');
    const input = byId<HTMLInputElement>('token-input');
    input.value = '';
    dialog.addEventListener('close', () => {
      asking = undefined;
      const v = dialog.returnValue === 'ok' ? input.value.trim() : '';
      resolve(v === '' ? undefined : v);
    }, { once: true });
    dialog.showModal();
    input.focus();
  });
  return asking;
}

/** Forgets the read token (this tab). */
export function forgetToken(): void {
  token = undefined;
  sessionStorage.removeItem(TOKEN_KEY);
}

/**
 * GETs `path` (relative to the log's base) and returns the bytes. `entryContent`: the resource may need a read
 * token, so a 401 asks for one (and retries with it).
 */
export async function getBytes(path: string, opts: { entryContent?: boolean; noStore?: boolean } = {}): Promise<Uint8Array> {
  for (let attempt = 0; ; attempt++) {
    const headers: Record<string, string> = {};
    if (opts.entryContent === true && token !== undefined) headers['Authorization'] = `Bearer ${token}`;
    const res = await fetch(new URL(path, LOG_BASE), { headers, ...(opts.noStore === true ? { cache: 'no-store' as RequestCache } : {}) });
    if (res.ok) return new Uint8Array(await res.arrayBuffer());
    let message = `${res.status} ${res.statusText}`;
    try {
      const body = (await res.json()) as { error?: { message?: string } };
      if (body.error?.message !== undefined) message = `${res.status}: ${body.error.message}`;
    } catch {
      // not a JSON error body
    }
    if ((res.status === 401 || res.status === 403) && opts.entryContent === true && attempt < 3) {
      const t = await askToken();
      if (t === undefined) throw new HttpError(res.status, 'reading entry contents needs a token with the read scope');
      token = t;
      sessionStorage.setItem(TOKEN_KEY, t);
      continue;
    }
    throw new HttpError(res.status, `GET /${path}: ${message}`);
  }
}

/** GETs `path` as text. */
export async function getText(path: string, opts: { noStore?: boolean } = {}): Promise<string> {
  return new TextDecoder().decode(await getBytes(path, opts));
}

/** GETs `path` as JSON. */
export async function getJson<T>(path: string): Promise<T> {
  return JSON.parse(await getText(path, { noStore: true })) as T;
}
