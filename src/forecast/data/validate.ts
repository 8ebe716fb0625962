import { Decimal } from 'decimal.js';
import { isDecimal } from '../../codec/decimal.js';
import { assertDay, describeValue, formatDay, fromEpochDay, toEpochDay } from './calendar.js';
import type { DayRange, Goal, GoalPatch, NewGoal, NewTransaction, NewUser, Transaction, TransactionPatch, TransactionType, User, UserPatch } from './types.js';

// Both stores keep records in these shapes and validate through these functions, so they accept and refuse
// exactly the same input. Days are epoch-day integers: cheap to compare, and a caller holding a Date we
// returned cannot reach into the store by mutating it.

/** @internal */
export interface UserRow {
  readonly id: string;
  readonly name: string;
  readonly openingBalance: Decimal;
  readonly openingDay: number;
}

/** @internal */
export interface TransactionRow {
  readonly id: string;
  readonly userId: string;
  readonly day: number;
  readonly amount: Decimal;
  readonly type: TransactionType;
  readonly category: string;
  readonly description: string | undefined;
}

/** @internal */
export interface GoalRow {
  readonly id: string;
  readonly userId: string;
  readonly name: string;
  readonly target: Decimal;
  readonly saved: Decimal;
  readonly createdDay: number;
  readonly deadlineDay: number | undefined;
  readonly monthlyContribution: Decimal | undefined;
}

const MAX_ID_LENGTH = 200;
const MAX_TEXT_LENGTH = 1_000;

type Sign = 'positive' | 'non-negative' | 'any';

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`${what} must be an object, got ${describeValue(value)}`);
  }
  return value as Record<string, unknown>;
}

function onlyKeys(input: Record<string, unknown>, what: string, allowed: readonly string[], fixed: readonly string[] = []): void {
  for (const key of Object.keys(input)) {
    if (allowed.includes(key)) continue;
    // A typo such as `ammount` would otherwise be a write that silently did nothing.
    if (fixed.includes(key)) throw new TypeError(`${what}.${key} cannot be changed`);
    throw new TypeError(`${what}.${key} is not a field of ${what}`);
  }
}

/** A non-empty id of at most 200 characters. */
export function checkId(value: unknown, field: string): string {
  if (typeof value !== 'string') throw new TypeError(`${field} must be a string, got ${describeValue(value)}`);
  if (value.length === 0 || value.length > MAX_ID_LENGTH) {
    throw new RangeError(`${field} must be 1 to ${MAX_ID_LENGTH} characters long, got ${value.length}`);
  }
  return value;
}

function checkText(value: unknown, field: string): string {
  if (typeof value !== 'string') throw new TypeError(`${field} must be a string, got ${describeValue(value)}`);
  if (value.trim().length === 0 || value.length > MAX_TEXT_LENGTH) {
    throw new RangeError(`${field} must be non-blank and at most ${MAX_TEXT_LENGTH} characters long`);
  }
  return value;
}

function checkOptionalText(value: unknown, field: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new TypeError(`${field} must be a string, got ${describeValue(value)}`);
  if (value.length > MAX_TEXT_LENGTH) throw new RangeError(`${field} must be at most ${MAX_TEXT_LENGTH} characters long`);
  return value;
}

/**
 * A finite Decimal of the required sign, as an instance of this package's decimal.js. Plain numbers are
 * refused, not converted: `0.1 + 0.2` has already lost the cents by the time it arrives.
 */
export function checkMoney(value: unknown, field: string, sign: Sign): Decimal {
  if (!isDecimal(value)) throw new TypeError(`${field} must be a Decimal, got ${describeValue(value)}`);
  // A Decimal from another copy of decimal.js, or from a clone (which passes `instanceof`), would carry its own
  // precision into later arithmetic; rebuilding it from its text keeps every digit under ours.
  const amount = (value as { constructor?: unknown }).constructor === Decimal ? value : new Decimal((value as { toString(): string }).toString());
  if (!amount.isFinite()) throw new RangeError(`${field} must be finite, got ${amount.toString()}`);
  if (sign === 'positive' && !amount.gt(0)) throw new RangeError(`${field} must be greater than 0, got ${amount.toString()}`);
  if (amount.isZero()) return new Decimal(0); // drops -0, which would otherwise print and compare apart from 0
  if (sign === 'non-negative' && amount.isNegative()) throw new RangeError(`${field} must not be negative, got ${amount.toString()}`);
  return amount;
}

function checkDay(value: unknown, field: string): number {
  assertDay(value, field);
  return toEpochDay(value);
}

function checkType(value: unknown, field: string): TransactionType {
  if (value === 'income' || value === 'expense') return value;
  if (typeof value !== 'string') throw new TypeError(`${field} must be 'income' or 'expense', got ${describeValue(value)}`);
  throw new RangeError(`${field} must be 'income' or 'expense', got ${describeValue(value)}`);
}

/** @internal */
export function validateNewUser(input: NewUser): UserRow {
  const raw = record(input, 'user');
  onlyKeys(raw, 'user', ['id', 'name', 'openingBalance', 'openingDate']);
  return {
    id: checkId(raw.id, 'user.id'),
    name: checkText(raw.name, 'user.name'),
    openingBalance: checkMoney(raw.openingBalance, 'user.openingBalance', 'any'),
    openingDay: checkDay(raw.openingDate, 'user.openingDate'),
  };
}

/** @internal */
export function applyUserPatch(row: UserRow, patch: UserPatch): UserRow {
  const raw = record(patch, 'user patch');
  onlyKeys(raw, 'user', ['name', 'openingBalance'], ['id', 'openingDate']);
  return {
    ...row,
    ...(raw.name === undefined ? {} : { name: checkText(raw.name, 'user.name') }),
    ...(raw.openingBalance === undefined ? {} : { openingBalance: checkMoney(raw.openingBalance, 'user.openingBalance', 'any') }),
  };
}

/** @internal */
export function validateNewTransaction(input: NewTransaction, makeId: () => string): TransactionRow {
  const raw = record(input, 'transaction');
  onlyKeys(raw, 'transaction', ['id', 'userId', 'date', 'amount', 'type', 'category', 'description']);
  return {
    id: raw.id === undefined ? makeId() : checkId(raw.id, 'transaction.id'),
    userId: checkId(raw.userId, 'transaction.userId'),
    day: checkDay(raw.date, 'transaction.date'),
    amount: checkMoney(raw.amount, 'transaction.amount', 'positive'),
    type: checkType(raw.type, 'transaction.type'),
    category: checkText(raw.category, 'transaction.category'),
    description: checkOptionalText(raw.description, 'transaction.description'),
  };
}

/** @internal */
export function applyTransactionPatch(row: TransactionRow, patch: TransactionPatch): TransactionRow {
  const raw = record(patch, 'transaction patch');
  onlyKeys(raw, 'transaction', ['date', 'amount', 'type', 'category', 'description'], ['id', 'userId']);
  return {
    ...row,
    ...(raw.date === undefined ? {} : { day: checkDay(raw.date, 'transaction.date') }),
    ...(raw.amount === undefined ? {} : { amount: checkMoney(raw.amount, 'transaction.amount', 'positive') }),
    ...(raw.type === undefined ? {} : { type: checkType(raw.type, 'transaction.type') }),
    ...(raw.category === undefined ? {} : { category: checkText(raw.category, 'transaction.category') }),
    ...(raw.description === undefined
      ? {}
      : { description: raw.description === null ? undefined : checkOptionalText(raw.description, 'transaction.description') }),
  };
}

/** @internal */
export function validateNewGoal(input: NewGoal, makeId: () => string): GoalRow {
  const raw = record(input, 'goal');
  onlyKeys(raw, 'goal', ['id', 'userId', 'name', 'target', 'saved', 'createdAt', 'deadline', 'monthlyContribution']);
  const row: GoalRow = {
    id: raw.id === undefined ? makeId() : checkId(raw.id, 'goal.id'),
    userId: checkId(raw.userId, 'goal.userId'),
    name: checkText(raw.name, 'goal.name'),
    target: checkMoney(raw.target, 'goal.target', 'positive'),
    saved: raw.saved === undefined ? new Decimal(0) : checkMoney(raw.saved, 'goal.saved', 'non-negative'),
    createdDay: checkDay(raw.createdAt, 'goal.createdAt'),
    deadlineDay: raw.deadline === undefined ? undefined : checkDay(raw.deadline, 'goal.deadline'),
    monthlyContribution:
      raw.monthlyContribution === undefined ? undefined : checkMoney(raw.monthlyContribution, 'goal.monthlyContribution', 'non-negative'),
  };
  checkDeadline(row);
  return row;
}

/** @internal */
export function applyGoalPatch(row: GoalRow, patch: GoalPatch): GoalRow {
  const raw = record(patch, 'goal patch');
  onlyKeys(raw, 'goal', ['name', 'target', 'saved', 'deadline', 'monthlyContribution'], ['id', 'userId', 'createdAt']);
  const next: GoalRow = {
    ...row,
    ...(raw.name === undefined ? {} : { name: checkText(raw.name, 'goal.name') }),
    ...(raw.target === undefined ? {} : { target: checkMoney(raw.target, 'goal.target', 'positive') }),
    ...(raw.saved === undefined ? {} : { saved: checkMoney(raw.saved, 'goal.saved', 'non-negative') }),
    ...(raw.deadline === undefined ? {} : { deadlineDay: raw.deadline === null ? undefined : checkDay(raw.deadline, 'goal.deadline') }),
    ...(raw.monthlyContribution === undefined
      ? {}
      : {
          monthlyContribution:
            raw.monthlyContribution === null ? undefined : checkMoney(raw.monthlyContribution, 'goal.monthlyContribution', 'non-negative'),
        }),
  };
  checkDeadline(next);
  return next;
}

function checkDeadline(row: GoalRow): void {
  if (row.deadlineDay !== undefined && row.deadlineDay < row.createdDay) {
    throw new RangeError(
      `goal.deadline ${formatDay(fromEpochDay(row.deadlineDay))} is before goal.createdAt ${formatDay(fromEpochDay(row.createdDay))}`,
    );
  }
}

/** @internal Refuses a transaction dated before its user's opening day, where no balance exists to move. */
export function checkAfterOpening(row: TransactionRow, user: UserRow): void {
  if (row.day < user.openingDay) {
    throw new RangeError(
      `transaction.date ${formatDay(fromEpochDay(row.day))} is before the opening date ${formatDay(fromEpochDay(user.openingDay))} of user ${JSON.stringify(user.id)}`,
    );
  }
}

/** @internal */
export function toUser(row: UserRow): User {
  return { id: row.id, name: row.name, openingBalance: row.openingBalance, openingDate: fromEpochDay(row.openingDay) };
}

/** @internal */
export function toTransaction(row: TransactionRow): Transaction {
  const base = { id: row.id, userId: row.userId, date: fromEpochDay(row.day), amount: row.amount, type: row.type, category: row.category };
  return row.description === undefined ? base : { ...base, description: row.description };
}

/** @internal */
export function toGoal(row: GoalRow): Goal {
  return {
    id: row.id,
    userId: row.userId,
    name: row.name,
    target: row.target,
    saved: row.saved,
    createdAt: fromEpochDay(row.createdDay),
    ...(row.deadlineDay === undefined ? {} : { deadline: fromEpochDay(row.deadlineDay) }),
    ...(row.monthlyContribution === undefined ? {} : { monthlyContribution: row.monthlyContribution }),
  };
}

/**
 * Orders strings by Unicode code point, as SQLite's BINARY collation orders their UTF-8 bytes. Plain `<`
 * compares UTF-16 units, which puts astral characters (emoji) before U+E000–U+FFFF and would make the two
 * stores list the same transactions in different orders.
 */
export function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      // Moves surrogates above U+E000–U+FFFF (the fix-up ICU uses for code point order in UTF-16).
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

/** @internal Day first, then id: the order every store lists transactions in. */
export function compareTransactionRows(a: TransactionRow, b: TransactionRow): number {
  return a.day - b.day || compareCodePoints(a.id, b.id);
}

/** @internal The inclusive epoch-day bounds of a range; an open side becomes ±Infinity. */
export function dayBounds(range: DayRange): { from: number; to: number } {
  if (typeof range !== 'object' || range === null) throw new TypeError('range must be an object with optional from and to');
  let from = -Infinity;
  let to = Infinity;
  if (range.from !== undefined) {
    assertDay(range.from, 'range.from');
    from = toEpochDay(range.from);
  }
  if (range.to !== undefined) {
    assertDay(range.to, 'range.to');
    to = toEpochDay(range.to);
  }
  return { from, to };
}

/** @internal Checks `date` for {@link FinanceStore.balanceAsOf} and returns it as an epoch day. */
export function balanceDay(date: Date, user: UserRow): number {
  assertDay(date, 'date');
  const through = toEpochDay(date);
  if (through < user.openingDay) {
    throw new RangeError(
      `date ${formatDay(date)} is before the opening date ${formatDay(fromEpochDay(user.openingDay))} of user ${JSON.stringify(user.id)}`,
    );
  }
  return through;
}

// Balances add up every transaction since the opening day; at decimal.js's default 20 significant digits a
// large balance with cents would be rounded. Addition costs what the operands' digits cost, not the
// precision setting, so this bound only says "never round a sum".
const Sum = Decimal.clone({ precision: 1e9 });

/** @internal Opening balance plus incomes minus expenses, with no rounding, as an application Decimal. */
export function sumBalance(opening: Decimal, flows: Iterable<{ readonly type: string; readonly amount: Decimal | string }>): Decimal {
  let balance = new Sum(opening);
  for (const { type, amount } of flows) balance = type === 'income' ? balance.plus(amount) : balance.minus(amount);
  return new Decimal(balance);
}
