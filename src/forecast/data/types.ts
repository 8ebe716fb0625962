import type { Decimal } from 'decimal.js';

/** Money moving into (`income`) or out of (`expense`) an account. */
export type TransactionType = 'income' | 'expense';

/** The transaction types a store accepts, for validating outside input. */
export const TRANSACTION_TYPES: readonly TransactionType[] = Object.freeze(['income', 'expense']);

/** Someone whose money the forecasts are about: a person, a department, a grant. */
export interface User {
  readonly id: string;
  readonly name: string;
  /** The balance at the start of {@link openingDate}, before that day's transactions. May be negative. */
  readonly openingBalance: Decimal;
  /** The first day the store knows about; no transaction may precede it. A calendar day at UTC midnight. */
  readonly openingDate: Date;
}

/** One booked movement of money. */
export interface Transaction {
  readonly id: string;
  readonly userId: string;
  /** The booking day, a calendar day at UTC midnight. */
  readonly date: Date;
  /** Always positive: {@link type} carries the direction. */
  readonly amount: Decimal;
  readonly type: TransactionType;
  readonly category: string;
  readonly description?: string;
}

/** A savings goal. */
export interface Goal {
  readonly id: string;
  readonly userId: string;
  readonly name: string;
  /** Positive. */
  readonly target: Decimal;
  /** Zero or more; may exceed {@link target}. */
  readonly saved: Decimal;
  /** A calendar day; the pace of saving so far is measured from here. */
  readonly createdAt: Date;
  /** A calendar day on or after {@link createdAt}. */
  readonly deadline?: Date;
  /** What the user has committed to put in each month; zero or more. */
  readonly monthlyContribution?: Decimal;
}

/** What {@link FinanceStore.addUser} takes. */
export interface NewUser {
  readonly id: string;
  readonly name: string;
  readonly openingBalance: Decimal;
  readonly openingDate: Date;
}

/**
 * What {@link FinanceStore.updateUser} can change. The opening date is fixed: moving it would strand
 * transactions before it or silently change every balance.
 */
export interface UserPatch {
  readonly name?: string;
  readonly openingBalance?: Decimal;
}

/** What {@link FinanceStore.addTransaction} takes; the store makes up a unique `id` when none is given. */
export interface NewTransaction {
  readonly id?: string;
  readonly userId: string;
  readonly date: Date;
  readonly amount: Decimal;
  readonly type: TransactionType;
  readonly category: string;
  readonly description?: string;
}

/** What {@link FinanceStore.updateTransaction} can change; `description: null` removes the description. */
export interface TransactionPatch {
  readonly date?: Date;
  readonly amount?: Decimal;
  readonly type?: TransactionType;
  readonly category?: string;
  readonly description?: string | null;
}

/** What {@link FinanceStore.addGoal} takes; the store makes up a unique `id` when none is given. */
export interface NewGoal {
  readonly id?: string;
  readonly userId: string;
  readonly name: string;
  readonly target: Decimal;
  /** @default 0 */
  readonly saved?: Decimal;
  readonly createdAt: Date;
  readonly deadline?: Date;
  readonly monthlyContribution?: Decimal;
}

/** What {@link FinanceStore.updateGoal} can change; `null` removes an optional field. */
export interface GoalPatch {
  readonly name?: string;
  readonly target?: Decimal;
  readonly saved?: Decimal;
  readonly deadline?: Date | null;
  readonly monthlyContribution?: Decimal | null;
}

/**
 * The outcome of a write: the record before and after it, so the caller can fire the matching
 * invalidation trigger (`transaction_added`, `goal_updated`, …) and, for a transaction whose date moved,
 * invalidate both the old and the new day.
 */
export type RecordChange<T> =
  | { readonly kind: 'added'; readonly before: undefined; readonly after: T }
  | { readonly kind: 'updated'; readonly before: T; readonly after: T }
  | { readonly kind: 'deleted'; readonly before: T; readonly after: undefined };

/** A {@link RecordChange} of one kind. */
export type Added<T> = Extract<RecordChange<T>, { kind: 'added' }>;
/** A {@link RecordChange} of one kind. */
export type Updated<T> = Extract<RecordChange<T>, { kind: 'updated' }>;
/** A {@link RecordChange} of one kind. */
export type Deleted<T> = Extract<RecordChange<T>, { kind: 'deleted' }>;

/** Inclusive bounds on a calendar day; a missing bound leaves that side open. */
export interface DayRange {
  readonly from?: Date;
  readonly to?: Date;
}
