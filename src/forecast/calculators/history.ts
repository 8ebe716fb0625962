import type { Decimal } from 'decimal.js';
import { fromEpochDay, toEpochDay } from '../data/calendar.js';
import type { FinanceStore } from '../data/store.js';
import type { User } from '../data/types.js';
import { exact, ZERO } from './exact.js';

/** A user's account, day by day, over a window ending on the as-of day. */
export interface DailyHistory {
  /** Epoch day of `nets[0]`. */
  firstDay: number;
  /** Net flow of each day: income minus expenses. */
  nets: Decimal[];
  /** Balance at the end of each day. */
  balances: Decimal[];
}

/**
 * Reads the `days` days ending on `lastDay` (fewer when the user opened later) as daily nets and
 * end-of-day balances, in working precision. Two reads: the balance before the window and the
 * transactions inside it.
 */
export function loadDailyHistory(store: FinanceStore, user: User, lastDay: number, days: number): DailyHistory {
  const openingDay = toEpochDay(user.openingDate);
  const firstDay = Math.max(openingDay, lastDay - days + 1);
  const base = firstDay > openingDay ? store.balanceAsOf(user.id, fromEpochDay(firstDay - 1)) : user.openingBalance;

  const length = lastDay - firstDay + 1;
  const nets: Decimal[] = new Array<Decimal>(length).fill(ZERO);
  for (const t of store.listTransactions(user.id, { from: fromEpochDay(firstDay), to: fromEpochDay(lastDay) })) {
    const i = toEpochDay(t.date) - firstDay;
    nets[i] = t.type === 'income' ? nets[i]!.plus(t.amount) : nets[i]!.minus(t.amount);
  }
  const balances: Decimal[] = new Array<Decimal>(length);
  let balance = exact(base);
  for (let i = 0; i < length; i++) {
    balance = balance.plus(nets[i]!);
    balances[i] = balance;
  }
  return { firstDay, nets, balances };
}
