import type { Decimal } from 'decimal.js';
import type { Clock } from '../../clock.js';
import { formatDay, fromEpochDay } from '../data/calendar.js';
import type { FinanceStore } from '../data/store.js';
import { TRANSACTION_TYPES, type TransactionType } from '../data/types.js';
import { compareCodePoints } from '../data/validate.js';
import { money, rounded, ZERO } from './exact.js';
import { checkChoice, checkOptions, defaultClock, requireUser, resolveDay, type CalculatorOptions } from './shared.js';

/** Options of {@link CategoryAnalyzer.categoryTotals}. */
export interface CategoryTotalsOptions {
  /** @default 'expense' */
  type?: TransactionType;
  /** First day counted (its UTC calendar day). */
  from: Date;
  /** Last day counted (its UTC calendar day), on or after `from`. @default today (UTC) */
  to?: Date;
}

/** One category's share of the total. */
export interface CategoryTotal {
  category: string;
  total: Decimal;
  /** Number of transactions. */
  count: number;
  /** total / grand total × 100, two decimals, ROUND_HALF_EVEN; the shares may sum to 100 ± 0.01 per category. */
  share: Decimal;
}

/** What {@link CategoryAnalyzer.categoryTotals} returns. */
export interface CategoryTotals {
  userId: string;
  type: TransactionType;
  from: Date;
  to: Date;
  total: Decimal;
  count: number;
  /** Largest total first; ties by category name (code point order). */
  categories: CategoryTotal[];
}

/**
 * Income or expenses by category over a span of days: what the forecast cache stores as
 * `expense_by_category` and `income`.
 *
 * @example
 * new CategoryAnalyzer(store).categoryTotals('user_1', { type: 'expense', from: day(2024, 12, 1), to: day(2024, 12, 31) });
 */
export class CategoryAnalyzer {
  readonly #store: FinanceStore;
  readonly #clock: Clock;

  constructor(store: FinanceStore, options?: CalculatorOptions) {
    this.#store = store;
    this.#clock = defaultClock(options);
  }

  /** @throws {RecordNotFoundError} for an unknown user; {@link RangeError} when `to` is before `from`. */
  categoryTotals(userId: string, options: CategoryTotalsOptions): CategoryTotals {
    return categoryTotals(this.#store, userId, options, this.#clock);
  }
}

/** {@link CategoryAnalyzer.categoryTotals} as a function. */
export function categoryTotals(store: FinanceStore, userId: string, options: CategoryTotalsOptions, clock?: Clock): CategoryTotals {
  checkOptions(options, 'categoryTotals');
  if (options === undefined) throw new TypeError('categoryTotals needs options with from');
  const { type = 'expense', from, to } = options;
  checkChoice(type, 'type', TRANSACTION_TYPES);
  if (from === undefined) throw new TypeError('from must be a Date, got undefined');
  const c = clock ?? defaultClock(undefined);
  const fromDay = resolveDay(from, c, 'from');
  const toDay = resolveDay(to, c, 'to');
  if (toDay < fromDay) throw new RangeError(`to ${formatDay(fromEpochDay(toDay))} is before from ${formatDay(fromEpochDay(fromDay))}`);
  const user = requireUser(store, userId);

  const sums = new Map<string, { total: Decimal; count: number }>();
  let total = ZERO;
  let count = 0;
  for (const t of store.listTransactions(user.id, { from: fromEpochDay(fromDay), to: fromEpochDay(toDay) })) {
    if (t.type !== type) continue;
    const entry = sums.get(t.category);
    if (entry === undefined) sums.set(t.category, { total: ZERO.plus(t.amount), count: 1 });
    else {
      entry.total = entry.total.plus(t.amount);
      entry.count++;
    }
    total = total.plus(t.amount);
    count++;
  }
  const categories = [...sums]
    .sort(([a, x], [b, y]) => y.total.comparedTo(x.total) || compareCodePoints(a, b))
    .map(([category, entry]) => ({
      category,
      total: money(entry.total),
      count: entry.count,
      share: rounded(entry.total.div(total).times(100), 2),
    }));
  return { userId: user.id, type, from: fromEpochDay(fromDay), to: fromEpochDay(toDay), total: money(total), count, categories };
}
