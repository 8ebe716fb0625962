import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { day } from '../../../src/forecast/data/calendar.js';
import { SqliteFinanceStore } from '../../../src/forecast/data/sqlite-store.js';
import { d, tempDbFile } from './helpers.js';

const user = { id: 'u1', name: 'Ada', openingBalance: d('1000.00'), openingDate: day(2024, 1, 1) };

describe('SqliteFinanceStore', () => {
  it('stores money as decimal TEXT and days as ISO text', () => {
    const db = new Database(':memory:');
    const store = new SqliteFinanceStore({ database: db });
    store.addUser(user);
    store.addTransaction({ id: 't1', userId: 'u1', date: day(2024, 1, 5), amount: d('0.1'), type: 'income', category: 'refunds' });
    // 1e-7 and 1e21 are where Decimal#toString switches to exponents; the column must stay plain.
    store.addTransaction({ id: 't2', userId: 'u1', date: day(2024, 1, 6), amount: d('1e21'), type: 'income', category: 'x' });
    store.addTransaction({ id: 't3', userId: 'u1', date: day(2024, 1, 6), amount: d('1e-7'), type: 'income', category: 'x' });
    const rows = db.prepare('SELECT id, date, amount, typeof(amount) AS kind FROM finance_transactions ORDER BY id').all();
    expect(rows).toEqual([
      { id: 't1', date: '2024-01-05', amount: '0.1', kind: 'text' },
      { id: 't2', date: '2024-01-06', amount: '1000000000000000000000', kind: 'text' },
      { id: 't3', date: '2024-01-06', amount: '0.0000001', kind: 'text' },
    ]);
    expect(db.prepare('SELECT opening_balance, opening_date FROM finance_users').get()).toEqual({ opening_balance: '1000', opening_date: '2024-01-01' });
    // 1000 + 0.1 + 1e21 + 1e-7, to the last digit
    expect(store.balanceAsOf('u1', day(2024, 1, 6)).toFixed()).toBe('1000000000000000001000.1000001');
    store.close();
    // A connection the caller passed in stays open.
    expect(db.open).toBe(true);
    db.close();
  });

  it('keeps data in a file across reopening, creating tables only when missing', () => {
    const file = tempDbFile();
    const first = new SqliteFinanceStore(file);
    first.addUser(user);
    first.addGoal({ id: 'g1', userId: 'u1', name: 'Trip', target: d('1500'), saved: d('20.05'), createdAt: day(2024, 2, 1) });
    first.close();
    const second = new SqliteFinanceStore(file);
    expect(second.getUser('u1')!.openingBalance.toFixed(2)).toBe('1000.00');
    expect(second.getGoal('g1')!.saved.toFixed()).toBe('20.05');
    second.close();
  });

  it('keeps stores with different table prefixes apart in one database', () => {
    const db = new Database(':memory:');
    const a = new SqliteFinanceStore({ database: db, tablePrefix: 'a' });
    const b = new SqliteFinanceStore({ database: db, tablePrefix: 'b' });
    a.addUser(user);
    expect(b.getUser('u1')).toBeUndefined();
    expect(b.listUsers()).toEqual([]);
    db.close();
  });

  it('refuses bad options', () => {
    expect(() => new SqliteFinanceStore({ path: ':memory:', tablePrefix: 'x; DROP TABLE' })).toThrow(/tablePrefix/);
    expect(() => new SqliteFinanceStore({} as never)).toThrow(/exactly one of path or database/);
    expect(() => new SqliteFinanceStore({ path: 42 } as never)).toThrow(/path must be a string/);
  });

  it('refuses to read a row someone else wrote with a non-decimal amount', () => {
    const db = new Database(':memory:');
    const store = new SqliteFinanceStore({ database: db });
    store.addUser(user);
    store.addTransaction({ id: 't1', userId: 'u1', date: day(2024, 1, 5), amount: d('5'), type: 'expense', category: 'x' });
    db.prepare("UPDATE finance_transactions SET amount = 'Infinity'").run();
    expect(() => store.getTransaction('t1')).toThrow(/column amount/);
    expect(() => store.balanceAsOf('u1', day(2024, 1, 5))).toThrow(/column amount/);
    db.close();
  });
});
