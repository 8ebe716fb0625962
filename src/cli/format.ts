// Output of the CLI: plain aligned tables for people, JSON for scripts. A table is a few lines of padding, so
// it is written here rather than pulled in as a dependency.

/** Columns padded to their widest cell; numbers right-aligned. */
export function table(head: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = [head.map(String), ...rows.map((row) => row.map((cell) => String(cell)))];
  const numeric = head.map((_, col) => rows.length > 0 && rows.every((row) => typeof row[col] === 'number'));
  const widths = head.map((_, col) => Math.max(...cells.map((row) => (row[col] ?? '').length)));
  return cells
    .map((row) =>
      row
        .map((cell, col) => (numeric[col] === true ? cell.padStart(widths[col] ?? 0) : cell.padEnd(widths[col] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** `key: value` lines, keys aligned. */
export function pairs(entries: readonly (readonly [string, string | number])[]): string {
  const width = Math.max(0, ...entries.map(([key]) => key.length));
  return entries.map(([key, value]) => `${`${key}:`.padEnd(width + 1)} ${String(value)}`).join('\n');
}

export function percent(ratio: number): string {
  return `${(ratio * 100).toFixed(1)}%`;
}

/** 1234567 → '1.2 MiB'. */
export function bytes(n: number): string {
  if (!Number.isFinite(n)) return '∞';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit] as string}`;
}

/** 93_000 → '1m33s'. */
export function duration(ms: number): string {
  if (!Number.isFinite(ms)) return '∞';
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  let s = Math.floor(ms / 1_000);
  const d = Math.floor(s / 86_400);
  s -= d * 86_400;
  const h = Math.floor(s / 3_600);
  s -= h * 3_600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return [d > 0 ? `${d}d` : '', h > 0 ? `${h}h` : '', m > 0 ? `${m}m` : '', s > 0 || (d === 0 && h === 0 && m === 0) ? `${s}s` : ''].join('');
}

export function count(n: number): string {
  return Number.isFinite(n) ? n.toLocaleString('en-US') : '∞';
}

/**
 * A decoded value as plain JSON a person can read: `Date` as its ISO string, `BigInt` as `"123n"`, `Map` as
 * `{ "$map": [[key, value], …] }`, `Set` as `{ "$set": […] }`, bytes as `{ "$bytes": "<base64>" }`, `undefined`
 * as `{ "$undefined": true }`, non-finite numbers as strings, other class instances by their own `toJSON` or
 * their fields, tagged with their class name.
 */
export function readable(value: unknown, seen: WeakSet<object> = new WeakSet()): unknown {
  switch (typeof value) {
    case 'bigint':
      return `${value.toString()}n`;
    case 'undefined':
      return { $undefined: true };
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'symbol':
    case 'function':
      return String(value);
    case 'object':
      break;
    default:
      return value;
  }
  if (value === null) return null;
  if (seen.has(value)) return '[circular]';
  seen.add(value);
  try {
    if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
    if (value instanceof Map) return { $map: [...value].map(([k, v]) => [readable(k, seen), readable(v, seen)]) };
    if (value instanceof Set) return { $set: [...value].map((v) => readable(v, seen)) };
    if (ArrayBuffer.isView(value)) return { $bytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
    if (value instanceof ArrayBuffer) return { $bytes: Buffer.from(value).toString('base64') };
    if (Array.isArray(value)) return value.map((item: unknown) => readable(item, seen));
    if (value instanceof RegExp || value instanceof Error) return String(value);
    const proto = Object.getPrototypeOf(value) as object | null;
    const plain = proto === null || proto === Object.prototype;
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (!plain && typeof toJSON === 'function') return { [`$${proto?.constructor.name ?? 'object'}`]: readable((toJSON as () => unknown).call(value), seen) };
    const out: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(value)) out[key] = readable(field, seen);
    return plain ? out : { [`$${proto?.constructor.name ?? 'object'}`]: out };
  } finally {
    seen.delete(value);
  }
}
