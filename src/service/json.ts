import type { Decimal } from 'decimal.js';
import { isDecimal } from '../codec/decimal.js';
import { formatDay } from '../forecast/data/calendar.js';
import type { Goal, Transaction, User } from '../forecast/data/types.js';

/** What `JSON.stringify` writes as it is. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * A forecast (or any cached value) as JSON: decimals as plain-notation strings (`'1234.5'`, never `1.2345e+3`
 * and never a float, which would lose cents), dates as ISO instants, bigints as strings, Maps as objects, Sets
 * as arrays; `undefined` fields are left out, as `JSON.stringify` does.
 *
 * Written out instead of relying on `toJSON`: Decimal's `toJSON` switches to exponent notation past 20
 * digits or below 1e-7, and a Map would silently become `{}`.
 */
export function toJson(value: unknown): Json {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      // JSON has no NaN or Infinity; null is what JSON.stringify writes for them too.
      return Number.isFinite(value) ? value : null;
    case 'bigint':
      return value.toString();
    case 'undefined':
    case 'function':
    case 'symbol':
      return null;
    case 'object':
      break;
  }
  if (value === null) return null;
  if (isDecimal(value)) return value.isFinite() ? value.toFixed() : value.toString();
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (Array.isArray(value)) return value.map((item) => toJson(item));
  if (value instanceof Set) return [...value].map((item) => toJson(item));
  if (value instanceof Map) {
    const out: { [key: string]: Json } = {};
    for (const [key, item] of value) if (item !== undefined) out[String(key)] = toJson(item);
    return out;
  }
  if (value instanceof Error) return { name: value.name, message: value.message };
  const out: { [key: string]: Json } = {};
  for (const [key, item] of Object.entries(value)) {
    if (item !== undefined && typeof item !== 'function' && typeof item !== 'symbol') out[key] = toJson(item);
  }
  return out;
}

// Records carry calendar days, written as the 'YYYY-MM-DD' the request bodies take, so what a GET returns can
// be sent back in a PATCH as it is.

/**
 * A record's money as the cents a client sent (`'120.00'`, where Decimal would print `'120'`); an amount with
 * more decimals (written through the library, not this API) keeps all of them.
 */
export function moneyText(amount: Decimal): string {
  return amount.decimalPlaces() <= 2 ? amount.toFixed(2) : amount.toFixed();
}

/** A user as the API shows it. */
export function userJson(user: User): Json {
  return { id: user.id, name: user.name, openingBalance: moneyText(user.openingBalance), openingDate: formatDay(user.openingDate) };
}

/** A transaction as the API shows it. */
export function transactionJson(t: Transaction): Json {
  const out: { [key: string]: Json } = {
    id: t.id,
    userId: t.userId,
    date: formatDay(t.date),
    amount: moneyText(t.amount),
    type: t.type,
    category: t.category,
  };
  if (t.description !== undefined) out.description = t.description;
  return out;
}

/** A goal as the API shows it. */
export function goalJson(goal: Goal): Json {
  const out: { [key: string]: Json } = {
    id: goal.id,
    userId: goal.userId,
    name: goal.name,
    target: moneyText(goal.target),
    saved: moneyText(goal.saved),
    createdAt: formatDay(goal.createdAt),
  };
  if (goal.deadline !== undefined) out.deadline = formatDay(goal.deadline);
  if (goal.monthlyContribution !== undefined) out.monthlyContribution = moneyText(goal.monthlyContribution);
  return out;
}
