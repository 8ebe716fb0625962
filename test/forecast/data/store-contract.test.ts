import { Decimal } from 'decimal.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { day } from '../../../src/forecast/data/calendar.js';
import { DuplicateRecordError, RecordNotFoundError } from '../../../src/forecast/data/errors.js';
import type { FinanceStore } from '../../../src/forecast/data/store.js';
import type { NewTransaction } from '../../../src/forecast/data/types.js';
import { d, plain, storeKinds } from './helpers.js';

const jan = (n: number) => day(2024, 1, n);

describe.each(storeKinds)('FinanceStore contract: $name', ({ create }) => {
  let store: FinanceStore;
  beforeEach(() => {
    store = create();
    store.addUser({ id: 'u1', name: 'Ada', openingBalance: d('1000.00'), openingDate: jan(1) });
  });
  afterEach(() => store.close());

  const tx = (over: Partial<NewTransaction> = {}): NewTransaction => ({
    userId: 'u1',
    date: jan(5),
    amount: d('10.00'),
    type: 'expense',
    category: 'food',
    ...over,
  });

  describe('users', () => {
    it('returns what was added and lists users by id', () => {
      store.addUser({ id: 'a0', name: 'Grace', openingBalance: d('-25.5'), openingDate: jan(3) });
      expect(plain(store.getUser('a0'))).toEqual({ id: 'a0', name: 'Grace', openingBalance: 'Decimal(-25.5)', openingDate: '2024-01-03T00:00:00.000Z' });
      expect(store.listUsers().map((u) => u.id)).toEqual(['a0', 'u1']);
      expect(store.getUser('nobody')).toBeUndefined();
    });

    it('updates name and opening balance, returning before and after', () => {
      const change = store.updateUser('u1', { openingBalance: d('2000') });
      expect(change.kind).toBe('updated');
      expect(change.before.openingBalance.toFixed(2)).toBe('1000.00');
      expect(change.after.openingBalance.toFixed(2)).toBe('2000.00');
      expect(store.balanceAsOf('u1', jan(1)).toFixed(2)).toBe('2000.00');
    });

    it('refuses a taken id, an unknown id and a change of opening date', () => {
      expect(() => store.addUser({ id: 'u1', name: 'Again', openingBalance: d(0), openingDate: jan(1) })).toThrow(DuplicateRecordError);
      expect(() => store.updateUser('nope', { name: 'X' })).toThrow(RecordNotFoundError);
      expect(() => store.updateUser('u1', { openingDate: jan(2) } as never)).toThrow(/user.openingDate cannot be changed/);
    });
  });

  describe('transactions', () => {
    it('returns the added record with an id made up when none is given', () => {
      const { kind, before, after } = store.addTransaction(tx({ description: 'lunch' }));
      expect(kind).toBe('added');
      expect(before).toBeUndefined();
      expect(after.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(plain(store.getTransaction(after.id))).toEqual(plain(after));
      expect(after.description).toBe('lunch');
    });

    it('lists by day then id, with both ends of the range inclusive', () => {
      store.addTransactions([
        tx({ id: 'b', date: jan(3) }),
        tx({ id: 'a', date: jan(3) }),
        tx({ id: 'c', date: jan(2) }),
        tx({ id: 'd', date: jan(4) }),
        tx({ id: 'e', date: jan(1) }),
      ]);
      expect(store.listTransactions('u1').map((t) => t.id)).toEqual(['e', 'c', 'a', 'b', 'd']);
      expect(store.listTransactions('u1', { from: jan(2), to: jan(3) }).map((t) => t.id)).toEqual(['c', 'a', 'b']);
      expect(store.listTransactions('u1', { from: jan(4) }).map((t) => t.id)).toEqual(['d']);
      expect(store.listTransactions('u1', { to: jan(1) }).map((t) => t.id)).toEqual(['e']);
    });

    it('orders ids by code point as SQLite does, astral characters after U+FFxx', () => {
      // UTF-16 comparison would put the emoji (a surrogate pair) before the fullwidth letter.
      store.addTransactions([tx({ id: '\u{1F600}' }), tx({ id: '\uFF21' }), tx({ id: 'z' })]);
      expect(store.listTransactions('u1').map((t) => t.id)).toEqual(['z', '\uFF21', '\u{1F600}']);
    });

    it('keeps amounts exact: 0.1 + 0.2 is 0.3', () => {
      store.addTransactions([tx({ amount: d('0.1'), type: 'income' }), tx({ amount: d('0.2'), type: 'income' })]);
      // 1000 + 0.1 + 0.2 = 1000.3 exactly; with floats it would be 1000.3000000000000682
      expect(store.balanceAsOf('u1', jan(5)).toFixed()).toBe('1000.3');
      expect(store.balanceAsOf('u1', jan(5)).eq('1000.3')).toBe(true);
    });

    it('keeps every digit of large and sub-cent amounts', () => {
      const big = '12345678901234567890.123456789';
      const { after } = store.addTransaction(tx({ amount: d(big), type: 'income' }));
      expect(store.getTransaction(after.id)!.amount.toFixed()).toBe(big);
      // 1000 + 12345678901234567890.123456789
      expect(store.balanceAsOf('u1', jan(5)).toFixed()).toBe('12345678901234568890.123456789');
    });

    it('computes the balance at the end of a day from the opening balance', () => {
      store.addTransactions([
        tx({ date: jan(1), amount: d('100'), type: 'income' }),
        tx({ date: jan(2), amount: d('30.25') }),
        tx({ date: jan(3), amount: d('0.75') }),
      ]);
      expect(store.balanceAsOf('u1', jan(1)).toFixed(2)).toBe('1100.00'); // 1000 + 100
      expect(store.balanceAsOf('u1', jan(2)).toFixed(2)).toBe('1069.75'); // 1100 − 30.25
      expect(store.balanceAsOf('u1', jan(9)).toFixed(2)).toBe('1069.00'); // 1069.75 − 0.75
      expect(() => store.balanceAsOf('u1', day(2023, 12, 31))).toThrow(RangeError);
    });

    it('updates and returns before and after, moving the record to its new day', () => {
      const { after: added } = store.addTransaction(tx({ id: 't1', description: 'old' }));
      store.addTransaction(tx({ id: 't0', date: jan(4) }));
      const change = store.updateTransaction('t1', { date: jan(2), amount: d('12.34'), description: null });
      expect(change.kind).toBe('updated');
      expect(plain(change.before)).toEqual(plain(added));
      expect(plain(change.after)).toEqual({
        id: 't1',
        userId: 'u1',
        date: '2024-01-02T00:00:00.000Z',
        amount: 'Decimal(12.34)',
        type: 'expense',
        category: 'food',
      });
      expect(store.listTransactions('u1').map((t) => t.id)).toEqual(['t1', 't0']);
      expect(plain(store.getTransaction('t1'))).toEqual(plain(change.after));
    });

    it('deletes and returns the deleted record', () => {
      store.addTransaction(tx({ id: 't1' }));
      const change = store.deleteTransaction('t1');
      expect(change).toMatchObject({ kind: 'deleted', after: undefined });
      expect(change.before.id).toBe('t1');
      expect(store.getTransaction('t1')).toBeUndefined();
      expect(store.listTransactions('u1')).toEqual([]);
      expect(() => store.deleteTransaction('t1')).toThrow(RecordNotFoundError);
    });

    it('hands out copies: mutating a returned Date changes nothing inside', () => {
      const { after } = store.addTransaction(tx({ id: 't1' }));
      after.date.setUTCFullYear(1999);
      store.getTransaction('t1')!.date.setUTCFullYear(1999);
      expect(store.getTransaction('t1')!.date.toISOString()).toBe('2024-01-05T00:00:00.000Z');
      expect(store.listTransactions('u1', { from: jan(5), to: jan(5) })).toHaveLength(1);
    });

    it('adds a batch all or nothing', () => {
      expect(() => store.addTransactions([tx({ id: 'ok' }), tx({ id: 'bad', amount: d('-1') })])).toThrow(/transaction.amount/);
      expect(() => store.addTransactions([tx({ id: 'x' }), tx({ id: 'x' })])).toThrow(DuplicateRecordError);
      expect(store.listTransactions('u1')).toEqual([]);
      expect(store.getTransaction('ok')).toBeUndefined();
    });
  });

  describe('bad transaction input names the field', () => {
    it.each([
      ['amount as a number', { amount: 10 }, TypeError, /^transaction.amount must be a Decimal/],
      ['amount as a string', { amount: '10.00' }, TypeError, /^transaction.amount must be a Decimal/],
      ['negative amount', { amount: d('-5') }, RangeError, /^transaction.amount must be greater than 0/],
      ['zero amount', { amount: d('0') }, RangeError, /^transaction.amount must be greater than 0/],
      ['NaN amount', { amount: d(NaN) }, RangeError, /^transaction.amount must be finite/],
      ['unknown type', { type: 'transfer' }, RangeError, /^transaction.type must be 'income' or 'expense'/],
      ['type of the wrong kind', { type: 1 }, TypeError, /^transaction.type/],
      ['invalid date', { date: new Date('nope') }, RangeError, /^transaction.date is an invalid Date/],
      ['date as text', { date: '2024-01-05' }, TypeError, /^transaction.date must be a Date/],
      ['date with a time of day', { date: new Date('2024-01-05T13:00:00Z') }, RangeError, /^transaction.date must be a calendar day/],
      ['date before the opening date', { date: day(2023, 12, 31) }, RangeError, /^transaction.date 2023-12-31 is before the opening date/],
      ['blank category', { category: '  ' }, RangeError, /^transaction.category/],
      ['empty id', { id: '' }, RangeError, /^transaction.id/],
      ['unknown field', { ammount: d(1) }, TypeError, /^transaction.ammount is not a field/],
    ])('%s', (_, over, type, message) => {
      const input = { ...tx(), ...over } as unknown as NewTransaction;
      expect(() => store.addTransaction(input)).toThrow(type);
      expect(() => store.addTransaction(input)).toThrow(message);
    });

    it('unknown user', () => {
      const error = (() => {
        try {
          store.addTransaction(tx({ userId: 'ghost' }));
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(error).toBeInstanceOf(RecordNotFoundError);
      expect(error).toBeInstanceOf(RangeError);
      expect(error).toMatchObject({ kind: 'user', id: 'ghost', field: 'transaction.userId' });
    });

    it('on update: bad fields, fixed fields and unknown ids', () => {
      store.addTransaction(tx({ id: 't1' }));
      expect(() => store.updateTransaction('t1', { amount: 5 as unknown as Decimal })).toThrow(/^transaction.amount must be a Decimal/);
      expect(() => store.updateTransaction('t1', { type: 'gift' as never })).toThrow(RangeError);
      expect(() => store.updateTransaction('t1', { userId: 'u2' } as never)).toThrow(/transaction.userId cannot be changed/);
      expect(() => store.updateTransaction('t1', { date: day(2023, 1, 1) })).toThrow(/before the opening date/);
      expect(() => store.updateTransaction('missing', { amount: d(1) })).toThrow(RecordNotFoundError);
      expect(() => store.updateTransaction('missing', { amount: d(1) })).toThrow(/^id: no transaction with id "missing"/);
      // Nothing above changed the record.
      expect(store.getTransaction('t1')!.amount.toFixed(2)).toBe('10.00');
    });
  });

  describe('goals', () => {
    const goal = { userId: 'u1', name: 'Laptop', target: d('2000'), createdAt: jan(10) };

    it('adds with saved defaulting to 0 and lists a user’s goals by id', () => {
      store.addGoal({ ...goal, id: 'g2', deadline: day(2024, 6, 30), monthlyContribution: d('250') });
      const { after } = store.addGoal({ ...goal, id: 'g1' });
      expect(after.saved.toFixed()).toBe('0');
      expect(plain(store.getGoal('g2'))).toEqual({
        id: 'g2',
        userId: 'u1',
        name: 'Laptop',
        target: 'Decimal(2000)',
        saved: 'Decimal(0)',
        createdAt: '2024-01-10T00:00:00.000Z',
        deadline: '2024-06-30T00:00:00.000Z',
        monthlyContribution: 'Decimal(250)',
      });
      expect(store.listGoals('u1').map((g) => g.id)).toEqual(['g1', 'g2']);
    });

    it('updates (null removes an optional field) and deletes, returning before and after', () => {
      store.addGoal({ ...goal, id: 'g1', deadline: day(2024, 6, 30) });
      const change = store.updateGoal('g1', { saved: d('150.50'), deadline: null });
      expect(change.before.saved.toFixed()).toBe('0');
      expect(change.after.saved.toFixed()).toBe('150.5');
      expect(change.after.deadline).toBeUndefined();
      expect('deadline' in store.getGoal('g1')!).toBe(false);
      const deleted = store.deleteGoal('g1');
      expect(deleted.before.saved.toFixed()).toBe('150.5');
      expect(store.listGoals('u1')).toEqual([]);
    });

    it('refuses bad goals, naming the field', () => {
      expect(() => store.addGoal({ ...goal, target: d('0') })).toThrow(/^goal.target must be greater than 0/);
      expect(() => store.addGoal({ ...goal, saved: d('-1') })).toThrow(/^goal.saved must not be negative/);
      expect(() => store.addGoal({ ...goal, target: 2000 as unknown as Decimal })).toThrow(TypeError);
      expect(() => store.addGoal({ ...goal, deadline: jan(9) })).toThrow(/^goal.deadline 2024-01-09 is before goal.createdAt 2024-01-10/);
      expect(() => store.addGoal({ ...goal, userId: 'ghost' })).toThrow(RecordNotFoundError);
      store.addGoal({ ...goal, id: 'g1' });
      expect(() => store.addGoal({ ...goal, id: 'g1' })).toThrow(DuplicateRecordError);
      expect(() => store.updateGoal('g1', { createdAt: jan(1) } as never)).toThrow(/goal.createdAt cannot be changed/);
      expect(() => store.updateGoal('nope', { saved: d(1) })).toThrow(RecordNotFoundError);
      expect(() => store.deleteGoal('nope')).toThrow(RecordNotFoundError);
      expect(() => store.listGoals('ghost')).toThrow(RecordNotFoundError);
    });
  });

  it('accepts a Decimal from another copy of decimal.js, converting it', () => {
    // A clone stands in for a second copy: same brand, another constructor and precision.
    const Other = Decimal.clone({ precision: 5 });
    const { after } = store.addTransaction(tx({ amount: new Other('123456.789') }));
    expect(after.amount.toFixed()).toBe('123456.789');
    // At the clone's 5 digits this would be 123460.
    expect(after.amount.plus('0.0000001').toFixed()).toBe('123456.7890001');
  });

  it('throws on every call after close', () => {
    store.close();
    expect(() => store.getUser('u1')).toThrow(/closed/);
    expect(() => store.addTransaction(tx())).toThrow(/closed/);
  });
});
