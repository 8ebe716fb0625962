import { CacheBackendError } from '../errors.js';
import type { StoreOps } from '../tiers/adapter.js';
import type { StoreTier } from '../tiers/store-tier.js';
import { within } from '../within.js';

/**
 * One store call of the fleet, under the tier's timeout. Straight to the store rather than through the tier's
 * breaker and figures: heartbeats and warm requests are the fleet's traffic, not the application's, so they
 * neither show in the tier's request and latency figures nor count towards opening its breaker (they are sent
 * only while it is closed).
 */
export function fleetCall<T>(tier: StoreTier, call: (store: StoreOps) => Promise<T>): Promise<T> {
  return within(call(tier.ops), tier.timeoutMs, () => new Error(`timed out after ${tier.timeoutMs} ms`)).catch((error: unknown) => {
    throw new CacheBackendError(`${tier.name}: fleet call failed: ${error instanceof Error ? error.message : String(error)}`, { store: tier.name, cause: error });
  });
}
