import { buildKey } from '../keys/build-key.js';
import { assertValidKey } from '../keys/validate.js';

/**
 * Invalidates more when something is invalidated (seed 001): when one of `whenTags` is invalidated, or when
 * `invalidateByWrite(whenResource, ...)` reports a write. Templates in `invalidateTags`/`invalidatePatterns`
 * may use `{id}` (the resource id) and the fields of the write's context; substituted values are escaped.
 */
export interface InvalidationRule {
  whenTags?: readonly string[];
  whenResource?: string;
  invalidateTags?: readonly string[];
  invalidatePatterns?: readonly string[];
}

// Checks without narrowing: `Array.isArray` would turn a typed readonly array into `any[]`.
export function requireArray(value: unknown, message: string): void {
  if (!Array.isArray(value)) throw new TypeError(message);
}

/** A non-empty list of valid tags, without duplicates; throws naming what is wrong. */
export function checkTagList(tags: unknown): readonly string[] {
  requireArray(tags, 'tags must be an array of strings');
  const list = tags as readonly unknown[];
  if (list.length === 0) throw new TypeError('tags must not be empty');
  for (const tag of list) assertValidKey(tag, 256, 'tag');
  return [...new Set(list as readonly string[])];
}

/** The `tags` option of a write: undefined for none, else valid tags without duplicates, frozen. */
export function validateTags(tags: unknown): readonly string[] | undefined {
  if (tags === undefined) return undefined;
  if (!Array.isArray(tags)) throw new TypeError(`tags must be an array of strings, got ${typeof tags}`);
  if (tags.length === 0) return undefined;
  for (const tag of tags) assertValidKey(tag, 256, 'tag');
  return Object.freeze([...new Set(tags as string[])]);
}

/** The invalidation rules of one instance (they are code, not data), in the order they were added. */
export class Rules {
  readonly #rules: InvalidationRule[] = [];

  /** Adds a rule; returns a function that removes it. */
  add(rule: InvalidationRule): () => void {
    if (typeof rule !== 'object' || rule === null) throw new TypeError('an invalidation rule must be an object');
    if (rule.whenTags === undefined && rule.whenResource === undefined) throw new TypeError('an invalidation rule needs whenTags or whenResource');
    if (rule.invalidateTags === undefined && rule.invalidatePatterns === undefined) {
      throw new TypeError('an invalidation rule needs invalidateTags or invalidatePatterns');
    }
    if (rule.whenTags !== undefined) checkTagList(rule.whenTags);
    if (rule.whenResource !== undefined && (typeof rule.whenResource !== 'string' || rule.whenResource.length === 0)) {
      throw new TypeError('whenResource must be a non-empty string');
    }
    for (const template of [...(rule.invalidateTags ?? []), ...(rule.invalidatePatterns ?? [])]) {
      if (typeof template !== 'string' || template.length === 0) throw new TypeError('rule templates must be non-empty strings');
    }
    const frozen = Object.freeze({ ...rule });
    this.#rules.push(frozen);
    return () => {
      const at = this.#rules.indexOf(frozen);
      if (at >= 0) this.#rules.splice(at, 1);
    };
  }

  /** Tags and patterns that rules add to an invalidation of `tags`, followed transitively (cycles are safe). */
  expand(tags: readonly string[]): { tags: string[]; patterns: string[] } {
    const seen = new Set(tags);
    const patterns = new Set<string>();
    const queue = [...tags];
    for (let tag = queue.shift(); tag !== undefined; tag = queue.shift()) {
      for (const rule of this.#rules) {
        if (rule.whenTags?.includes(tag) !== true) continue;
        for (const next of rule.invalidateTags ?? []) {
          if (!seen.has(next)) {
            seen.add(next);
            queue.push(next);
          }
        }
        for (const pattern of rule.invalidatePatterns ?? []) patterns.add(pattern);
      }
    }
    return { tags: [...seen], patterns: [...patterns] };
  }

  /**
   * What a write of a resource invalidates: the tags `<resourceType>` and `<resourceType>:<resourceId>`, plus the
   * templates of the rules for that resource, filled with the id and the write's context (values escaped).
   */
  forWrite(resourceType: string, resourceId: string | number | undefined, context: Readonly<Record<string, string | number>>): { tags: string[]; patterns: string[] } {
    const values: Record<string, string | number> = { ...context };
    if (resourceId !== undefined) values.id = resourceId;
    const tags = [resourceType];
    if (resourceId !== undefined) tags.push(`${resourceType}:${String(resourceId)}`);
    const patterns: string[] = [];
    for (const rule of this.#rules) {
      if (rule.whenResource !== resourceType) continue;
      for (const template of rule.invalidateTags ?? []) tags.push(buildKey(template, values));
      for (const template of rule.invalidatePatterns ?? []) patterns.push(buildKey(template, values));
    }
    return { tags, patterns };
  }
}
