// A few DOM builders. Text goes in through textContent only: nothing the server sends is parsed as HTML.
export type Child = Node | string | number | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, value);
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === 'object' ? child : String(child));
  }
  return el;
}

export function table(head: readonly string[], rows: readonly Child[][], attrs: Record<string, string> = {}): HTMLElement {
  return h(
    'div',
    { class: 'table-wrap' },
    h('table', attrs, h('thead', {}, h('tr', {}, ...head.map((c) => h('th', {}, c)))), h('tbody', {}, ...rows.map((row) => h('tr', {}, ...row.map((c) => h('td', {}, c)))))),
  );
}

export function percent(rate: number | null | undefined): string {
  return rate === null || rate === undefined ? '–' : `${(rate * 100).toFixed(1)} %`;
}

export function ms(value: number | null | undefined): string {
  if (value === null || value === undefined) return '–';
  return value < 1 ? `${(value * 1000).toFixed(0)} µs` : `${value.toFixed(value < 10 ? 2 : 0)} ms`;
}

export function bytes(value: number | null | undefined): string {
  if (value === null || value === undefined) return '∞';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let n = value;
  let unit = 0;
  while (n >= 1024 && unit < units.length - 1) {
    n /= 1024;
    unit++;
  }
  return `${n.toFixed(unit === 0 ? 0 : 1)} ${units[unit] ?? 'B'}`;
}

export function count(value: number | null | undefined): string {
  return value === null || value === undefined ? '∞' : value.toLocaleString('en');
}

export function duration(msValue: number): string {
  const s = Math.floor(msValue / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d`;
}

export function time(iso: string | number): string {
  return new Date(iso).toLocaleTimeString('en-GB', { hour12: false });
}

/** A card of the grid: a titled section whose body is replaced on each render. */
export function card(id: string, title: string, wide = false): { root: HTMLElement; body: HTMLElement } {
  const body = h('div', { class: 'card-body' });
  const root = h('section', { class: wide ? 'card wide' : 'card', 'data-testid': id, 'aria-label': title }, h('h2', {}, title), body);
  return { root, body };
}

/** Replaces the children of `el`, leaving out the empty ones. */
export function fill(el: HTMLElement, ...children: Child[]): void {
  el.replaceChildren(...children.flatMap((c) => (c === null || c === undefined || c === false ? [] : [typeof c === 'object' ? c : String(c)])));
}
