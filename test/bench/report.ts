/** The markdown results table of the benchmark (pasteable in the README). */
import { fmt } from './stats.js';

export interface Row {
  readonly metric: string;
  readonly value: string;
  /** The value of each repetition (shown compactly). */
  readonly reps?: readonly number[];
  readonly target?: string;
  readonly met?: boolean;
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

export function renderMarkdown(rows: readonly Row[], o: { title: string; command: string; notes: readonly string[] }): string {
  const lines = [
    `### Benchmark — ${o.title}`,
    '',
    `Command: \`${o.command}\``,
    '',
    '| Measurement | Result (median) | Repetitions | Target | Met |',
    '|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const reps = r.reps === undefined ? '' : r.reps.map((x) => fmt(x)).join(' / ');
    const met = r.met === undefined ? '' : r.met ? 'yes' : '**no**';
    lines.push(`| ${cell(r.metric)} | ${cell(r.value)} | ${cell(reps)} | ${cell(r.target ?? '')} | ${met} |`);
  }
  lines.push('');
  for (const n of o.notes) lines.push(`${n}`);
  return lines.join('\n');
}
