import { CacheBackendError } from '../errors.js';
import type { StoreOps } from '../tiers/adapter.js';
import type { StoreTier } from '../tiers/store-tier.js';

/**
 * One store call of the fleet, under the tier's timeout. Straight to the store rather than through the tier's
 * breaker and figures: heartbeats and warm requests are the fleet's traffic, not the application's, so they
 * neither show in the tier's request and latency figures nor count towards opening its breaker (they are sent
 * only while it is closed).
 */
export function fleetCall<T>(tier: StoreTier, call: (store: StoreOps) => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const fail = (error: unknown) => reject(new CacheBackendError(`${tier.name}: fleet call failed: ${error instanceof Error ? error.message : String(error)}`, { store: tier.name, cause: error }));
    const timer = setTimeout(() => fail(new Error(`timed out after ${tier.timeoutMs} ms`)), tier.timeoutMs);
    timer.unref();
    call(tier.ops).then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        fail(error);
      },
    );
  });
}
