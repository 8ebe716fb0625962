// The `tiercache/forecast` subpath. The SQLite finance store is not here: it imports better-sqlite3, an
// optional peer, so it has its own subpath (`tiercache/forecast/sqlite`).
export { ForecastCache } from './forecast-cache.js';
export { DEFAULT_WARM_HORIZONS, DEFAULT_WARM_METRICS } from './warming.js';
export type {
  Dashboard,
  DashboardOptions,
  DateRangeOptions,
  ForecastCacheOptions,
  ForecastCacheStats,
  ForecastInvalidateOptions,
  ForecastKeyInfo,
  ForecastReadOptions,
  ForecastResult,
  ForecastRequest,
  ForecastSetOptions,
  ForecastWarmError,
  ForecastWarmOptions,
  ForecastWarmReport,
  ForecastWindow,
  GetOrCalculateOptions,
  TriggerOptions,
} from './types.js';
export { forecastKey, forecastKeyGroup, parseForecastKey, type ForecastKeyParts, type ParsedForecastKey } from './keys.js';
export {
  addHorizon,
  horizonDays,
  horizonMonths,
  horizonWindow,
  isHorizon,
  parseHorizon,
  startOfDay,
  subtractHorizon,
  windowsOverlap,
  type DateWindow,
  type Horizon,
  type HorizonUnit,
} from './horizon.js';
export {
  BUILTIN_METRICS,
  CalculatorRegistry,
  goalIdOf,
  registerBuiltinCalculators,
  type BuiltinMetric,
  type Calculator,
  type CalculatorContext,
  type Lookback,
  type MetricDefinition,
  type MetricOptions,
  type TagContext,
} from './registry.js';
export {
  categoryTag,
  dependencyTag,
  goalTag,
  horizonTag,
  INVALIDATION_TRIGGERS,
  InvalidationTrigger,
  isInvalidationTrigger,
  METRIC_DEPENDENCIES,
  metricTag,
  planInvalidation,
  userCategoryTag,
  userMetricTag,
  userTag,
  type GoalChange,
  type GoalRef,
  type InvalidationPlan,
  type ManualRefresh,
  type MetricDependency,
  type TransactionChange,
  type TransactionRef,
  type TriggerPayloads,
} from './triggers.js';
export * from './data/index.js';
export * from './calculators/index.js';
