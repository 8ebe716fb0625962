// The characters that structure keys (`:`) or widen patterns (`*`, `?`, `[`, `]`, `\`), plus `%` itself so
// the escaping is reversible. An id escaped this way can neither forge another key nor match more than itself.
const SPECIAL = /[%:*?[\]\\]/g;
const SPECIAL_TEST = /[%:*?[\]\\]/;

function percent(ch: string): string {
  return '%' + ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0');
}

/** Escapes one key segment so that it stands for itself only. */
export function escapeSegment(segment: string): string {
  return SPECIAL_TEST.test(segment) ? segment.replace(SPECIAL, percent) : segment;
}

/** Reverses {@link escapeSegment}. */
export function unescapeSegment(segment: string): string {
  return segment.includes('%') ? segment.replace(/%([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))) : segment;
}
