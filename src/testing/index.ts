export { createFakeClock, type FakeClock } from './fake-clock.js';
export { storeConformance, type ConformanceCase, type ConformanceOptions } from './store-conformance.js';
