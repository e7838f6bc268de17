/**
 * A small live chart drawn by hand in SVG: tree size (line, from successive verified checkpoints) and ingest
 * rate (bars, entries/s, from the change of `tilelog_tree_size{state="integrated"}` in /metrics between polls).
 * The SVG has a fixed viewBox and the CSS a fixed aspect ratio, so updates never move the layout.
 */
const NS = 'http://www.w3.org/2000/svg';
const W = 640;
const H = 180;
const PAD_L = 56;
const PAD_R = 56;
const PAD_T = 12;
const PAD_B = 22;
const KEEP_MS = 5 * 60_000;

interface Sample {
  readonly t: number;
  readonly treeSize: number;
  readonly rate: number | undefined;
}

function el<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

/** The chart in `svg`; call {@link GrowthChart.add} on each poll. */
export class GrowthChart {
  private readonly samples: Sample[] = [];
  private readonly line: SVGPolylineElement;
  private readonly bars: SVGGElement;
  private readonly labels: SVGTextElement[];

  constructor(private readonly svg: SVGSVGElement) {
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    svg.append(el('rect', { x: PAD_L, y: PAD_T, width: W - PAD_L - PAD_R, height: H - PAD_T - PAD_B, class: 'chart-bg' }));
    this.bars = el('g', { class: 'chart-bars' });
    this.line = el('polyline', { class: 'chart-line', points: '' });
    svg.append(this.bars, this.line);
    this.labels = [
      el('text', { x: PAD_L - 6, y: PAD_T + 10, 'text-anchor': 'end', class: 'chart-label size' }),
      el('text', { x: PAD_L - 6, y: H - PAD_B, 'text-anchor': 'end', class: 'chart-label size' }),
      el('text', { x: W - PAD_R + 6, y: PAD_T + 10, class: 'chart-label rate' }),
      el('text', { x: W - PAD_R + 6, y: H - PAD_B, class: 'chart-label rate' }),
      el('text', { x: PAD_L, y: H - 6, class: 'chart-label' }),
      el('text', { x: W - PAD_R, y: H - 6, 'text-anchor': 'end', class: 'chart-label' }),
    ];
    svg.append(...this.labels);
  }

  /** Adds a sample (time in ms, tree size, ingest rate in entries/s if known) and redraws. */
  add(t: number, treeSize: number, rate: number | undefined): void {
    this.samples.push({ t, treeSize, rate });
    while (this.samples.length > 2 && (this.samples[0]!.t < t - KEEP_MS || this.samples.length > 300)) this.samples.shift();
    this.draw();
  }

  private draw(): void {
    const s = this.samples;
    if (s.length === 0) return;
    const t0 = s[0]!.t;
    const t1 = Math.max(s[s.length - 1]!.t, t0 + 1000);
    const minSize = Math.min(...s.map((x) => x.treeSize));
    const maxSize = Math.max(minSize + 1, ...s.map((x) => x.treeSize));
    const maxRate = Math.max(1, ...s.map((x) => x.rate ?? 0));
    const x = (t: number) => PAD_L + ((t - t0) / (t1 - t0)) * (W - PAD_L - PAD_R);
    const ySize = (n: number) => H - PAD_B - ((n - minSize) / (maxSize - minSize)) * (H - PAD_T - PAD_B);
    const yRate = (r: number) => H - PAD_B - (r / maxRate) * (H - PAD_T - PAD_B);
    this.line.setAttribute('points', s.map((p) => `${x(p.t).toFixed(1)},${ySize(p.treeSize).toFixed(1)}`).join(' '));
    const barW = Math.max(2, ((W - PAD_L - PAD_R) / Math.max(s.length, 2)) * 0.6);
    this.bars.replaceChildren(...s.filter((p) => p.rate !== undefined).map((p) => {
      const y = yRate(p.rate ?? 0);
      return el('rect', { x: (Math.max(PAD_L, x(p.t) - barW)).toFixed(1), y: y.toFixed(1), width: barW.toFixed(1), height: (H - PAD_B - y).toFixed(1), class: 'chart-bar' });
    }));
    const [sizeTop, sizeBottom, rateTop, rateBottom, left, right] = this.labels as [SVGTextElement, SVGTextElement, SVGTextElement, SVGTextElement, SVGTextElement, SVGTextElement];
    sizeTop.textContent = String(maxSize);
    sizeBottom.textContent = String(minSize);
    rateTop.textContent = `${maxRate.toFixed(maxRate < 10 ? 1 : 0)}/s`;
    rateBottom.textContent = '0/s';
    left.textContent = `-${Math.round((t1 - t0) / 1000)} s`;
    right.textContent = 'now';
  }
}

/** Parses the value of `name{labels}` (all `labels` pairs must match) from Prometheus text; sums matches. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m === null || m[1] !== name) continue;
    const ls = m[2] ?? '';
    if (!Object.entries(labels).every(([k, v]) => ls.includes(`${k}="${v}"`))) continue;
    const v = Number(m[3]);
    if (Number.isFinite(v)) sum = (sum ?? 0) + v;
  }
  return sum;
}
