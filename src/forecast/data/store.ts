import type { Decimal } from 'decimal.js';
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

/**
 * Where the calculators read users, transactions and goals from.
 *
 * Every method is synchronous: the SQLite implementation sits on better-sqlite3, which is synchronous, and
 * the calculators are pure functions of what they read, so an async interface would only add an `await`
 * per read without letting anything run in between. A store over an async database would load the
 * user's data first and hand the calculators a {@link MemoryFinanceStore}.
 *
 * Contract every implementation keeps (the shared test suite checks it):
 * - records come back as fresh objects: changing one never changes the store;
 * - money is `Decimal` in and out, with every digit kept; dates are calendar days at UTC midnight;
 * - transactions are listed by day, then by id (in Unicode code point order), so every store lists alike;
 * - bad input throws a `TypeError` (wrong type) or `RangeError` (wrong value) whose message starts with the
 *   field (`transaction.amount must be a Decimal, got number 10`); an unknown id throws
 *   {@link RecordNotFoundError}, a taken one {@link DuplicateRecordError}; a write that throws changes nothing.
 */
export interface FinanceStore {
  addUser(input: NewUser): Added<User>;
  /** @throws {RecordNotFoundError} */
  updateUser(id: string, patch: UserPatch): Updated<User>;
  getUser(id: string): User | undefined;
  /** Every user, by id. */
  listUsers(): User[];

  /** @throws {RecordNotFoundError} when `userId` names no user. */
  addTransaction(input: NewTransaction): Added<Transaction>;
  /** Adds all or none: any bad input throws before anything is written. */
  addTransactions(inputs: readonly NewTransaction[]): Added<Transaction>[];
  /** @throws {RecordNotFoundError} */
  updateTransaction(id: string, patch: TransactionPatch): Updated<Transaction>;
  /** @throws {RecordNotFoundError} */
  deleteTransaction(id: string): Deleted<Transaction>;
  getTransaction(id: string): Transaction | undefined;
  /**
   * The user's transactions whose day is within `range` (both ends inclusive), by day then id.
   * @throws {RecordNotFoundError} when `userId` names no user.
   */
  listTransactions(userId: string, range?: DayRange): Transaction[];

  /** @throws {RecordNotFoundError} when `userId` names no user. */
  addGoal(input: NewGoal): Added<Goal>;
  /** @throws {RecordNotFoundError} */
  updateGoal(id: string, patch: GoalPatch): Updated<Goal>;
  /** @throws {RecordNotFoundError} */
  deleteGoal(id: string): Deleted<Goal>;
  getGoal(id: string): Goal | undefined;
  /** The user's goals, by id. @throws {RecordNotFoundError} when `userId` names no user. */
  listGoals(userId: string): Goal[];

  /**
   * The balance at the end of `date`: opening balance plus income minus expenses from the opening day
   * through `date`, summed exactly.
   * @throws {RangeError} when `date` is before the user's opening day, where no balance is known.
   */
  balanceAsOf(userId: string, date: Date): Decimal;

  /** Releases what the store holds open (a database connection); later calls throw. */
  close(): void;
}
