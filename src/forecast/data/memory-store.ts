import { randomUUID } from 'node:crypto';
import type { Decimal } from 'decimal.js';
import { DuplicateRecordError, RecordNotFoundError } from './errors.js';
import type { FinanceStore } from './store.js';
import type {
  Added,
  DayRange,
  Deleted,
  Goal,
  GoalPatch,
  NewGoal,
  NewTransaction,
  NewUser,
  Transaction,
  TransactionPatch,
  Updated,
  User,
  UserPatch,
} from './types.js';
import {
  applyGoalPatch,
  applyTransactionPatch,
  applyUserPatch,
  balanceDay,
  checkAfterOpening,
  checkId,
  compareCodePoints,
  compareTransactionRows,
  dayBounds,
  sumBalance,
  toGoal,
  toTransaction,
  toUser,
  validateNewGoal,
  validateNewTransaction,
  validateNewUser,
  type GoalRow,
  type TransactionRow,
  type UserRow,
} from './validate.js';

/**
 * A {@link FinanceStore} in process memory: for tests, demos, and as the snapshot an async data source
 * loads a user into before the calculators run.
 *
 * Each user's transactions are kept sorted by day, so a date-range read is two binary searches and a slice.
 *
 * @example
 * const store = new MemoryFinanceStore();
 * store.addUser({ id: 'u1', name: 'Ada', openingBalance: new Decimal('100.00'), openingDate: day(2024, 1, 1) });
 * store.addTransaction({ userId: 'u1', date: day(2024, 1, 2), amount: new Decimal('12.50'), type: 'expense', category: 'food' });
 * store.balanceAsOf('u1', day(2024, 1, 2)).toFixed(2); // '87.50'
 */
export class MemoryFinanceStore implements FinanceStore {
  readonly #users = new Map<string, UserRow>();
  readonly #transactions = new Map<string, TransactionRow>();
  /** Per user, sorted by {@link compareTransactionRows}. */
  readonly #byUser = new Map<string, TransactionRow[]>();
  readonly #goals = new Map<string, GoalRow>();
  #closed = false;

  addUser(input: NewUser): Added<User> {
    this.#assertOpen();
    const row = validateNewUser(input);
    if (this.#users.has(row.id)) throw new DuplicateRecordError('user', row.id);
    this.#users.set(row.id, row);
    this.#byUser.set(row.id, []);
    return { kind: 'added', before: undefined, after: toUser(row) };
  }

  updateUser(id: string, patch: UserPatch): Updated<User> {
    this.#assertOpen();
    const before = this.#user(checkId(id, 'id'), 'id');
    const after = applyUserPatch(before, patch);
    this.#users.set(after.id, after);
    return { kind: 'updated', before: toUser(before), after: toUser(after) };
  }

  getUser(id: string): User | undefined {
    this.#assertOpen();
    const row = this.#users.get(id);
    return row === undefined ? undefined : toUser(row);
  }

  listUsers(): User[] {
    this.#assertOpen();
    return [...this.#users.values()].sort((a, b) => compareCodePoints(a.id, b.id)).map(toUser);
  }

  addTransaction(input: NewTransaction): Added<Transaction> {
    const [change] = this.addTransactions([input]);
    // addTransactions returns one change per input.
    return change!;
  }

  addTransactions(inputs: readonly NewTransaction[]): Added<Transaction>[] {
    this.#assertOpen();
    const list: unknown = inputs;
    if (!Array.isArray(list)) throw new TypeError('transactions must be an array');
    const rows: TransactionRow[] = [];
    const ids = new Set<string>();
    // Everything is checked before the first insert, so a bad item leaves the store as it was.
    for (const input of inputs) {
      const row = validateNewTransaction(input, randomUUID);
      checkAfterOpening(row, this.#user(row.userId, 'transaction.userId'));
      if (this.#transactions.has(row.id) || ids.has(row.id)) throw new DuplicateRecordError('transaction', row.id);
      ids.add(row.id);
      rows.push(row);
    }
    for (const row of rows) this.#insert(row);
    return rows.map((row) => ({ kind: 'added', before: undefined, after: toTransaction(row) }));
  }

  updateTransaction(id: string, patch: TransactionPatch): Updated<Transaction> {
    this.#assertOpen();
    const before = this.#transaction(checkId(id, 'id'));
    const after = applyTransactionPatch(before, patch);
    checkAfterOpening(after, this.#user(after.userId, 'transaction.userId'));
    this.#remove(before);
    this.#insert(after);
    return { kind: 'updated', before: toTransaction(before), after: toTransaction(after) };
  }

  deleteTransaction(id: string): Deleted<Transaction> {
    this.#assertOpen();
    const before = this.#transaction(checkId(id, 'id'));
    this.#remove(before);
    return { kind: 'deleted', before: toTransaction(before), after: undefined };
  }

  getTransaction(id: string): Transaction | undefined {
    this.#assertOpen();
    const row = this.#transactions.get(id);
    return row === undefined ? undefined : toTransaction(row);
  }

  listTransactions(userId: string, range: DayRange = {}): Transaction[] {
    this.#assertOpen();
    const rows = this.#rowsOf(userId);
    const { from, to } = dayBounds(range);
    return rows.slice(firstOnOrAfter(rows, from), firstOnOrAfter(rows, to + 1)).map(toTransaction);
  }

  addGoal(input: NewGoal): Added<Goal> {
    this.#assertOpen();
    const row = validateNewGoal(input, randomUUID);
    this.#user(row.userId, 'goal.userId');
    if (this.#goals.has(row.id)) throw new DuplicateRecordError('goal', row.id);
    this.#goals.set(row.id, row);
    return { kind: 'added', before: undefined, after: toGoal(row) };
  }

  updateGoal(id: string, patch: GoalPatch): Updated<Goal> {
    this.#assertOpen();
    const before = this.#goal(checkId(id, 'id'));
    const after = applyGoalPatch(before, patch);
    this.#goals.set(after.id, after);
    return { kind: 'updated', before: toGoal(before), after: toGoal(after) };
  }

  deleteGoal(id: string): Deleted<Goal> {
    this.#assertOpen();
    const before = this.#goal(checkId(id, 'id'));
    this.#goals.delete(before.id);
    return { kind: 'deleted', before: toGoal(before), after: undefined };
  }

  getGoal(id: string): Goal | undefined {
    this.#assertOpen();
    const row = this.#goals.get(id);
    return row === undefined ? undefined : toGoal(row);
  }

  listGoals(userId: string): Goal[] {
    this.#assertOpen();
    this.#user(checkId(userId, 'userId'), 'userId');
    const goals: GoalRow[] = [];
    for (const goal of this.#goals.values()) if (goal.userId === userId) goals.push(goal);
    return goals.sort((a, b) => compareCodePoints(a.id, b.id)).map(toGoal);
  }

  balanceAsOf(userId: string, date: Date): Decimal {
    this.#assertOpen();
    const user = this.#user(checkId(userId, 'userId'), 'userId');
    const through = balanceDay(date, user);
    const rows = this.#byUser.get(user.id) ?? [];
    return sumBalance(user.openingBalance, rows.slice(0, firstOnOrAfter(rows, through + 1)));
  }

  close(): void {
    this.#closed = true;
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('MemoryFinanceStore is closed');
  }

  #user(id: string, field: string): UserRow {
    const row = this.#users.get(id);
    if (row === undefined) throw new RecordNotFoundError('user', id, field);
    return row;
  }

  #transaction(id: string): TransactionRow {
    const row = this.#transactions.get(id);
    if (row === undefined) throw new RecordNotFoundError('transaction', id);
    return row;
  }

  #goal(id: string): GoalRow {
    const row = this.#goals.get(id);
    if (row === undefined) throw new RecordNotFoundError('goal', id);
    return row;
  }

  #rowsOf(userId: string): TransactionRow[] {
    const rows = this.#byUser.get(checkId(userId, 'userId'));
    if (rows === undefined) throw new RecordNotFoundError('user', userId, 'userId');
    return rows;
  }

  #insert(row: TransactionRow): void {
    const rows = this.#byUser.get(row.userId)!;
    // Appending in date order (the common case for imports and the demo data) skips the search.
    const last = rows[rows.length - 1];
    if (last === undefined || compareTransactionRows(last, row) < 0) rows.push(row);
    else rows.splice(insertionPoint(rows, row), 0, row);
    this.#transactions.set(row.id, row);
  }

  #remove(row: TransactionRow): void {
    const rows = this.#byUser.get(row.userId)!;
    const at = insertionPoint(rows, row);
    if (rows[at] !== row) throw new Error(`MemoryFinanceStore: transaction ${row.id} is missing from its user's index`);
    rows.splice(at, 1);
    this.#transactions.delete(row.id);
  }
}

/** Index of the first row whose day is `day` or later. */
function firstOnOrAfter(rows: readonly TransactionRow[], day: number): number {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (rows[mid]!.day < day) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index where `row` sits, or would sit, in rows sorted by {@link compareTransactionRows}. */
function insertionPoint(rows: readonly TransactionRow[], row: TransactionRow): number {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareTransactionRows(rows[mid]!, row) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
