// JSON schemas of the service's requests, and the formatter that turns the first schema violation into the
// service's `{ error: { status, code, message, field } }` 400. The schemas check shapes (which fields, their
// types and text patterns); the handlers then convert values (a Decimal from money text, a calendar day from
// 'YYYY-MM-DD', which also refuses 2025-02-29) and check what depends on data (a known user, metric or goal).
import type { FastifySchemaValidationError } from 'fastify';
import { describeValue } from '../forecast/data/calendar.js';
import { TRANSACTION_TYPES } from '../forecast/data/types.js';
import type { HttpError} from './http.js';
import { invalid } from './http.js';

/** A JSON schema, as far as the service writes them. */
export interface JsonSchema {
  readonly type?: string | readonly string[];
  readonly title?: string;
  readonly description?: string;
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly required?: readonly string[];
  readonly additionalProperties?: boolean;
  readonly items?: JsonSchema;
  readonly minItems?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly pattern?: string;
  readonly enum?: readonly (string | null)[];
  readonly examples?: readonly unknown[];
}

const MAX_TEXT = 1_000;
const MAX_ID = 200;

/** Money as text: a whole-cent amount, optional minus, up to 15 integer digits, up to 2 decimals. */
export const MONEY_PATTERN = '^-?(?:0|[1-9]\\d{0,14})(?:\\.\\d{1,2})?$';

export const money: JsonSchema = {
  type: 'string',
  pattern: MONEY_PATTERN,
  description: 'a decimal string such as "12.34" (at most 2 decimals; a JSON number is refused: a float cannot hold cents exactly)',
  examples: ['12.34'],
};
export const day: JsonSchema = { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: "a day written 'YYYY-MM-DD'", examples: ['2025-12-31'] };
export const text: JsonSchema = { type: 'string', minLength: 1, maxLength: MAX_TEXT, description: `non-blank text of at most ${MAX_TEXT} characters` };
export const optionalText: JsonSchema = { type: 'string', maxLength: MAX_TEXT, description: `text of at most ${MAX_TEXT} characters` };
export const recordId: JsonSchema = { type: 'string', minLength: 1, maxLength: MAX_ID, description: `a string of 1 to ${MAX_ID} characters` };
export const transactionType: JsonSchema = { type: 'string', enum: TRANSACTION_TYPES, description: `one of ${TRANSACTION_TYPES.map((t) => `'${t}'`).join(', ')}` };
export const bool: JsonSchema = { type: 'boolean', description: 'true or false' };
export const stringList = (description: string): JsonSchema => ({
  type: 'array',
  minItems: 1,
  items: { type: 'string', minLength: 1, description: 'a non-empty string' },
  description: `a non-empty array of strings: ${description}`,
});

/** `schema` that also takes `null` (a PATCH removes the optional field it names). */
export function nullable(schema: JsonSchema): JsonSchema {
  const types = typeof schema.type === 'string' ? [schema.type] : (schema.type ?? []);
  return { ...schema, type: [...types, 'null'], ...(schema.enum === undefined ? {} : { enum: [...schema.enum, null] }), description: `${schema.description ?? ''}, or null to remove it` };
}

/**
 * A JSON object body: only `properties`, `required` ones present. `title` names it in messages ("ammount is not a
 * field of a transaction"). An optional body may be left out (the request then has none).
 */
export function objectBody(title: string, properties: Readonly<Record<string, JsonSchema>>, required: readonly string[] = [], optional = false): JsonSchema {
  return { type: optional ? ['object', 'null'] : 'object', title, properties, required, additionalProperties: false };
}

/** The query string of a route: only the parameters it reads, each given once, as text. */
export function querySchema(parameters: Readonly<Record<string, string>>): JsonSchema {
  return {
    type: 'object',
    properties: Object.fromEntries(Object.entries(parameters).map(([name, description]) => [name, { type: 'string', description }])),
    additionalProperties: false,
  };
}

/** The path parameters of `path` (`:id`, `:metric`), each non-empty text. */
export function paramsSchema(path: string): JsonSchema | undefined {
  const names = path.split('/').filter((segment) => segment.startsWith(':')).map((segment) => segment.slice(1));
  if (names.length === 0) return undefined;
  return { type: 'object', properties: Object.fromEntries(names.map((name) => [name, { type: 'string', minLength: 1 }])), required: names };
}

/** Fastify's Ajv, told to refuse rather than repair: no stripping of unknown fields, no type coercion, no defaults. */
export const AJV_OPTIONS = { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false, verbose: true } as const;

interface VerboseError extends FastifySchemaValidationError {
  readonly data?: unknown;
  readonly parentSchema?: JsonSchema;
}

/** `/userIds/1` → `userIds[1]`: the field as a client would write it. */
function fieldOf(path: string): string {
  return path
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((out, part) => (/^\d+$/.test(part) && out !== '' ? `${out}[${part}]` : out === '' ? part : `${out}.${part}`), '');
}

function shown(value: unknown): string {
  return value === undefined ? 'nothing' : describeValue(value);
}

/**
 * The 400 for the first schema violation of a request, naming the field (the body field, query parameter or path
 * segment) in `field` and at the start of the message. `where` is Fastify's `body`, `querystring` or `params`.
 */
export function schemaError(errors: readonly FastifySchemaValidationError[], where: string): HttpError {
  const error = errors[0] as VerboseError | undefined;
  if (error === undefined) return invalid(where === 'body' ? 'body' : 'path', 'the request is not valid');
  const field = fieldOf(error.instancePath);
  const params = error.params;
  const schema = error.parentSchema;
  if (error.keyword === 'additionalProperty' || error.keyword === 'additionalProperties') {
    const name = String(params.additionalProperty);
    const allowed = Object.keys(schema?.properties ?? {});
    if (where === 'querystring') {
      return invalid(name, allowed.length === 0 ? `${name}: this endpoint takes no query parameters` : `${name} is not a parameter of this endpoint; it takes ${allowed.join(', ')}`);
    }
    return invalid(name, `${name} is not a field of ${schema?.title ?? 'this body'}; its fields are ${allowed.join(', ')}`);
  }
  if (error.keyword === 'required') {
    const name = String(params.missingProperty);
    return invalid(field === '' ? name : `${field}.${name}`, `${name} is required`);
  }
  if (field === '') {
    // Fastify validates a missing body as null: the two cannot be told apart here.
    if (where === 'body') return invalid('body', `the body must be a JSON object, got ${error.data === null || error.data === undefined ? 'no body (or null)' : Array.isArray(error.data) ? 'an array' : describeValue(error.data)}`);
    return invalid('path', `the request ${where} is not valid: ${error.message ?? error.keyword}`);
  }
  if (where === 'querystring' && error.keyword === 'type' && Array.isArray(error.data)) return invalid(field, `${field} is given more than once`);
  if (where === 'params') return invalid(field, `${field} must be ${schema?.description ?? 'non-empty'}, got ${shown(error.data)}`);
  const expected = schema?.description ?? error.message ?? 'valid';
  return invalid(field, `${field} must be ${expected}, got ${shown(error.data)}`);
}
