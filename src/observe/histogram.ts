/**
 * Latency histograms with fixed buckets: ten per decade from 1 µs to 100 s, the same bounds for every
 * histogram, so snapshots subtract and add bucket by bucket and a window's percentiles come from the
 * difference of two snapshots. A value is reported at most one bucket step off (the widest step, 1.5 to 2 or 3 to 4, is a third).
 */

/** Steps within a decade: bucket upper bounds are these times a power of ten. */
const STEPS = [1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8] as const;
const FIRST_DECADE = -3;
const LAST_DECADE = 4;

function buildBounds(): readonly number[] {
  const bounds: number[] = [];
  for (let decade = FIRST_DECADE; decade <= LAST_DECADE; decade++) {
    for (const step of STEPS) bounds.push(Number((step * 10 ** decade).toPrecision(3)));
  }
  bounds.push(10 ** (LAST_DECADE + 1));
  return Object.freeze(bounds);
}

/**
 * Upper bounds of the buckets, in milliseconds, ascending (0.001 … 100,000). One more bucket beyond the last
 * bound counts what is larger.
 */
export const BUCKET_BOUNDS_MS: readonly number[] = buildBounds();
const LAST = BUCKET_BOUNDS_MS.length;

/** A histogram's state at one moment: per-bucket counts (the last one past every bound), their count and sum. */
export interface HistogramSnapshot {
  /** Per bucket, aligned with `BUCKET_BOUNDS_MS`, plus one last bucket for larger values. */
  readonly counts: readonly number[];
  readonly count: number;
  /** Sum of the recorded values, in milliseconds. */
  readonly sum: number;
}

export const EMPTY_HISTOGRAM: HistogramSnapshot = Object.freeze({ counts: Object.freeze(new Array<number>(LAST + 1).fill(0)), count: 0, sum: 0 });

/** The bucket a value of `ms` falls in: the first whose bound is at least `ms`. */
export function bucketOf(ms: number): number {
  if (!(ms > BUCKET_BOUNDS_MS[0]!)) return 0;
  if (ms > BUCKET_BOUNDS_MS[LAST - 1]!) return LAST;
  const decade = Math.floor(Math.log10(ms));
  let index = (decade - FIRST_DECADE) * STEPS.length;
  // log10 may land a hair below an exact power of ten: step back, then forward to the first bound >= ms.
  if (index > 0) index -= 1;
  while (BUCKET_BOUNDS_MS[index]! < ms) index++;
  return index;
}

/** A live histogram. `record` is O(1) and allocates nothing. */
export class Histogram {
  readonly #counts = new Float64Array(LAST + 1);
  #count = 0;
  #sum = 0;

  record(ms: number): void {
    this.#counts[bucketOf(ms)]!++;
    this.#count++;
    this.#sum += ms;
  }

  get count(): number {
    return this.#count;
  }

  snapshot(): HistogramSnapshot {
    return { counts: Array.from(this.#counts), count: this.#count, sum: this.#sum };
  }
}

/** What happened between two snapshots of one histogram (`later` minus `earlier`). */
export function histogramDelta(later: HistogramSnapshot, earlier: HistogramSnapshot | undefined): HistogramSnapshot {
  if (earlier === undefined) return later;
  return { counts: later.counts.map((n, i) => n - (earlier.counts[i] ?? 0)), count: later.count - earlier.count, sum: later.sum - earlier.sum };
}

/** Several histograms as one (for example a tier's get, set and delete). */
export function histogramSum(parts: readonly HistogramSnapshot[]): HistogramSnapshot {
  const counts = new Array<number>(LAST + 1).fill(0);
  let count = 0;
  let sum = 0;
  for (const part of parts) {
    part.counts.forEach((n, i) => (counts[i] = (counts[i] as number) + n));
    count += part.count;
    sum += part.sum;
  }
  return { counts, count, sum };
}

/**
 * The value below which a fraction `q` (0..1) of the recorded values fall, in milliseconds, interpolated
 * inside its bucket; undefined for an empty histogram. Values past the last bound report that bound.
 */
export function quantileOf(histogram: HistogramSnapshot, q: number): number | undefined {
  if (histogram.count <= 0) return undefined;
  const rank = Math.min(histogram.count, Math.max(1, Math.ceil(q * histogram.count)));
  let seen = 0;
  for (let i = 0; i <= LAST; i++) {
    const n = histogram.counts[i] ?? 0;
    if (n <= 0) continue;
    if (seen + n >= rank) {
      if (i === LAST) return BUCKET_BOUNDS_MS[LAST - 1];
      const upper = BUCKET_BOUNDS_MS[i] as number;
      const lower = i === 0 ? 0 : (BUCKET_BOUNDS_MS[i - 1] as number);
      return lower + ((upper - lower) * (rank - seen)) / n;
    }
    seen += n;
  }
  return BUCKET_BOUNDS_MS[LAST - 1];
}

/** Mean of the recorded values in milliseconds; undefined when empty. */
export function meanOf(histogram: HistogramSnapshot): number | undefined {
  return histogram.count <= 0 ? undefined : histogram.sum / histogram.count;
}
