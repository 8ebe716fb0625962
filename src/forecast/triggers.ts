import { escapeSegment } from '../keys/escape.js';
import type { Goal, RecordChange, Transaction } from './data/types.js';

/**
 * Why forecasts are invalidated (seed 000's `InvalidationTrigger`). Each value is recorded as the `reason` of
 * the invalidation event the handler writes (`Cache.getInvalidationEvents`).
 *
 * @example
 * await forecasts.trigger(InvalidationTrigger.TRANSACTION_ADDED, transaction);
 */
export const InvalidationTrigger = Object.freeze({
  TRANSACTION_ADDED: 'transaction_added',
  TRANSACTION_UPDATED: 'transaction_updated',
  TRANSACTION_DELETED: 'transaction_deleted',
  GOAL_CREATED: 'goal_created',
  GOAL_UPDATED: 'goal_updated',
  GOAL_DELETED: 'goal_deleted',
  ACCOUNT_BALANCE_CHANGED: 'account_balance_changed',
  HISTORICAL_DATA_CORRECTED: 'historical_data_corrected',
  USER_SETTINGS_CHANGED: 'user_settings_changed',
  MANUAL_REFRESH: 'manual_refresh',
} as const);

/** One of the ten {@link InvalidationTrigger} values. */
export type InvalidationTrigger = (typeof InvalidationTrigger)[keyof typeof InvalidationTrigger];

/** Every trigger value, in the seed's order, for validating outside input. */
export const INVALIDATION_TRIGGERS: readonly InvalidationTrigger[] = Object.freeze(Object.values(InvalidationTrigger));

/** True when `value` is one of the ten trigger values. */
export function isInvalidationTrigger(value: unknown): value is InvalidationTrigger {
  return typeof value === 'string' && (INVALIDATION_TRIGGERS as readonly string[]).includes(value);
}

/**
 * What data a metric is computed from, which decides the triggers that invalidate it:
 * - `transactions`: any transaction of the user added, updated or deleted;
 * - `expense` / `income`: a transaction of that type (one of unknown type counts as both);
 * - `account_balance`: `account_balance_changed` (a balance set without a transaction);
 * - `goals`: any goal of the user created, updated or deleted;
 * - `goal`: that one goal (the forecast's goal id is `params.goalId`, else its horizon segment).
 *
 * Every metric also goes with `historical_data_corrected`, `user_settings_changed` and a manual refresh of
 * its user.
 */
export type MetricDependency = 'transactions' | 'expense' | 'income' | 'account_balance' | 'goals' | 'goal';

/** Every {@link MetricDependency}. */
export const METRIC_DEPENDENCIES: readonly MetricDependency[] = Object.freeze(['transactions', 'expense', 'income', 'account_balance', 'goals', 'goal']);

// ---- tags ---------------------------------------------------------------------------------------------------
//
// Tags whose names carry a user id escape it (escapeSegment), so that no id can spell another user's tag.
// `user:<id>`, `metric:<m>`, `<m>`, `horizon:<h>` and `category:<c>` are left readable for hand-written
// invalidations (the seed's `invalidate(tags=["burn_rate"])`): there the whole rest of the tag is the value.

/** Every forecast of the user. @example userTag('user_123') // 'user:user_123' */
export function userTag(userId: string): string {
  return `user:${userId}`;
}

/** Every user's forecasts of one metric. */
export function metricTag(metric: string): string {
  return `metric:${metric}`;
}

/** Every forecast of one horizon. */
export function horizonTag(horizon: string): string {
  return `horizon:${horizon}`;
}

/** Every user's forecasts about one category. */
export function categoryTag(category: string): string {
  return `category:${category}`;
}

/** One user's forecasts of one metric. */
export function userMetricTag(userId: string, metric: string): string {
  return `forecast:${escapeSegment(userId)}:metric:${escapeSegment(metric)}`;
}

/** One user's forecasts computed from one kind of data: what the triggers invalidate. */
export function dependencyTag(userId: string, dependency: MetricDependency): string {
  return `forecast:${escapeSegment(userId)}:dep:${dependency}`;
}

/** One user's forecasts about one category. */
export function userCategoryTag(userId: string, category: string): string {
  return `forecast:${escapeSegment(userId)}:category:${escapeSegment(category)}`;
}

/** One user's forecasts about one goal. */
export function goalTag(userId: string, goalId: string): string {
  return `forecast:${escapeSegment(userId)}:goal:${escapeSegment(goalId)}`;
}

// ---- payloads -----------------------------------------------------------------------------------------------

/**
 * The fields of a transaction the handlers read. The data layer's `Transaction` fits; so does the seed's
 * dictionary. A missing or unknown `type` counts as both expense and income.
 */
export interface TransactionRef {
  readonly userId: string;
  readonly type?: string;
  readonly category?: string;
  readonly date?: Date;
}

/** The fields of a goal the handlers read; the data layer's `Goal` fits. */
export interface GoalRef {
  readonly userId: string;
  /** The goal's id (the seed's `goal_id`). */
  readonly id: string;
}

/** What {@link InvalidationTrigger.MANUAL_REFRESH} refreshes: the union of what each field selects. */
export interface ManualRefresh {
  /** Every forecast of this user, or with `metric`, this user's forecasts of that metric. */
  readonly userId?: string;
  /** Every user's forecasts of this metric, or with `userId`, that user's. */
  readonly metric?: string;
  /** A key glob (`*` any run, `?` one character), as `invalidate({ pattern })` takes. */
  readonly pattern?: string;
}

/** The payload each trigger takes in `ForecastCache.trigger`. */
export interface TriggerPayloads {
  transaction_added: TransactionRef;
  /** `before` is the transaction as it was: its type, category and user are invalidated too. */
  transaction_updated: { readonly after: TransactionRef; readonly before?: TransactionRef };
  transaction_deleted: TransactionRef;
  goal_created: GoalRef;
  goal_updated: GoalRef;
  goal_deleted: GoalRef;
  account_balance_changed: { readonly userId: string };
  historical_data_corrected: { readonly userId: string };
  user_settings_changed: { readonly userId: string };
  manual_refresh: ManualRefresh;
}

/** A data-layer write, as `FinanceStore` returns it. */
export type TransactionChange = RecordChange<Transaction>;
/** A data-layer write, as `FinanceStore` returns it. */
export type GoalChange = RecordChange<Goal>;

/**
 * What one trigger invalidates: every forecast of `users`, whatever carries one of `tags`, and the keys
 * matching `patterns`. `users` also lists the users whose tags are in `tags`, so that the forecasts this
 * instance wrote for them can be counted.
 */
export interface InvalidationPlan {
  readonly reason: InvalidationTrigger;
  readonly wholeUsers: readonly string[];
  readonly tags: readonly string[];
  readonly patterns: readonly string[];
  readonly users: readonly string[];
}

function requireUserId(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new TypeError(`${field} must be a non-empty string, got ${value === undefined ? 'undefined' : JSON.stringify(value)}`);
  }
  return value;
}

function requireObject(value: unknown, what: string): void {
  if (typeof value !== 'object' || value === null) throw new TypeError(`${what} must be an object`);
}

function transactionTags(transaction: TransactionRef, field: string, into: Set<string>, users: Set<string>): void {
  requireObject(transaction, field);
  const userId = requireUserId(transaction.userId, `${field}.userId`);
  users.add(userId);
  into.add(dependencyTag(userId, 'transactions'));
  const type = transaction.type;
  if (type !== 'income') into.add(dependencyTag(userId, 'expense'));
  if (type !== 'expense') into.add(dependencyTag(userId, 'income'));
  const category = transaction.category;
  if (category !== undefined) {
    if (typeof category !== 'string' || category.length === 0) throw new TypeError(`${field}.category must be a non-empty string`);
    into.add(userCategoryTag(userId, category));
  }
}

function goalTags(goal: GoalRef, field: string, into: Set<string>, users: Set<string>): void {
  requireObject(goal, field);
  const userId = requireUserId(goal.userId, `${field}.userId`);
  const goalId = requireUserId(goal.id, `${field}.id`);
  users.add(userId);
  into.add(goalTag(userId, goalId));
  into.add(dependencyTag(userId, 'goals'));
}

/**
 * What a trigger invalidates, worked out without touching the cache (so it can be tested and shown):
 *
 * | trigger | invalidates, for the user |
 * |---|---|
 * | transaction added / updated / deleted | metrics on `transactions` (balance, burn_rate, runway), on `expense` or `income` by the transaction's type (both when unknown), and the `category:<name>` forecasts; an update does it for the old and the new transaction |
 * | goal created / updated / deleted | that goal's forecasts (goal_progress) and metrics on `goals` (goals_summary) |
 * | account balance changed | metrics on `account_balance` (balance, runway) |
 * | historical data corrected, user settings changed | every forecast of the user |
 * | manual refresh | what `{ userId, metric, pattern }` selects |
 *
 * @throws {TypeError} naming the field when the payload is malformed.
 */
export function planInvalidation<K extends InvalidationTrigger>(trigger: K, payload: TriggerPayloads[K]): InvalidationPlan {
  const tags = new Set<string>();
  const users = new Set<string>();
  const wholeUsers: string[] = [];
  const patterns: string[] = [];
  requireObject(payload, `${trigger} payload`);
  switch (trigger) {
    case 'transaction_added':
    case 'transaction_deleted':
      transactionTags(payload as TransactionRef, 'transaction', tags, users);
      break;
    case 'transaction_updated': {
      const { after, before } = payload as TriggerPayloads['transaction_updated'];
      transactionTags(after, 'after', tags, users);
      if (before !== undefined) transactionTags(before, 'before', tags, users);
      break;
    }
    case 'goal_created':
    case 'goal_updated':
    case 'goal_deleted':
      goalTags(payload as GoalRef, 'goal', tags, users);
      break;
    case 'account_balance_changed': {
      const userId = requireUserId((payload as { userId: string }).userId, 'userId');
      users.add(userId);
      tags.add(dependencyTag(userId, 'account_balance'));
      break;
    }
    case 'historical_data_corrected':
    case 'user_settings_changed': {
      const userId = requireUserId((payload as { userId: string }).userId, 'userId');
      users.add(userId);
      wholeUsers.push(userId);
      break;
    }
    case 'manual_refresh': {
      const { userId, metric, pattern } = payload as ManualRefresh;
      if (userId === undefined && metric === undefined && pattern === undefined) {
        throw new TypeError('manual_refresh needs userId, metric or pattern (clear({ confirm: true }) empties everything)');
      }
      if (userId !== undefined) users.add(requireUserId(userId, 'userId'));
      if (metric !== undefined) requireUserId(metric, 'metric');
      if (userId !== undefined && metric !== undefined) tags.add(userMetricTag(userId, metric));
      else if (userId !== undefined) wholeUsers.push(userId);
      else if (metric !== undefined) tags.add(metricTag(metric));
      if (pattern !== undefined) patterns.push(requireUserId(pattern, 'pattern'));
      break;
    }
    default:
      throw new TypeError(`unknown invalidation trigger ${JSON.stringify(trigger)}; expected one of ${INVALIDATION_TRIGGERS.join(', ')}`);
  }
  return { reason: trigger, wholeUsers, tags: [...tags], patterns, users: [...users] };
}
