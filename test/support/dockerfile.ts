/**
 * A small Dockerfile reader for tests (no Docker engine runs here): instructions with line continuations joined,
 * comments dropped, split into stages, with ARG defaults substituted into FROM.
 */
import { readFileSync } from 'node:fs';

/** One instruction: `COPY --from=build /src/dist ./dist` → { op: 'COPY', args: '--from=build /src/dist ./dist' }. */
export interface Instruction {
  readonly op: string;
  readonly args: string;
}

/** One build stage: its FROM image (ARGs substituted), its name (`AS name`), its instructions after FROM. */
export interface Stage {
  readonly image: string;
  readonly name: string | undefined;
  readonly instructions: Instruction[];
}

/** Parses a Dockerfile into global ARGs and stages. */
export function parseDockerfile(path: string): { args: Map<string, string>; stages: Stage[] } {
  const logical: string[] = [];
  let current = '';
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    const line = raw.trimEnd();
    if (current === '' && /^\s*#/.test(line)) continue;
    if (current !== '' && /^\s*#/.test(line)) continue; // comment inside a continuation
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    current += line;
    if (current.trim() !== '') logical.push(current.trim());
    current = '';
  }
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const l of logical) {
    const m = /^([A-Za-z]+)\s+(.*)$/s.exec(l);
    if (m === null) throw new Error(`cannot parse Dockerfile line: ${l}`);
    const op = (m[1] as string).toUpperCase();
    const rest = (m[2] as string).trim();
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      if (f === null) throw new Error(`bad FROM: ${l}`);
      const image = (f[1] as string).replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_s, name: string) => args.get(name) ?? '');
      stages.push({ image, name: f[2], instructions: [] });
    } else if (stages.length === 0) {
      if (op !== 'ARG') throw new Error(`only ARG may precede FROM: ${l}`);
      const [k, v] = rest.split('=', 2) as [string, string | undefined];
      args.set(k, v ?? '');
    } else {
      (stages[stages.length - 1] as Stage).instructions.push({ op, args: rest });
    }
  }
  return { args, stages };
}

/** Splits `KEY=VALUE KEY2="VALUE 2"` (ENV, LABEL) into a map. */
export function parseKeyValues(s: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of s.matchAll(/([A-Za-z0-9_.\-]+)=("((?:[^"\\]|\\.)*)"|\S+)/g)) out.set(m[1] as string, m[3] ?? (m[2] as string));
  return out;
}
