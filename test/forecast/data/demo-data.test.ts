import { describe, expect, it } from 'vitest';
import { day } from '../../../src/forecast/data/calendar.js';
import { generateDemoData } from '../../../src/forecast/data/demo-data.js';
import { DuplicateRecordError } from '../../../src/forecast/data/errors.js';
import { MemoryFinanceStore } from '../../../src/forecast/data/memory-store.js';
import { mulberry32 } from '../../../src/forecast/data/random.js';
import { SqliteFinanceStore } from '../../../src/forecast/data/sqlite-store.js';
import type { FinanceStore } from '../../../src/forecast/data/store.js';
import { plain } from './helpers.js';

const endDate = day(2024, 12, 31);

function snapshot(store: FinanceStore): unknown {
  return plain(store.listUsers().map((user) => ({ user, transactions: store.listTransactions(user.id), goals: store.listGoals(user.id) })));
}

function generated(seed: number, users = 5, store: FinanceStore = new MemoryFinanceStore()): FinanceStore {
  generateDemoData(store, { users, months: 12, seed, endDate });
  return store;
}

describe('mulberry32', () => {
  it('produces the reference sequence for seed 1', () => {
    const next = mulberry32(1);
    expect([next(), next(), next()]).toEqual([0.6270739405881613, 0.002735721180215478, 0.5274470399599522]);
  });
});

describe('generateDemoData', () => {
  it('writes a year of transactions and a few goals for each user', () => {
    const store = new MemoryFinanceStore();
    const summary = generateDemoData(store, { endDate });
    expect(summary.users.map((u) => u.id)).toEqual(['user_1', 'user_2', 'user_3', 'user_4', 'user_5']);
    expect(summary.from.toISOString()).toBe('2024-01-01T00:00:00.000Z');
    expect(summary.to.toISOString()).toBe('2024-12-31T00:00:00.000Z');
    for (const user of summary.users) {
      const transactions = store.listTransactions(user.id);
      expect(transactions.length).toBeGreaterThan(250);
      const months = new Set(transactions.map((t) => t.date.toISOString().slice(0, 7)));
      expect(months.size).toBe(12);
      for (const t of transactions) {
        // Whole cents, positive: what real statements hold.
        expect(t.amount.decimalPlaces()).toBeLessThanOrEqual(2);
        expect(t.amount.gt(0)).toBe(true);
      }
      const goals = store.listGoals(user.id);
      expect(goals.length).toBeGreaterThanOrEqual(2);
      expect(goals.length).toBeLessThanOrEqual(3);
    }
    expect(summary.transactions).toBe(summary.users.reduce((n, u) => n + store.listTransactions(u.id).length, 0));
    const categories = new Set(summary.users.flatMap((u) => store.listTransactions(u.id).map((t) => t.category)));
    for (const c of ['salary', 'housing', 'groceries', 'subscriptions', 'utilities', 'dining', 'travel', 'gifts']) expect(categories).toContain(c);
  });

  it('is deterministic: the same seed gives identical data, another seed different data', () => {
    expect(snapshot(generated(7))).toEqual(snapshot(generated(7)));
    expect(snapshot(generated(7))).not.toEqual(snapshot(generated(8)));
  });

  it('gives a user the same data however many users are asked for', () => {
    const few = generated(3, 2);
    const many = generated(3, 6);
    for (const id of ['user_1', 'user_2']) {
      expect(plain(many.listTransactions(id))).toEqual(plain(few.listTransactions(id)));
      expect(plain(many.listGoals(id))).toEqual(plain(few.listGoals(id)));
    }
  });

  it('writes the same records into SQLite as into memory', () => {
    const sqlite = new SqliteFinanceStore(':memory:');
    expect(snapshot(generated(11, 5, sqlite))).toEqual(snapshot(generated(11)));
    sqlite.close();
  });

  it('makes one user who saves and one who burns through savings', () => {
    const store = generated(1);
    const change = (id: string) => store.balanceAsOf(id, endDate).minus(store.getUser(id)!.openingBalance);
    expect(change('user_1').gt(0)).toBe(true); // the salaried profile
    expect(change('user_2').lt(-50_000)).toBe(true); // the founder profile
  });

  it('refuses bad options and users that already exist', () => {
    const store = new MemoryFinanceStore();
    expect(() => generateDemoData(store, { users: 0, endDate })).toThrow(/^users must be from 1 to 1000/);
    expect(() => generateDemoData(store, { months: 1.5, endDate })).toThrow(TypeError);
    expect(() => generateDemoData(store, { seed: Number.NaN, endDate })).toThrow(/^seed must be an integer/);
    expect(() => generateDemoData(store, { endDate: new Date('2024-12-31T10:00:00Z') })).toThrow(/^endDate must be a calendar day/);
    generateDemoData(store, { users: 1, endDate });
    expect(() => generateDemoData(store, { users: 1, endDate })).toThrow(DuplicateRecordError);
  });
});
