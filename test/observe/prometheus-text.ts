// Reading a scrape with a real Prometheus text-format parser (parse-prometheus-text-format). The parser folds
// a histogram's series into one bucket map and drops labelled `_sum`/`_count` lines, so sample values are read
// from a second parse in which histograms are declared untyped: every `_bucket`, `_sum` and `_count` line then
// comes back as its own labelled sample, parsed by the same code.
import parsePrometheusTextFormat, { type ParsedFamily } from 'parse-prometheus-text-format';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Scrape {
  /** Families as the parser reads the text: names, help and types. */
  families: ParsedFamily[];
  /** Every sample line, histograms' included. */
  samples: Sample[];
}

export function parseScrape(text: string): Scrape {
  const families = parsePrometheusTextFormat(text);
  const untyped = text.replace(/^# TYPE (\S+) histogram$/gm, '# TYPE $1 untyped');
  const samples: Sample[] = [];
  for (const family of parsePrometheusTextFormat(untyped)) {
    for (const metric of family.metrics) {
      if (metric.value === undefined) throw new Error(`${family.name}: a sample without a value`);
      samples.push({ name: family.name, labels: metric.labels ?? {}, value: Number(metric.value) });
    }
  }
  return { families, samples };
}

/** The samples of `name` whose labels include `labels`. */
export function select(scrape: Scrape, name: string, labels: Record<string, string> = {}): Sample[] {
  return scrape.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The one sample of `name` with `labels`; fails when there is none or several. */
export function valueOf(scrape: Scrape, name: string, labels: Record<string, string> = {}): number {
  const found = select(scrape, name, labels);
  if (found.length !== 1) throw new Error(`${name}${JSON.stringify(labels)}: ${found.length} samples`);
  return (found[0] as Sample).value;
}
