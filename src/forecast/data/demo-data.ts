import { Decimal } from 'decimal.js';
import { addDays, addMonths, assertDay, fromEpochDay, partsOfEpochDay, toEpochDay, utcDayOf } from './calendar.js';
import { mulberry32 } from './random.js';
import type { FinanceStore } from './store.js';
import type { NewGoal, NewTransaction, TransactionType, User } from './types.js';

/** Options of {@link generateDemoData}. */
export interface DemoDataOptions {
  /** How many users to create, `user_1` … `user_N`. Between 1 and 1,000. @default 5 */
  users?: number;
  /** Months of history per user, ending on {@link endDate}. Between 1 and 120. @default 12 */
  months?: number;
  /** Any 32-bit integer; the same seed, counts and end date always produce the same records. @default 1 */
  seed?: number;
  /**
   * The last day with transactions, a calendar day at UTC midnight.
   * @default today (UTC), which makes the data depend on the day it is generated: pass a date for reproducible data
   */
  endDate?: Date;
}

/** What {@link generateDemoData} wrote. */
export interface DemoDataSummary {
  users: User[];
  transactions: number;
  goals: number;
  /** The users' opening day. */
  from: Date;
  /** The last day with transactions. */
  to: Date;
}

type Profile = 'salaried' | 'tight' | 'freelancer' | 'founder' | 'retiree';

// One of each before any repeats, so even three users cover saving, living close to zero and burning cash.
const PROFILES: readonly Profile[] = ['salaried', 'founder', 'freelancer', 'tight', 'retiree'];
const NAMES = ['Ada Lovelace', 'Grace Hopper', 'Katherine Johnson', 'Alan Turing', 'Edsger Dijkstra', 'Barbara Liskov', 'Donald Knuth', 'Frances Allen'];
const SUBSCRIPTIONS: readonly (readonly [string, string])[] = [
  ['Video streaming', '15.99'],
  ['Music streaming', '10.99'],
  ['Gym membership', '39.00'],
  ['Cloud storage', '2.99'],
  ['News subscription', '8.00'],
  ['Language app', '6.49'],
];
const GOALS: readonly { name: string; min: number; max: number; deadlineMonths?: number }[] = [
  { name: 'Emergency fund', min: 6_000, max: 20_000 },
  { name: 'Summer vacation', min: 2_000, max: 6_000, deadlineMonths: 8 },
  { name: 'New laptop', min: 1_200, max: 2_800, deadlineMonths: 5 },
  { name: 'House deposit', min: 20_000, max: 60_000, deadlineMonths: 48 },
  { name: 'Car replacement', min: 8_000, max: 15_000, deadlineMonths: 24 },
];

/**
 * Fills `store` with believable personal-finance data: salaries, rent, groceries, subscriptions, utilities
 * that rise in winter, summer travel, December gifts, irregular purchases, freelance invoices, and two or
 * three savings goals per user. Users follow different profiles (salaried saver, founder burning savings,
 * freelancer with a summer dip, tight budget, retiree), so burn rates and runways differ.
 *
 * Deterministic: its own seeded generator ({@link mulberry32}), integer cents for every amount, and one
 * generator per user, so user 3's data does not change when more users are asked for.
 *
 * @throws {DuplicateRecordError} when the store already holds a `user_<n>` id.
 * @example
 * const store = new MemoryFinanceStore();
 * generateDemoData(store, { users: 3, months: 12, seed: 7, endDate: day(2024, 12, 31) });
 */
export function generateDemoData(store: FinanceStore, options: DemoDataOptions = {}): DemoDataSummary {
  const { users = 5, months = 12, seed = 1, endDate = utcDayOf(new Date(), 'endDate') } = options;
  checkCount(users, 'users', 1_000);
  checkCount(months, 'months', 120);
  if (!Number.isInteger(seed)) throw new TypeError(`seed must be an integer, got ${String(seed)}`);
  assertDay(endDate, 'endDate');

  const from = addDays(addMonths(endDate, -months), 1);
  const created: User[] = [];
  let transactions = 0;
  let goals = 0;
  for (let i = 0; i < users; i++) {
    // Spreads the user index over the 32-bit state so neighbouring users get unrelated sequences.
    const random = new Random(mulberry32((seed ^ Math.imul(i + 1, 0x9e3779b9)) >>> 0));
    const profile = PROFILES[i % PROFILES.length]!;
    const userId = `user_${i + 1}`;
    const name = NAMES[i % NAMES.length]! + (i >= NAMES.length ? ` ${Math.floor(i / NAMES.length) + 1}` : '');
    const openingBalance = openingBalanceFor(profile, random);
    created.push(store.addUser({ id: userId, name, openingBalance, openingDate: from }).after);

    const items = transactionsFor(profile, userId, from, endDate, random);
    store.addTransactions(items);
    transactions += items.length;

    for (const goal of goalsFor(userId, from, endDate, random)) {
      store.addGoal(goal);
      goals++;
    }
  }
  return { users: created, transactions, goals, from, to: endDate };
}

function checkCount(value: number, name: string, max: number): void {
  if (!Number.isInteger(value)) throw new TypeError(`${name} must be an integer, got ${String(value)}`);
  if (value < 1 || value > max) throw new RangeError(`${name} must be from 1 to ${max}, got ${value}`);
}

class Random {
  readonly #next: () => number;

  constructor(next: () => number) {
    this.#next = next;
  }

  chance(p: number): boolean {
    return this.#next() < p;
  }

  int(min: number, max: number): number {
    return min + Math.floor(this.#next() * (max - min + 1));
  }

  /** A whole-cent amount between `min` and `max` units, made from integer cents so no float ever becomes money. */
  money(min: number, max: number): Decimal {
    return new Decimal(this.int(Math.round(min * 100), Math.round(max * 100))).div(100);
  }

  /** A whole-unit amount, for salaries and rents that people round. */
  round(min: number, max: number, step: number): Decimal {
    return new Decimal(this.int(Math.ceil(min / step), Math.floor(max / step)) * step);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }
}

function openingBalanceFor(profile: Profile, random: Random): Decimal {
  switch (profile) {
    case 'founder':
      // Enough for a year of burn plus a runway of roughly half a year to a year and a half.
      return random.money(150_000, 220_000);
    case 'tight':
      return random.money(200, 1_500);
    case 'retiree':
      return random.money(15_000, 40_000);
    default:
      return random.money(2_000, 12_000);
  }
}

interface Monthly {
  category: string;
  description: string;
  type: TransactionType;
  dayOfMonth: number;
  amount: Decimal;
}

function fixedFlows(profile: Profile, random: Random): Monthly[] {
  const flows: Monthly[] = [];
  const add = (category: string, description: string, type: TransactionType, dayOfMonth: number, amount: Decimal): void => {
    flows.push({ category, description, type, dayOfMonth, amount });
  };
  switch (profile) {
    case 'salaried':
      add('salary', 'Monthly salary', 'income', 25, random.round(4_200, 6_500, 50));
      add('housing', 'Rent', 'expense', 1, random.round(1_200, 1_900, 25));
      break;
    case 'tight': {
      // Paid twice a month, which gives the seasonal projection two paydays to find.
      const half = random.round(1_300, 1_600, 10);
      add('salary', 'Salary (first half)', 'income', 1, half);
      add('salary', 'Salary (second half)', 'income', 15, half);
      add('housing', 'Rent', 'expense', 1, random.round(1_100, 1_400, 25));
      break;
    }
    case 'freelancer':
      add('housing', 'Rent', 'expense', 1, random.round(1_000, 1_600, 25));
      add('software', 'Design tools', 'expense', 5, random.money(40, 90));
      break;
    case 'founder':
      add('housing', 'Rent', 'expense', 1, random.round(1_500, 2_400, 25));
      add('business', 'Co-working desk', 'expense', 3, random.round(250, 450, 5));
      add('business', 'Contractor', 'expense', 20, random.round(2_500, 5_000, 50));
      add('software', 'Cloud hosting', 'expense', 8, random.money(150, 600));
      break;
    case 'retiree':
      add('pension', 'State pension', 'income', 3, random.money(1_400, 1_900));
      add('pension', 'Private pension', 'income', 3, random.money(400, 1_100));
      add('housing', 'Service charge', 'expense', 2, random.money(180, 320));
      break;
  }
  add('utilities', 'Mobile phone', 'expense', 12, random.money(20, 55));
  const subscriptions = [...SUBSCRIPTIONS];
  for (let n = random.int(2, 4); n > 0; n--) {
    const [description, amount] = subscriptions.splice(random.int(0, subscriptions.length - 1), 1)[0]!;
    add('subscriptions', description, 'expense', random.int(1, 28), new Decimal(amount));
  }
  return flows;
}

function transactionsFor(profile: Profile, userId: string, from: Date, to: Date, random: Random): NewTransaction[] {
  const items: NewTransaction[] = [];
  const add = (epochDay: number, type: TransactionType, amount: Decimal, category: string, description: string): void => {
    items.push({
      id: `${userId}_t${String(items.length + 1).padStart(5, '0')}`,
      userId,
      date: fromEpochDay(epochDay),
      amount,
      type,
      category,
      description,
    });
  };
  const flows = fixedFlows(profile, random);
  const groceryDays = new Set([random.int(0, 6), random.int(0, 6)]);
  const utilitiesBase = random.money(70, 130);
  const last = toEpochDay(to);
  for (let d = toEpochDay(from); d <= last; d++) {
    const { month, dayOfMonth } = partsOfEpochDay(d);
    // 1970-01-01 was a Thursday; 0 is Monday here.
    const weekday = (d + 3) % 7;
    const winter = month === 12 || month <= 2;
    const summer = month === 7 || month === 8;

    for (const flow of flows) if (flow.dayOfMonth === dayOfMonth) add(d, flow.type, flow.amount, flow.category, flow.description);
    if (dayOfMonth === 10) add(d, 'expense', utilitiesBase.times(winter ? '1.6' : summer ? '0.8' : '1').toDecimalPlaces(2), 'utilities', 'Energy bill');

    if (groceryDays.has(weekday)) add(d, 'expense', random.money(profile === 'tight' ? 20 : 35, profile === 'tight' ? 90 : 160), 'groceries', 'Supermarket');
    if (random.chance(profile === 'tight' ? 0.1 : 0.25)) add(d, 'expense', random.money(8, 70), 'dining', random.pick(['Café', 'Lunch', 'Dinner out', 'Takeaway']));
    if (weekday < 5 && random.chance(0.3)) add(d, 'expense', random.money(2.5, 18), 'transport', random.pick(['Bus fare', 'Train ticket', 'Taxi', 'Fuel']));
    if (random.chance(0.05)) add(d, 'expense', random.money(15, 250), 'shopping', random.pick(['Clothes', 'Household', 'Books', 'Hardware store']));
    if (random.chance(0.012)) {
      const [category, description, min, max] = random.pick([
        ['electronics', 'New phone', 300, 1_200],
        ['car', 'Car repair', 150, 1_100],
        ['health', 'Dentist', 60, 600],
        ['home', 'Furniture', 120, 900],
      ] as const);
      add(d, 'expense', random.money(min, max), category, description);
    }
    if (summer && random.chance(0.04)) add(d, 'expense', random.money(300, 1_800), 'travel', random.pick(['Flights', 'Hotel', 'Holiday rental']));
    if (month === 12 && dayOfMonth >= 5 && dayOfMonth <= 23 && random.chance(0.2)) add(d, 'expense', random.money(20, 180), 'gifts', 'Holiday gifts');
    if (random.chance(0.01)) add(d, 'income', random.money(10, 120), 'refunds', 'Refund');

    if (profile === 'freelancer') {
      // Fewer invoices in summer: the seasonal pattern the projection should pick up.
      if (random.chance(summer ? 0.03 : 0.09)) add(d, 'income', random.round(600, 3_200, 10), 'freelance', 'Client invoice');
    } else if (profile === 'founder') {
      if (random.chance(0.015)) add(d, 'income', random.round(500, 2_500, 50), 'consulting', 'Consulting fee');
    } else if (profile === 'salaried' && month === 12 && dayOfMonth === 20) {
      add(d, 'income', random.round(1_000, 4_000, 100), 'salary', 'Year-end bonus');
    }
  }
  return items;
}

function goalsFor(userId: string, from: Date, to: Date, random: Random): NewGoal[] {
  const candidates = [...GOALS];
  const goals: NewGoal[] = [];
  const span = toEpochDay(to) - toEpochDay(from);
  for (let n = random.int(2, 3); n > 0; n--) {
    const spec = candidates.splice(random.int(0, candidates.length - 1), 1)[0]!;
    const createdAt = addDays(from, random.int(0, Math.floor(span * 0.6)));
    const target = random.round(spec.min, spec.max, 100);
    const saved = target.times(random.int(5, 85)).div(100).toDecimalPlaces(2);
    goals.push({
      id: `${userId}_g${goals.length + 1}`,
      userId,
      name: spec.name,
      target,
      saved,
      createdAt,
      // Deadlines lie after the data ends, so a fresh demo shows goals on track and behind rather than overdue.
      ...(spec.deadlineMonths === undefined ? {} : { deadline: addMonths(to, random.int(1, spec.deadlineMonths)) }),
      ...(random.chance(0.5) ? { monthlyContribution: random.round(50, 600, 25) } : {}),
    });
  }
  return goals;
}
