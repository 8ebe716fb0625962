export { Cache, createCache, ENTRY_OVERHEAD_BYTES } from './cache.js';
export type {
  CacheResult,
  CacheStats,
  GetOptions,
  GetOrSetOptions,
  GetOrSetResult,
  LeaseOptions,
  InvalidateOptions,
  InvalidateSelection,
  InvalidationEvent,
  InvalidationRule,
  KeyInfo,
  LoaderContext,
  PatternOptions,
  PatternProgress,
  SetManyEntry,
  SetOptions,
  TierStats,
} from './cache.js';
export { systemClock, type Clock } from './clock.js';
export { createCodec, defaultCodec } from './codec/codec.js';
export { decimalExtension } from './codec/decimal.js';
export type { Codec, CodecExtension, CodecOptions } from './codec/types.js';
export { BusTimeoutError, CacheBackendError, CacheError, DecodeError, InvalidKeyError, InvalidPatternError, isCacheError, LoaderTimeoutError, SerializationError, WarmRequestError } from './errors.js';
export type { CacheErrorCode } from './errors.js';
export type { CacheEventName, CacheEvents, CacheListener } from './events.js';
export { buildKey, canonicalJson, escapeSegment, paramsHash, unescapeSegment } from './keys/index.js';
export type { BuildKeyOptions } from './keys/index.js';
export type { EvictionPolicy } from './memory/types.js';
export type { ComputeDefaults } from './compute/plan.js';
export { cacheAside, memoize, stampedeProtect, writeThrough } from './compute/wrappers.js';
export type {
  CacheAsideOptions,
  CachedFunction,
  InvalidationTargets,
  MemoizedFunction,
  MemoizeOptions,
  StampedeOptions,
  TemplateList,
  WriteThroughOptions,
} from './compute/wrappers.js';
export { cached, invalidates } from './compute/decorators.js';
export type { AsyncMethod, CacheSource, InvalidatesOptions } from './compute/decorators.js';
export { argsHash, keyTemplate } from './compute/key-template.js';
export * from './warming/index.js';
export type { KeySpec, KeyTemplateOptions } from './compute/key-template.js';
export { DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES, type CacheOptions, type MemoryOptions } from './options.js';
export { TtlPolicy, type Ttl } from './ttl.js';
export { cacheFromEnv, ENV_DEFAULTS, envDuration, storeFromEnv } from './env.js';
export { BACKENDS, DEFAULT_BACKEND_URLS, isBackend, openBackend, storeFor, type Backend, type BackendStoreOptions, type OpenBackendOptions, type OpenedBackend, type StoreBackend } from './stores/from-backend.js';
export type { Store, StoreCapabilities, StoreWrite, BaseStoreOptions } from './stores/contract.js';
export type { Bus, BusEnvelope, BusHandlers, BusMessage } from './bus/contract.js';
export type { CoherenceOptions } from './coherence/options.js';
export type { TrackingStats } from './coherence/tracking.js';
export type { BreakerOptions, BreakerState, StoreTierOptions } from './tiers/store-tier.js';
export type { StoreTierStats } from './cache.js';
export { TRACE_CHANNELS, type LoadTrace, type StoreTrace } from './observe/tracing.js';
export { BUCKET_BOUNDS_MS, histogramDelta, histogramSum, meanOf, quantileOf, type HistogramSnapshot } from './observe/histogram.js';
export type { InvalidationKind, InvalidationOrigin, KeyGroupCounts, LoadOutcome, MetricsOptions } from './observe/metrics.js';
export type { MetricsSnapshot, TierMetrics, TierRequests } from './observe/snapshot.js';
export type { BusHealth, HealthOptions, HealthReport, HealthStatus, ProbeReport, StoreHealth } from './observe/health.js';
export type { MaintenanceOptions } from './observe/maintenance.js';
export type { FleetOptions } from './fleet/options.js';
export type { InstanceAlert, InstanceInfo, InstanceMemory, InstanceStore } from './fleet/info.js';
export type { FleetWarmError, FleetWarmState, FleetWarmStatus } from './fleet/warm-record.js';
export type { RemoteWarmRun, RequestWarmOptions, ServableWarmer, ServeWarmOptions } from './fleet/warms.js';
export type { BusSubscription } from './bus/sync.js';
export type { Monitor, MonitorEventName, MonitorEvents, MonitorOptions } from './observe/monitor.js';
export { defaultAlertRules, hitRateBand, type Alert, type AlertMetric, type AlertRule, type AlertSeverity, type HitRateBand } from './observe/alerts.js';
export type { HitRateTrend, LatencyTrend, MonitorWindow, TierTrend, TierWindow, Trend, TrendVerdict, WindowLatency } from './observe/trends.js';
export type { CacheReport, Recommendation, RecommendationCode, ReportKeyGroup, ReportTier } from './observe/report.js';
export type { LatencyOperation } from './tiers/store-tier.js';
