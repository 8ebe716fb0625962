import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { HistoryPoint } from './types.js';

const COLORS = ['#2f7de1', '#e0803a', '#3aa675', '#b04fc4', '#c9b33a'];

function widthOf(el: HTMLElement): number {
  return Math.max(240, Math.floor(el.clientWidth));
}

/** A time chart of fractions (hit rates) or milliseconds, one line per series, sized to its card. */
export class LineChart {
  #plot: uPlot | undefined;
  #series = '';
  readonly #observer: ResizeObserver;

  constructor(
    readonly host: HTMLElement,
    readonly unit: 'rate' | 'ms',
  ) {
    this.#observer = new ResizeObserver(() => this.#plot?.setSize({ width: widthOf(host), height: this.#height() }));
    this.#observer.observe(host);
  }

  #height(): number {
    return window.innerWidth < 600 ? 160 : 220;
  }

  update(points: readonly HistoryPoint[], lines: readonly { label: string; value: (p: HistoryPoint) => number | null }[]): void {
    const data: uPlot.AlignedData = [points.map((p) => p.t / 1000), ...lines.map((line) => points.map((p) => line.value(p)))];
    const names = lines.map((l) => l.label).join('|');
    if (this.#plot === undefined || names !== this.#series) {
      this.#plot?.destroy();
      this.#series = names;
      const format = this.unit === 'rate' ? (v: number | null) => (v === null ? '–' : `${(v * 100).toFixed(1)} %`) : (v: number | null) => (v === null ? '–' : `${v.toFixed(2)} ms`);
      this.#plot = new uPlot(
        {
          width: widthOf(this.host),
          height: this.#height(),
          cursor: { drag: { x: false, y: false } },
          scales: { x: { time: true }, y: this.unit === 'rate' ? { range: [0, 1] } : { range: (_u, _min, max) => [0, Math.max(1, max ?? 1)] } },
          axes: [{}, { values: (_u, ticks) => ticks.map((t) => (this.unit === 'rate' ? `${Math.round(t * 100)}%` : `${t} ms`)), size: this.unit === 'rate' ? 50 : 64 }],
          series: [{}, ...lines.map((line, i) => ({ label: line.label, stroke: COLORS[i % COLORS.length] as string, width: 2, spanGaps: true, value: (_u: uPlot, v: number | null) => format(v) }))],
        },
        data,
        this.host,
      );
    } else {
      this.#plot.setData(data);
    }
  }
}
