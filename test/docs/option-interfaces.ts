// Reads the exported option types with the TypeScript compiler, so docs/options.md can be checked against
// what the code declares rather than against a second hand-kept list.
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** One section of docs/options.md: the exported type it documents and where that type lives. */
export interface OptionSection {
  /** The exported name, as the section heading spells it in backticks. */
  name: string;
  /** Source file, relative to the project root. */
  file: string;
  /**
   * Whether the TSDoc `@default` of each property must match the doc. Off for `ComputeDefaults`: it is a `Pick`
   * of `GetOrSetOptions`, whose `@default` tags name the per-call fallback ("the cache's `compute.grace`"),
   * not the cache-wide default that section documents.
   */
  checkDefaults: boolean;
}

export const SECTIONS: readonly OptionSection[] = [
  { name: 'CacheOptions', file: 'src/options.ts', checkDefaults: true },
  { name: 'MetricsOptions', file: 'src/observe/metrics.ts', checkDefaults: true },
  { name: 'MonitorOptions', file: 'src/observe/monitor.ts', checkDefaults: true },
  { name: 'AlertRule', file: 'src/observe/alerts.ts', checkDefaults: true },
  { name: 'MaintenanceOptions', file: 'src/observe/maintenance.ts', checkDefaults: true },
  { name: 'FleetOptions', file: 'src/fleet/options.ts', checkDefaults: true },
  { name: 'ServeWarmOptions', file: 'src/fleet/warms.ts', checkDefaults: true },
  { name: 'RequestWarmOptions', file: 'src/fleet/warms.ts', checkDefaults: true },
  { name: 'MemoryOptions', file: 'src/options.ts', checkDefaults: true },
  { name: 'StoreTierOptions', file: 'src/tiers/store-tier.ts', checkDefaults: true },
  { name: 'BreakerOptions', file: 'src/tiers/store-tier.ts', checkDefaults: true },
  { name: 'BusTierOptions', file: 'src/options.ts', checkDefaults: true },
  { name: 'CoherenceOptions', file: 'src/coherence/options.ts', checkDefaults: true },
  { name: 'ComputeDefaults', file: 'src/compute/plan.ts', checkDefaults: false },
  { name: 'SetOptions', file: 'src/compute/types.ts', checkDefaults: true },
  { name: 'GetOrSetOptions', file: 'src/compute/types.ts', checkDefaults: true },
  { name: 'LeaseOptions', file: 'src/compute/types.ts', checkDefaults: true },
  { name: 'GetOptions', file: 'src/api-types.ts', checkDefaults: true },
  { name: 'PatternOptions', file: 'src/api-types.ts', checkDefaults: true },
  { name: 'RedisStoreOptions', file: 'src/stores/redis/options.ts', checkDefaults: true },
  { name: 'MemcachedStoreOptions', file: 'src/stores/memcached.ts', checkDefaults: true },
  { name: 'SqliteStoreOptions', file: 'src/stores/sqlite.ts', checkDefaults: true },
  { name: 'PostgresStoreOptions', file: 'src/stores/postgres.ts', checkDefaults: true },
  { name: 'FileStoreOptions', file: 'src/stores/file/options.ts', checkDefaults: true },
  { name: 'RedisBusOptions', file: 'src/bus/redis.ts', checkDefaults: true },
  { name: 'PrometheusOptions', file: 'src/observe/prometheus.ts', checkDefaults: true },
  { name: 'OtelOptions', file: 'src/observe/otel.ts', checkDefaults: true },
  { name: 'TiercacheKeyvOptions', file: 'src/integrations/keyv.ts', checkDefaults: true },
  { name: 'CreateLoaderOptions', file: 'src/integrations/dataloader.ts', checkDefaults: true },
  { name: 'HttpCacheSetup', file: 'src/http/options.ts', checkDefaults: true },
  { name: 'RouteCacheOptions', file: 'src/http/options.ts', checkDefaults: true },
  { name: 'InvalidateAfterOptions', file: 'src/http/options.ts', checkDefaults: true },
  { name: 'FastifyHttpCacheExtras', file: 'src/http/fastify.ts', checkDefaults: true },
  { name: 'HonoHttpCacheExtras', file: 'src/http/hono.ts', checkDefaults: true },
  { name: 'DashboardOptions', file: 'src/dashboard/options.ts', checkDefaults: true },
];

export interface DeclaredOption {
  name: string;
  /** The declared type as written in the source, whitespace collapsed. */
  type: string;
  /** The TSDoc `@default`, up to the end of its first sentence; undefined when the property has none. */
  default: string | undefined;
  /** The TSDoc summary, whitespace collapsed. */
  doc: string;
}

function collapse(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** The value part of a `@default` tag: explanations after the first full sentence are left out. */
export function defaultValueOf(tag: string): string {
  const text = collapse(tag);
  const end = /\.\s+[A-Z]/.exec(text);
  return (end === null ? text : text.slice(0, end.index)).replace(/\.$/, '');
}

function isNever(node: ts.Declaration): boolean {
  return ts.isPropertySignature(node) && node.type?.kind === ts.SyntaxKind.NeverKeyword;
}

/**
 * Every property a value of the exported type `name` may carry. For a union (store factories that take a URL,
 * a client or a cluster), the properties of every member, leaving out those a member forbids with `never`.
 */
export function declaredOptions(program: ts.Program, section: OptionSection): DeclaredOption[] {
  const checker = program.getTypeChecker();
  const file = program.getSourceFile(ROOT + section.file);
  if (file === undefined) throw new Error(`${section.file} is not in the program`);
  const moduleSymbol = checker.getSymbolAtLocation(file);
  if (moduleSymbol === undefined) throw new Error(`${section.file} is not a module`);
  let symbol = checker.getExportsOfModule(moduleSymbol).find((s) => s.name === section.name);
  if (symbol === undefined) throw new Error(`${section.file} does not export ${section.name}`);
  if (symbol.flags & ts.SymbolFlags.Alias) symbol = checker.getAliasedSymbol(symbol);
  const type = checker.getDeclaredTypeOfSymbol(symbol);
  const members = type.isUnion() ? type.types : [type];
  const byName = new Map<string, DeclaredOption>();
  for (const member of members) {
    for (const property of checker.getPropertiesOfType(member)) {
      const declaration = property.declarations?.find((d) => !isNever(d));
      if (declaration === undefined || byName.has(property.name)) continue;
      const typeNode = ts.isPropertySignature(declaration) ? declaration.type : undefined;
      const tag = ts.getJSDocTags(declaration).find((t) => t.tagName.text === 'default');
      const tagText = tag === undefined ? undefined : (ts.getTextOfJSDocComment(tag.comment) ?? '');
      byName.set(property.name, {
        name: property.name,
        type: typeNode === undefined ? checker.typeToString(checker.getTypeOfSymbol(property)) : collapse(typeNode.getText()),
        default: tagText === undefined ? undefined : defaultValueOf(tagText),
        doc: collapse(ts.displayPartsToString(property.getDocumentationComment(checker))),
      });
    }
  }
  return [...byName.values()];
}

/** A program over the files the sections name, with the project's compiler options. */
export function optionsProgram(): ts.Program {
  const configPath = ROOT + 'tsconfig.json';
  const read = ts.readConfigFile(configPath, (path) => ts.sys.readFile(path));
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, ROOT);
  const files = [...new Set(SECTIONS.map((s) => ROOT + s.file))];
  return ts.createProgram(files, { ...parsed.options, noEmit: true });
}

/** A documented option: one table row of a section. */
export interface DocumentedOption {
  name: string;
  type: string;
  default: string;
  meaning: string;
}

/** Splits a Markdown table row on its unescaped pipes. */
function cells(row: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < row.length; i++) {
    const char = row[i] as string;
    if (char === '\\' && row[i + 1] === '|') {
      current += '|';
      i++;
    } else if (char === '|') {
      parts.push(current);
      current = '';
    } else current += char;
  }
  parts.push(current);
  // A row starts and ends with a pipe: drop the empty cells outside them.
  return parts.slice(1, -1).map((cell) => cell.trim());
}

/** Backticks are presentation only: `'tinylfu'` in the doc is the tag's 'tinylfu'. */
export function plain(text: string): string {
  return collapse(text.replace(/`/g, ''));
}

/**
 * The sections of the options reference: a `## ` or `### ` heading whose first code span is the type's name,
 * followed by a table `| option | type | default | meaning |`.
 */
export function documentedSections(markdown: string): Map<string, DocumentedOption[]> {
  const sections = new Map<string, DocumentedOption[]>();
  let current: DocumentedOption[] | undefined;
  for (const line of markdown.split('\n')) {
    const heading = /^#{2,3} +[^`]*`([A-Za-z]+)`/.exec(line);
    if (heading !== null) {
      current = [];
      sections.set(heading[1] as string, current);
      continue;
    }
    if (/^#{1,3} /.test(line)) {
      current = undefined;
      continue;
    }
    if (current === undefined || !line.startsWith('|')) continue;
    const row = cells(line);
    const name = /^`([A-Za-z]+)`/.exec(row[0] ?? '');
    // The header row and its separator have no code span in the first cell.
    if (name === null) continue;
    current.push({ name: name[1] as string, type: row[1] ?? '', default: row[2] ?? '', meaning: row[3] ?? '' });
  }
  return sections;
}
