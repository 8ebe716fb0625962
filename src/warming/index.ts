export { checkCronTimezone, CronExpression, CronExpressionError, parseCron, type CronField, type CronOptions, type CronTimezone } from './cron.js';
export { storeLease, type Lease, type StoreLeaseOptions } from './lease.js';
export { Scheduler, type FiringContext, type Schedule, type SchedulerOptions, type ScheduleStatus } from './scheduler.js';
export { timerOf, unrefTimer, type SetTimer } from './timer.js';
export {
  HotKeys,
  Refresher,
  type CacheEventSource,
  type HotKey,
  type HotKeysOptions,
  type RefreshableCache,
  type RefresherOptions,
  type RefreshOptions,
  type RefreshReport,
  type TaskSource,
} from './hot-keys.js';
export {
  DEFAULT_WARM_CONCURRENCY,
  warm,
  Warmer,
  type WarmableCache,
  type WarmError,
  type WarmerOptions,
  type WarmingTask,
  type WarmOptions,
  type WarmProgress,
  type WarmReport,
} from './warmer.js';
