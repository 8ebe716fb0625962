// SqliteFinanceStore is not re-exported here: it imports better-sqlite3, an optional peer dependency, so it
// belongs behind its own subpath export (import it from './sqlite-store.js').
export { addDays, addMonths, day, daysInMonth, formatDay, parseDay, utcDayOf } from './calendar.js';
export { generateDemoData, type DemoDataOptions, type DemoDataSummary } from './demo-data.js';
export { DuplicateRecordError, RecordNotFoundError, type FinanceRecordKind } from './errors.js';
export { MemoryFinanceStore } from './memory-store.js';
export { mulberry32 } from './random.js';
export type { FinanceStore } from './store.js';
export { TRANSACTION_TYPES } from './types.js';
export type {
  Added,
  DayRange,
  Deleted,
  Goal,
  GoalPatch,
  NewGoal,
  NewTransaction,
  NewUser,
  RecordChange,
  Transaction,
  TransactionPatch,
  TransactionType,
  Updated,
  User,
  UserPatch,
} from './types.js';
