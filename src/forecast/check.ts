// Argument checks shared by ForecastCache's parts: each throws a TypeError naming the option or field.
import { parseDay } from './data/calendar.js';
import { startOfDay } from './horizon.js';

export function requireString(value: unknown, option: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new TypeError(`${option} must be a non-empty string, got ${value === undefined ? 'undefined' : JSON.stringify(value)}`);
  return value;
}

export function positiveInteger(value: unknown, option: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) throw new TypeError(`${option} must be a positive integer, got ${String(value)}`);
  return value;
}

export function checkParams(value: unknown, option: string): Readonly<Record<string, unknown>> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TypeError(`${option} must be a plain object`);
  return value as Readonly<Record<string, unknown>>;
}

export function toDay(value: Date | string, field: string): Date {
  if (typeof value === 'string') return parseDay(value, field);
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw new TypeError(`${field} must be a valid Date or a 'YYYY-MM-DD' string`);
  return startOfDay(value);
}

// Checks without narrowing: `Array.isArray` would turn a typed readonly array into `any[]`.
export function requireArray(value: unknown, message: string): void {
  if (!Array.isArray(value)) throw new TypeError(message);
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
