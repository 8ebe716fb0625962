export { createFakeClock, type FakeClock } from './fake-clock.js';
export { storeConformance, type ConformanceCase, type ConformanceContext, type ConformanceOptions, type OptionalStoreMethod } from './store-conformance.js';
