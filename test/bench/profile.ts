/**
 * Summary of a V8 `.cpuprofile` (written by `node --cpu-prof`): the top functions by self time, and self time
 * grouped by where the code lives (server code, express, node internals, GC, ...).
 *
 * Also runnable on its own: `node dist/test/bench/profile.js FILE.cpuprofile [TOP]`.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileRow {
  readonly name: string;
  readonly where: string;
  readonly selfMs: number;
  readonly selfPct: number;
}

export interface ProfileSummary {
  readonly file: string;
  readonly totalMs: number;
  /** Milliseconds not idle. */
  readonly busyMs: number;
  readonly top: ProfileRow[];
  readonly groups: { group: string; selfMs: number; pctOfBusy: number }[];
}

function shortUrl(url: string): string {
  if (url === '') return '';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const d = url.indexOf('/dist/');
  if (d >= 0) return url.slice(d + 1);
  return url.replace(/^file:\/\//, '');
}

function group(f: CallFrame): string {
  const u = f.url;
  if (f.functionName === '(garbage collector)') return 'GC';
  if (f.functionName === '(idle)') return 'idle';
  if (f.functionName === '(program)') return 'program (native, unattributed)';
  if (u.includes('/dist/server/')) return `server: ${u.slice(u.indexOf('/dist/server/') + '/dist/server/'.length)}`;
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = u.slice(nm + 'node_modules/'.length).split('/');
    const pkg = rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
    return `npm: ${pkg}`;
  }
  if (u.startsWith('node:')) {
    const m = /^node:(?:internal\/)?([a-z_]+)/.exec(u);
    return `node: ${m?.[1] ?? u}`;
  }
  if (u === '') return 'native / builtins';
  return shortUrl(u);
}

/** Summarizes a `.cpuprofile` file. */
export function summarizeProfile(file: string, top = 15): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  // Self time per node: sum of the time deltas of its samples (more exact than hitCount × mean interval).
  const selfUs = new Map<number, number>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i] as number;
    // timeDeltas[i] is the time since the previous sample; attribute the interval ending at sample i+1 to sample i.
    const d = deltas[i + 1] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, d));
  }
  const totalUs = p.endTime - p.startTime;
  const fn = new Map<string, { name: string; where: string; us: number }>();
  const groups = new Map<string, number>();
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    if (n === undefined) continue;
    const f = n.callFrame;
    const g = group(f);
    if (g === 'idle') {
      idleUs += us;
      continue;
    }
    groups.set(g, (groups.get(g) ?? 0) + us);
    const name = f.functionName === '' ? '(anonymous)' : f.functionName;
    const where = f.url === '' ? '' : `${shortUrl(f.url)}:${f.lineNumber + 1}`;
    const key = `${name}@${where}`;
    const e = fn.get(key) ?? { name, where, us: 0 };
    e.us += us;
    fn.set(key, e);
  }
  const busyUs = Math.max(1, totalUs - idleUs);
  const rows = [...fn.values()].sort((a, b) => b.us - a.us).slice(0, top);
  return {
    file,
    totalMs: totalUs / 1000,
    busyMs: busyUs / 1000,
    top: rows.map((r) => ({ name: r.name, where: r.where, selfMs: r.us / 1000, selfPct: (100 * r.us) / busyUs })),
    groups: [...groups.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 12)
      .map(([g, us]) => ({ group: g, selfMs: us / 1000, pctOfBusy: (100 * us) / busyUs })),
  };
}

/** Text rendering of a summary. */
export function formatProfile(s: ProfileSummary, title: string): string {
  const lines = [`CPU profile of the server — ${title} (${s.file})`, `  wall ${(s.totalMs / 1000).toFixed(1)} s, main thread busy ${(s.busyMs / 1000).toFixed(1)} s (${((100 * s.busyMs) / s.totalMs).toFixed(0)}%)`];
  lines.push('  top functions by self time (% of busy time):');
  for (const r of s.top) lines.push(`    ${r.selfPct.toFixed(1).padStart(5)}%  ${r.name}  ${r.where}`);
  lines.push('  self time by code location:');
  for (const g of s.groups) lines.push(`    ${g.pctOfBusy.toFixed(1).padStart(5)}%  ${g.group}`);
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.env['NODE_TEST_CONTEXT'] === undefined) {
  const file = process.argv[2];
  if (file === undefined) {
    process.stderr.write('usage: node dist/test/bench/profile.js FILE.cpuprofile [TOP]\n');
    process.exit(2);
  }
  process.stdout.write(`${formatProfile(summarizeProfile(file, Number(process.argv[3] ?? 25)), file)}\n`);
}
