import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { Decimal } from 'decimal.js';
import { formatDay, fromEpochDay, parseDay, toEpochDay } from './calendar.js';
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
  TransactionType,
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

/** Options of {@link SqliteFinanceStore}: exactly one of `path` and `database`. */
export type SqliteFinanceStoreOptions = {
  /**
   * Prefix of the three tables (`<prefix>_users`, `<prefix>_transactions`, `<prefix>_goals`), created when
   * missing. Letters, digits and `_`, starting with a letter, at most 40 characters.
   * @default 'finance'
   */
  tablePrefix?: string;
} & (
  | {
      /** File to open (created when missing), or `':memory:'` for a private in-process database. */
      path: string;
      database?: never;
    }
  | {
      /** An open connection the caller owns: {@link SqliteFinanceStore.close} leaves it open, pragmas untouched. */
      database: Database.Database;
      path?: never;
    }
);

interface UserRecord {
  id: string;
  name: string;
  opening_balance: string;
  opening_date: string;
}

interface TransactionRecord {
  id: string;
  user_id: string;
  date: string;
  amount: string;
  type: string;
  category: string;
  description: string | null;
}

interface GoalRecord {
  id: string;
  user_id: string;
  name: string;
  target: string;
  saved: string;
  created_at: string;
  deadline: string | null;
  monthly_contribution: string | null;
}

// How long a connection we opened waits on another process's write lock before failing with SQLITE_BUSY.
const BUSY_TIMEOUT_MS = 5_000;
const PREFIX = /^[A-Za-z][A-Za-z0-9_]{0,39}$/;
// Stand-ins for an open end of a date range; ISO day text compares in date order.
const FIRST_DAY = '0001-01-01';
const LAST_DAY = '9999-12-31';

/**
 * A {@link FinanceStore} in SQLite through better-sqlite3.
 *
 * Money is stored as decimal TEXT in plain notation (`'1234.50'`), never REAL, so every digit survives; for
 * the same reason sums are done in decimal.js after reading, because SQLite's `SUM()` would go through
 * floating point. Days are stored as ISO `'YYYY-MM-DD'` TEXT, which sorts and compares in date order.
 *
 * Every method is synchronous, as better-sqlite3 is: a call runs to completion on the calling thread.
 * Each write is one IMMEDIATE transaction, so the "before" record it returns is the one it replaced even
 * when other processes write the same file.
 *
 * @example
 * const store = new SqliteFinanceStore('finance.db'); // or ':memory:'
 * store.addUser({ id: 'u1', name: 'Ada', openingBalance: new Decimal('100.00'), openingDate: day(2024, 1, 1) });
 * store.close();
 */
export class SqliteFinanceStore implements FinanceStore {
  readonly #db: Database.Database;
  readonly #owned: boolean;
  readonly #sql: ReturnType<typeof prepare>;
  #closed = false;

  constructor(options: string | SqliteFinanceStoreOptions) {
    const resolved: SqliteFinanceStoreOptions = typeof options === 'string' ? { path: options } : options;
    if (typeof resolved !== 'object' || resolved === null) {
      throw new TypeError('SqliteFinanceStore needs a path or an options object');
    }
    const { tablePrefix = 'finance' } = resolved;
    if (typeof tablePrefix !== 'string' || !PREFIX.test(tablePrefix)) {
      throw new TypeError(`tablePrefix must be a letter followed by up to 39 letters, digits or _, got ${JSON.stringify(tablePrefix)}`);
    }
    const hasPath = resolved.path !== undefined;
    if (hasPath === (resolved.database !== undefined)) throw new TypeError('SqliteFinanceStore needs exactly one of path or database');
    const path: unknown = resolved.path;
    if (hasPath && typeof path !== 'string') throw new TypeError(`path must be a string, got ${typeof path}`);

    this.#owned = resolved.database === undefined;
    const db = resolved.database ?? new Database(resolved.path);
    try {
      if (this.#owned) {
        db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
        if (!db.memory) db.pragma('journal_mode = WAL');
        db.pragma('foreign_keys = ON');
      }
      createTables(db, tablePrefix);
      this.#sql = prepare(db, tablePrefix);
    } catch (error) {
      // A connection we opened must not leak when the schema cannot be set up.
      if (this.#owned && db.open) db.close();
      throw error;
    }
    this.#db = db;
  }

  addUser(input: NewUser): Added<User> {
    this.#assertOpen();
    const row = validateNewUser(input);
    this.#write(() => {
      if (this.#sql.getUser.get(row.id) !== undefined) throw new DuplicateRecordError('user', row.id);
      this.#sql.insertUser.run(row.id, row.name, money(row.openingBalance), dayText(row.openingDay));
    });
    return { kind: 'added', before: undefined, after: toUser(row) };
  }

  updateUser(id: string, patch: UserPatch): Updated<User> {
    this.#assertOpen();
    checkId(id, 'id');
    const [before, after] = this.#write(() => {
      const current = this.#user(id, 'id');
      const next = applyUserPatch(current, patch);
      this.#sql.updateUser.run(next.name, money(next.openingBalance), next.id);
      return [current, next] as const;
    });
    return { kind: 'updated', before: toUser(before), after: toUser(after) };
  }

  getUser(id: string): User | undefined {
    this.#assertOpen();
    const record = this.#sql.getUser.get(id);
    return record === undefined ? undefined : toUser(userRow(record));
  }

  listUsers(): User[] {
    this.#assertOpen();
    return this.#sql.listUsers.all().map((record) => toUser(userRow(record)));
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
    const rows = inputs.map((input) => validateNewTransaction(input, randomUUID));
    // One transaction for the batch: all or nothing, and one commit instead of one per row.
    this.#write(() => {
      const users = new Map<string, UserRow>();
      const ids = new Set<string>();
      for (const row of rows) {
        let user = users.get(row.userId);
        if (user === undefined) users.set(row.userId, (user = this.#user(row.userId, 'transaction.userId')));
        checkAfterOpening(row, user);
        if (ids.has(row.id) || this.#sql.getTransaction.get(row.id) !== undefined) throw new DuplicateRecordError('transaction', row.id);
        ids.add(row.id);
        this.#sql.insertTransaction.run(...transactionParams(row));
      }
    });
    return rows.map((row) => ({ kind: 'added', before: undefined, after: toTransaction(row) }));
  }

  updateTransaction(id: string, patch: TransactionPatch): Updated<Transaction> {
    this.#assertOpen();
    checkId(id, 'id');
    const [before, after] = this.#write(() => {
      const current = this.#transaction(id);
      const next = applyTransactionPatch(current, patch);
      checkAfterOpening(next, this.#user(next.userId, 'transaction.userId'));
      const [rowId, userId, ...rest] = transactionParams(next);
      this.#sql.updateTransaction.run(...rest, rowId, userId);
      return [current, next] as const;
    });
    return { kind: 'updated', before: toTransaction(before), after: toTransaction(after) };
  }

  deleteTransaction(id: string): Deleted<Transaction> {
    this.#assertOpen();
    checkId(id, 'id');
    const before = this.#write(() => {
      const current = this.#transaction(id);
      this.#sql.deleteTransaction.run(id);
      return current;
    });
    return { kind: 'deleted', before: toTransaction(before), after: undefined };
  }

  getTransaction(id: string): Transaction | undefined {
    this.#assertOpen();
    const record = this.#sql.getTransaction.get(id);
    return record === undefined ? undefined : toTransaction(transactionRow(record));
  }

  listTransactions(userId: string, range: DayRange = {}): Transaction[] {
    this.#assertOpen();
    this.#user(checkId(userId, 'userId'), 'userId');
    const { from, to } = dayBounds(range);
    const fromText = from === -Infinity ? FIRST_DAY : dayText(from);
    const toText = to === Infinity ? LAST_DAY : dayText(to);
    return this.#sql.listTransactions.all(userId, fromText, toText).map((record) => toTransaction(transactionRow(record)));
  }

  addGoal(input: NewGoal): Added<Goal> {
    this.#assertOpen();
    const row = validateNewGoal(input, randomUUID);
    this.#write(() => {
      this.#user(row.userId, 'goal.userId');
      if (this.#sql.getGoal.get(row.id) !== undefined) throw new DuplicateRecordError('goal', row.id);
      this.#sql.insertGoal.run(...goalParams(row));
    });
    return { kind: 'added', before: undefined, after: toGoal(row) };
  }

  updateGoal(id: string, patch: GoalPatch): Updated<Goal> {
    this.#assertOpen();
    checkId(id, 'id');
    const [before, after] = this.#write(() => {
      const current = this.#goal(id);
      const next = applyGoalPatch(current, patch);
      const [goalId, , ...rest] = goalParams(next);
      this.#sql.updateGoal.run(...rest, goalId);
      return [current, next] as const;
    });
    return { kind: 'updated', before: toGoal(before), after: toGoal(after) };
  }

  deleteGoal(id: string): Deleted<Goal> {
    this.#assertOpen();
    checkId(id, 'id');
    const before = this.#write(() => {
      const current = this.#goal(id);
      this.#sql.deleteGoal.run(id);
      return current;
    });
    return { kind: 'deleted', before: toGoal(before), after: undefined };
  }

  getGoal(id: string): Goal | undefined {
    this.#assertOpen();
    const record = this.#sql.getGoal.get(id);
    return record === undefined ? undefined : toGoal(goalRow(record));
  }

  listGoals(userId: string): Goal[] {
    this.#assertOpen();
    this.#user(checkId(userId, 'userId'), 'userId');
    return this.#sql.listGoals.all(userId).map((record) => toGoal(goalRow(record)));
  }

  balanceAsOf(userId: string, date: Date): Decimal {
    this.#assertOpen();
    const user = this.#user(checkId(userId, 'userId'), 'userId');
    const through = dayText(balanceDay(date, user));
    const flows = this.#sql.amountsThrough.all(userId, through).map(({ type, amount }) => ({ type, amount: readMoney(amount, 'amount') }));
    return sumBalance(user.openingBalance, flows);
  }

  /** Closes the connection when the store opened it; one passed in as `database` stays open. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#owned && this.#db.open) this.#db.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('SqliteFinanceStore is closed');
  }

  #write<T>(fn: () => T): T {
    // IMMEDIATE takes the write lock before the reads, so no other process can change the row in between.
    return this.#db.transaction(fn).immediate();
  }

  #user(id: string, field: string): UserRow {
    const record = this.#sql.getUser.get(id);
    if (record === undefined) throw new RecordNotFoundError('user', id, field);
    return userRow(record);
  }

  #transaction(id: string): TransactionRow {
    const record = this.#sql.getTransaction.get(id);
    if (record === undefined) throw new RecordNotFoundError('transaction', id);
    return transactionRow(record);
  }

  #goal(id: string): GoalRow {
    const record = this.#sql.getGoal.get(id);
    if (record === undefined) throw new RecordNotFoundError('goal', id);
    return goalRow(record);
  }
}

function createTables(db: Database.Database, prefix: string): void {
  // STRICT makes SQLite refuse a REAL slipping into a money column instead of converting it.
  db.exec(`
    CREATE TABLE IF NOT EXISTS "${prefix}_users" (
      id TEXT NOT NULL PRIMARY KEY,
      name TEXT NOT NULL,
      opening_balance TEXT NOT NULL,
      opening_date TEXT NOT NULL
    ) STRICT;
    CREATE TABLE IF NOT EXISTS "${prefix}_transactions" (
      id TEXT NOT NULL PRIMARY KEY,
      user_id TEXT NOT NULL REFERENCES "${prefix}_users" (id),
      date TEXT NOT NULL,
      amount TEXT NOT NULL,
      type TEXT NOT NULL CHECK (type IN ('income', 'expense')),
      category TEXT NOT NULL,
      description TEXT
    ) STRICT;
    CREATE INDEX IF NOT EXISTS "${prefix}_transactions_user_date_idx" ON "${prefix}_transactions" (user_id, date, id);
    CREATE TABLE IF NOT EXISTS "${prefix}_goals" (
      id TEXT NOT NULL PRIMARY KEY,
      user_id TEXT NOT NULL REFERENCES "${prefix}_users" (id),
      name TEXT NOT NULL,
      target TEXT NOT NULL,
      saved TEXT NOT NULL,
      created_at TEXT NOT NULL,
      deadline TEXT,
      monthly_contribution TEXT
    ) STRICT;
    CREATE INDEX IF NOT EXISTS "${prefix}_goals_user_idx" ON "${prefix}_goals" (user_id, id);
  `);
}

type TransactionParams = [string, string, string, string, TransactionType, string, string | null];
type GoalParams = [string, string, string, string, string, string, string | null, string | null];

function prepare(db: Database.Database, prefix: string) {
  const users = `"${prefix}_users"`;
  const transactions = `"${prefix}_transactions"`;
  const goals = `"${prefix}_goals"`;
  const txColumns = 'id, user_id, date, amount, type, category, description';
  const goalColumns = 'id, user_id, name, target, saved, created_at, deadline, monthly_contribution';
  return {
    getUser: db.prepare<[string], UserRecord>(`SELECT id, name, opening_balance, opening_date FROM ${users} WHERE id = ?`),
    listUsers: db.prepare<[], UserRecord>(`SELECT id, name, opening_balance, opening_date FROM ${users} ORDER BY id`),
    insertUser: db.prepare<[string, string, string, string], unknown>(
      `INSERT INTO ${users} (id, name, opening_balance, opening_date) VALUES (?, ?, ?, ?)`,
    ),
    updateUser: db.prepare<[string, string, string], unknown>(`UPDATE ${users} SET name = ?, opening_balance = ? WHERE id = ?`),
    getTransaction: db.prepare<[string], TransactionRecord>(`SELECT ${txColumns} FROM ${transactions} WHERE id = ?`),
    listTransactions: db.prepare<[string, string, string], TransactionRecord>(
      `SELECT ${txColumns} FROM ${transactions} WHERE user_id = ? AND date BETWEEN ? AND ? ORDER BY date, id`,
    ),
    amountsThrough: db.prepare<[string, string], { type: string; amount: string }>(
      `SELECT type, amount FROM ${transactions} WHERE user_id = ? AND date <= ?`,
    ),
    insertTransaction: db.prepare<TransactionParams, unknown>(`INSERT INTO ${transactions} (${txColumns}) VALUES (?, ?, ?, ?, ?, ?, ?)`),
    updateTransaction: db.prepare<[string, string, TransactionType, string, string | null, string, string], unknown>(
      `UPDATE ${transactions} SET date = ?, amount = ?, type = ?, category = ?, description = ? WHERE id = ? AND user_id = ?`,
    ),
    deleteTransaction: db.prepare<[string], unknown>(`DELETE FROM ${transactions} WHERE id = ?`),
    getGoal: db.prepare<[string], GoalRecord>(`SELECT ${goalColumns} FROM ${goals} WHERE id = ?`),
    listGoals: db.prepare<[string], GoalRecord>(`SELECT ${goalColumns} FROM ${goals} WHERE user_id = ? ORDER BY id`),
    insertGoal: db.prepare<GoalParams, unknown>(`INSERT INTO ${goals} (${goalColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
    updateGoal: db.prepare<[string, string, string, string, string | null, string | null, string], unknown>(
      `UPDATE ${goals} SET name = ?, target = ?, saved = ?, created_at = ?, deadline = ?, monthly_contribution = ? WHERE id = ?`,
    ),
    deleteGoal: db.prepare<[string], unknown>(`DELETE FROM ${goals} WHERE id = ?`),
  };
}

/** Plain notation with every digit: `toString()` would switch to exponents (`1e+21`, `1e-7`). */
function money(value: Decimal): string {
  return value.toFixed();
}

function dayText(epochDay: number): string {
  return formatDay(fromEpochDay(epochDay));
}

function transactionParams(row: TransactionRow): TransactionParams {
  return [row.id, row.userId, dayText(row.day), money(row.amount), row.type, row.category, row.description ?? null];
}

function goalParams(row: GoalRow): GoalParams {
  return [
    row.id,
    row.userId,
    row.name,
    money(row.target),
    money(row.saved),
    dayText(row.createdDay),
    row.deadlineDay === undefined ? null : dayText(row.deadlineDay),
    row.monthlyContribution === undefined ? null : money(row.monthlyContribution),
  ];
}

// Rows are parsed strictly: text that is not a day or a decimal means someone else wrote into the table,
// and a silently wrong balance is worse than an error.
function readMoney(text: string, column: string): Decimal {
  const value = new Decimal(text);
  if (!value.isFinite()) throw new RangeError(`column ${column} holds ${JSON.stringify(text)}, not a finite decimal`);
  return value;
}

function readDay(text: string, column: string): number {
  return toEpochDay(parseDay(text, `column ${column}`));
}

function userRow(record: UserRecord): UserRow {
  return {
    id: record.id,
    name: record.name,
    openingBalance: readMoney(record.opening_balance, 'opening_balance'),
    openingDay: readDay(record.opening_date, 'opening_date'),
  };
}

function transactionRow(record: TransactionRecord): TransactionRow {
  if (record.type !== 'income' && record.type !== 'expense') throw new RangeError(`column type holds ${JSON.stringify(record.type)}`);
  return {
    id: record.id,
    userId: record.user_id,
    day: readDay(record.date, 'date'),
    amount: readMoney(record.amount, 'amount'),
    type: record.type,
    category: record.category,
    description: record.description ?? undefined,
  };
}

function goalRow(record: GoalRecord): GoalRow {
  return {
    id: record.id,
    userId: record.user_id,
    name: record.name,
    target: readMoney(record.target, 'target'),
    saved: readMoney(record.saved, 'saved'),
    createdDay: readDay(record.created_at, 'created_at'),
    deadlineDay: record.deadline === null ? undefined : readDay(record.deadline, 'deadline'),
    monthlyContribution: record.monthly_contribution === null ? undefined : readMoney(record.monthly_contribution, 'monthly_contribution'),
  };
}
