// The records: users (read only), transactions and goals. Every write runs the trigger of what it changed,
// and the response says how many cached forecasts that invalidated.
import { DuplicateRecordError, RecordNotFoundError } from '../../forecast/data/errors.js';
import type { Goal, GoalPatch, NewGoal, NewTransaction, RecordChange, Transaction, TransactionPatch } from '../../forecast/data/types.js';
import type { InvalidationTrigger } from '../../forecast/triggers.js';
import { HttpError, invalid, notFound } from '../http.js';
import { bodyObject, day, money, optionalText, recordId, someField, text, transactionType } from '../input.js';
import { goalJson, transactionJson, userJson, type Json } from '../json.js';
import * as schema from '../schemas.js';
import { plural, required, type Context, type Mutable, type Reply, type Route, type Scope } from './route.js';

const TRANSACTION_PATCH_FIELDS = ['date', 'amount', 'type', 'category', 'description'] as const;
const GOAL_PATCH_FIELDS = ['name', 'target', 'saved', 'deadline', 'monthlyContribution'] as const;

const TRANSACTION = schema.objectBody(
  'a transaction',
  { id: schema.recordId, date: schema.day, amount: schema.money, type: schema.transactionType, category: schema.text, description: schema.nullable(schema.optionalText) },
  ['date', 'amount', 'type', 'category'],
);
const TRANSACTION_PATCH = schema.objectBody('a transaction patch', {
  date: schema.day,
  amount: schema.money,
  type: schema.transactionType,
  category: schema.text,
  description: schema.nullable(schema.optionalText),
});
const GOAL = schema.objectBody(
  'a goal',
  {
    id: schema.recordId,
    name: schema.text,
    target: schema.money,
    saved: schema.nullable(schema.money),
    createdAt: schema.nullable(schema.day),
    deadline: schema.nullable(schema.day),
    monthlyContribution: schema.nullable(schema.money),
  },
  ['name', 'target'],
);
const GOAL_PATCH = schema.objectBody('a goal patch', {
  name: schema.text,
  target: schema.money,
  saved: schema.money,
  deadline: schema.nullable(schema.day),
  monthlyContribution: schema.nullable(schema.money),
});

/**
 * The data layer refused a write the service let through (a transaction dated before its user's opening
 * day, a deadline before its goal's creation): a 400 naming the field as the client called it. Its messages
 * start with `transaction.date`, `goal.deadline`…
 */
function storeRefusal(error: unknown): unknown {
  if (error instanceof RecordNotFoundError || error instanceof DuplicateRecordError) return error;
  if (!(error instanceof TypeError) && !(error instanceof RangeError)) return error;
  const field = /^(?:transaction|goal|user)\.(\w+)/.exec(error.message)?.[1];
  return new HttpError(400, 'invalid_field', error.message, { ...(field === undefined ? {} : { field }), cause: error });
}

/** The users whose forecasts a write changed: their cached responses go (a record never changes user). */
function usersOf(change: RecordChange<Transaction> | RecordChange<Goal>): string[] {
  return [(change.after ?? change.before).userId];
}

/** Runs a data-layer write, turning its refusals into responses. */
function write<T>(run: () => T): T {
  try {
    return run();
  } catch (error) {
    throw storeRefusal(error);
  }
}

export class RecordRoutes {
  readonly #scope: Scope;

  constructor(scope: Scope) {
    this.#scope = scope;
  }

  users(): Route[] {
    const scope = this.#scope;
    return [
      { method: 'GET', path: '/users', summary: 'every user', handle: () => ({ body: { users: scope.finance.listUsers().map(userJson) } }) },
      { method: 'GET', path: '/users/:id', summary: 'one user', handle: ({ params }) => ({ body: { user: userJson(scope.user(params.id)) } }) },
    ];
  }

  transactions(): Route[] {
    return [
      { method: 'GET', path: '/users/:id/transactions', summary: 'the user’s transactions, ?from=&to= days', query: { from: "first day, 'YYYY-MM-DD'", to: "last day, 'YYYY-MM-DD'" }, handle: (context) => this.#transactions(context) },
      { method: 'POST', path: '/users/:id/transactions', summary: 'add a transaction { date, amount, type, category, description?, id? }', body: TRANSACTION, handle: (context) => this.#addTransaction(context) },
      { method: 'PATCH', path: '/transactions/:id', summary: 'change a transaction { date?, amount?, type?, category?, description? }', body: TRANSACTION_PATCH, handle: (context) => this.#updateTransaction(context) },
      { method: 'DELETE', path: '/transactions/:id', summary: 'delete a transaction', handle: (context) => this.#deleteTransaction(context) },
    ];
  }

  goals(): Route[] {
    const scope = this.#scope;
    return [
      { method: 'GET', path: '/users/:id/goals', summary: 'the user’s goals', handle: ({ params }) => ({ body: { goals: scope.finance.listGoals(scope.user(params.id).id).map(goalJson) } }) },
      { method: 'POST', path: '/users/:id/goals', summary: 'add a goal { name, target, saved?, createdAt?, deadline?, monthlyContribution?, id? }', body: GOAL, handle: (context) => this.#addGoal(context) },
      { method: 'PATCH', path: '/goals/:id', summary: 'change a goal { name?, target?, saved?, deadline?, monthlyContribution? }', body: GOAL_PATCH, handle: (context) => this.#updateGoal(context) },
      { method: 'DELETE', path: '/goals/:id', summary: 'delete a goal', handle: (context) => this.#deleteGoal(context) },
    ];
  }

  // ---- transactions --------------------------------------------------------------------------------------------

  #transactions({ params, query }: Context): Reply {
    const user = this.#scope.user(params.id);
    const fromText = query.get('from');
    const toText = query.get('to');
    const from = fromText === undefined ? undefined : day(fromText, 'from');
    const to = toText === undefined ? undefined : day(toText, 'to');
    if (from !== undefined && to !== undefined && to < from) throw invalid('to', `to ${toText} is before from ${fromText}`);
    const list = this.#scope.finance.listTransactions(user.id, { ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }) });
    return { body: { userId: user.id, count: list.length, transactions: list.map(transactionJson) } };
  }

  async #addTransaction({ params, body }: Context): Promise<Reply> {
    const user = this.#scope.user(params.id);
    const input = bodyObject(await body(), true);
    const transaction: Mutable<NewTransaction> = {
      userId: user.id,
      date: day(required(input, 'date'), 'date'),
      amount: money(required(input, 'amount'), 'amount', 'positive'),
      type: transactionType(required(input, 'type'), 'type'),
      category: text(required(input, 'category'), 'category'),
    };
    if (input.id !== undefined) transaction.id = recordId(input.id, 'id');
    if (input.description !== undefined && input.description !== null) transaction.description = optionalText(input.description, 'description');
    const change = write(() => this.#scope.finance.addTransaction(transaction));
    return { status: 201, body: await this.#afterTransaction(change), users: usersOf(change) };
  }

  async #updateTransaction({ params, body }: Context): Promise<Reply> {
    const id = params.id ?? '';
    if (this.#scope.finance.getTransaction(id) === undefined) throw notFound(`no transaction with id ${JSON.stringify(id)}`, 'id');
    const input = bodyObject(await body(), true);
    someField(input, TRANSACTION_PATCH_FIELDS, 'a transaction patch');
    const patch: Mutable<TransactionPatch> = {};
    if (input.date !== undefined) patch.date = day(input.date, 'date');
    if (input.amount !== undefined) patch.amount = money(input.amount, 'amount', 'positive');
    if (input.type !== undefined) patch.type = transactionType(input.type, 'type');
    if (input.category !== undefined) patch.category = text(input.category, 'category');
    if (input.description !== undefined) patch.description = input.description === null ? null : optionalText(input.description, 'description');
    const change = write(() => this.#scope.finance.updateTransaction(id, patch));
    return { body: await this.#afterTransaction(change), users: usersOf(change) };
  }

  async #deleteTransaction({ params }: Context): Promise<Reply> {
    const change = write(() => this.#scope.finance.deleteTransaction(params.id ?? ''));
    return { body: await this.#afterTransaction(change), users: usersOf(change) };
  }

  #afterTransaction(change: RecordChange<Transaction>): Promise<Json> {
    const record = change.after ?? change.before;
    return this.#fire(`transaction ${change.kind}`, record.userId, `transaction_${change.kind}`, transactionJson(record), () => this.#scope.forecasts.onTransactionChange(change));
  }

  // ---- goals ---------------------------------------------------------------------------------------------------

  async #addGoal({ params, body }: Context): Promise<Reply> {
    const user = this.#scope.user(params.id);
    const input = bodyObject(await body(), true);
    const goal: Mutable<NewGoal> = {
      userId: user.id,
      name: text(required(input, 'name'), 'name'),
      target: money(required(input, 'target'), 'target', 'positive'),
      // A goal is created "now": the as-of day the service forecasts from, which is today outside the demo.
      createdAt: input.createdAt === undefined || input.createdAt === null ? this.#scope.asOfDay() : day(input.createdAt, 'createdAt'),
    };
    if (input.id !== undefined) goal.id = recordId(input.id, 'id');
    if (input.saved !== undefined && input.saved !== null) goal.saved = money(input.saved, 'saved', 'non-negative');
    if (input.deadline !== undefined && input.deadline !== null) goal.deadline = day(input.deadline, 'deadline');
    if (input.monthlyContribution !== undefined && input.monthlyContribution !== null) {
      goal.monthlyContribution = money(input.monthlyContribution, 'monthlyContribution', 'non-negative');
    }
    const change = write(() => this.#scope.finance.addGoal(goal));
    return { status: 201, body: await this.#afterGoal(change), users: usersOf(change) };
  }

  async #updateGoal({ params, body }: Context): Promise<Reply> {
    const id = params.id ?? '';
    if (this.#scope.finance.getGoal(id) === undefined) throw notFound(`no goal with id ${JSON.stringify(id)}`, 'id');
    const input = bodyObject(await body(), true);
    someField(input, GOAL_PATCH_FIELDS, 'a goal patch');
    const patch: Mutable<GoalPatch> = {};
    if (input.name !== undefined) patch.name = text(input.name, 'name');
    if (input.target !== undefined) patch.target = money(input.target, 'target', 'positive');
    if (input.saved !== undefined) patch.saved = money(input.saved, 'saved', 'non-negative');
    if (input.deadline !== undefined) patch.deadline = input.deadline === null ? null : day(input.deadline, 'deadline');
    if (input.monthlyContribution !== undefined) {
      patch.monthlyContribution = input.monthlyContribution === null ? null : money(input.monthlyContribution, 'monthlyContribution', 'non-negative');
    }
    const change = write(() => this.#scope.finance.updateGoal(id, patch));
    return { body: await this.#afterGoal(change), users: usersOf(change) };
  }

  async #deleteGoal({ params }: Context): Promise<Reply> {
    const change = write(() => this.#scope.finance.deleteGoal(params.id ?? ''));
    return { body: await this.#afterGoal(change), users: usersOf(change) };
  }

  #afterGoal(change: RecordChange<Goal>): Promise<Json> {
    const record = change.after ?? change.before;
    const verb = change.kind === 'added' ? 'created' : change.kind;
    return this.#fire(`goal ${verb}`, record.userId, `goal_${verb}`, goalJson(record), () => this.#scope.forecasts.onGoalChange(change));
  }

  /**
   * Runs the trigger of a write that has already happened. If the invalidation fails, the write is still
   * reported as done (retrying a POST would add the record twice), with `invalidated: null` and the reason:
   * the client then knows forecasts may lag until their TTL.
   */
  async #fire(what: string, userId: string, reason: InvalidationTrigger, record: Json, run: () => Promise<number>): Promise<Json> {
    try {
      const invalidated = await run();
      this.#scope.log.info(`${what} for ${userId}: ${plural(invalidated, 'forecast')} invalidated (${reason})`);
      return { record, invalidated };
    } catch (error) {
      this.#scope.log.error(`${what} for ${userId}: the ${reason} trigger failed; cached forecasts may be stale until they expire`, error);
      return { record, invalidated: null, invalidationError: error instanceof Error ? error.message : String(error) };
    }
  }
}
