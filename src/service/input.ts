import { Decimal } from 'decimal.js';
import { describeValue, parseDay } from '../forecast/data/calendar.js';
import { TRANSACTION_TYPES, type TransactionType } from '../forecast/data/types.js';
import { invalid } from './http.js';

// Request validation: every refusal is a 400 whose `field` is the name the client sent, and whose message
// starts with it. The data layer checks the same things again; checking here first is what lets the
// error name `amount` rather than the store's `transaction.amount`, and refuse a JSON number before it
// could become a Decimal.

/** A JSON object body. */
export type Body = Readonly<Record<string, unknown>>;

// A whole-cent amount, as text: optional minus, up to 15 integer digits (a quadrillion), up to 2 decimals.
const MONEY = /^-?(?:0|[1-9]\d{0,14})(?:\.\d{1,2})?$/;
const MAX_TEXT = 1_000;
const MAX_ID = 200;

/** The body as an object; `undefined` (no body) is `{}` unless `required`. */
export function bodyObject(value: unknown, required: boolean): Body {
  if (value === undefined && !required) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid('body', `the body must be a JSON object, got ${value === undefined ? 'no body' : Array.isArray(value) ? 'an array' : describeValue(value)}`);
  }
  return value as Body;
}

/** Refuses an empty patch, which could only be a client bug. */
export function someField(body: Body, allowed: readonly string[], what: string): void {
  if (!allowed.some((key) => body[key] !== undefined)) throw invalid('body', `${what} needs at least one of ${allowed.join(', ')}`);
}

/**
 * Money: a decimal string such as `"12.34"`, with at most two decimals. A JSON number is refused, not
 * converted: by the time `0.1 + 0.2` reaches the service as a float, the cents are already wrong.
 */
export function money(value: unknown, field: string, sign: 'positive' | 'non-negative'): Decimal {
  if (typeof value === 'number') {
    throw invalid(field, `${field} must be a decimal string such as "12.34", not the JSON number ${String(value)} (a float cannot hold cents exactly)`);
  }
  if (typeof value !== 'string' || !MONEY.test(value)) {
    throw invalid(field, `${field} must be a decimal string such as "12.34" (at most 2 decimals), got ${describeValue(value)}`);
  }
  const amount = new Decimal(value);
  if (sign === 'positive' && !amount.gt(0)) {
    throw invalid(field, `${field} must be greater than 0, got "${value}"${field === 'amount' ? ' (type says whether money comes in or goes out)' : ''}`);
  }
  if (amount.isNegative() && !amount.isZero()) throw invalid(field, `${field} must not be negative, got "${value}"`);
  return amount.isZero() ? new Decimal(0) : amount;
}

/** A calendar day written `'YYYY-MM-DD'`. */
export function day(value: unknown, field: string): Date {
  if (typeof value !== 'string') throw invalid(field, `${field} must be a day written 'YYYY-MM-DD', got ${describeValue(value)}`);
  try {
    return parseDay(value, field);
  } catch {
    throw invalid(field, `${field} must be a day written 'YYYY-MM-DD', got ${describeValue(value)}`);
  }
}

/** Non-blank text of at most 1,000 characters. */
export function text(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > MAX_TEXT) {
    throw invalid(field, `${field} must be non-blank text of at most ${MAX_TEXT} characters, got ${describeValue(value)}`);
  }
  return value;
}

/** Text that may be empty, of at most 1,000 characters. */
export function optionalText(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length > MAX_TEXT) throw invalid(field, `${field} must be text of at most ${MAX_TEXT} characters, got ${describeValue(value)}`);
  return value;
}

/** A record id chosen by the client. */
export function recordId(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ID) {
    throw invalid(field, `${field} must be a string of 1 to ${MAX_ID} characters, got ${describeValue(value)}`);
  }
  return value;
}

/** `'income'` or `'expense'`. */
export function transactionType(value: unknown, field: string): TransactionType {
  if (typeof value === 'string' && (TRANSACTION_TYPES as readonly string[]).includes(value)) return value as TransactionType;
  throw invalid(field, `${field} must be one of ${TRANSACTION_TYPES.map((t) => `'${t}'`).join(', ')}, got ${describeValue(value)}`);
}

/** A boolean. */
export function bool(value: unknown, field: string): boolean {
  if (typeof value !== 'boolean') throw invalid(field, `${field} must be true or false, got ${describeValue(value)}`);
  return value;
}

/** A non-empty array of non-empty strings, each checked by `check` (which names `field[i]`). */
export function stringList(value: unknown, field: string, check?: (item: string, field: string) => void): string[] {
  if (!Array.isArray(value) || value.length === 0) throw invalid(field, `${field} must be a non-empty array of strings, got ${describeValue(value)}`);
  return value.map((item: unknown, i) => {
    const at = `${field}[${i}]`;
    if (typeof item !== 'string' || item.length === 0) throw invalid(at, `${at} must be a non-empty string, got ${describeValue(item)}`);
    check?.(item, at);
    return item;
  });
}

/** A whole number from `min` to `max`, from query text. */
export function integerParam(value: string, field: string, min: number, max: number): number {
  if (!/^\d{1,9}$/.test(value) || Number(value) < min || Number(value) > max) {
    throw invalid(field, `${field} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

/** An instant from query text: a day (`2025-03-01`, its UTC midnight) or an ISO date-time. */
export function instantParam(value: string, field: string): Date {
  // Only ISO shapes: Date.parse also takes locale-dependent forms such as "03/01/2025" that mean different days.
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) return day(value, field);
  const ms = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:\d{2})$/.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) throw invalid(field, `${field} must be an ISO date or date-time such as 2025-03-01 or 2025-03-01T12:00:00Z, got ${JSON.stringify(value)}`);
  return new Date(ms);
}
