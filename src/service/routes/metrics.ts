// `GET /metrics`: the service's cache in the Prometheus text format, from tiercache/prometheus on a registry of
// the service's own (so nothing else registered in the process leaks into it, nor it into them).
import { Registry } from 'prom-client';
import type { Cache } from '../../cache.js';
import { registerCacheMetrics, type CacheMetricsRegistration } from '../../observe/prometheus.js';
import type { Reply, Route, Scope } from './route.js';

export class MetricsRoutes {
  readonly #scope: Scope;
  readonly #registry = new Registry();
  #exported: { cache: Cache; registration: CacheMetricsRegistration } | undefined;

  constructor(scope: Scope) {
    this.#scope = scope;
  }

  routes(): Route[] {
    return [{ method: 'GET', path: '/metrics', summary: 'cache metrics in the Prometheus text format', handle: () => this.#metrics() }];
  }

  async #metrics(): Promise<Reply> {
    // Asked at each scrape: the ForecastCache hands out the cache it has open now.
    const cache = await this.#scope.forecasts.cache();
    if (this.#exported?.cache !== cache) {
      this.#exported?.registration.unregister();
      this.#exported = { cache, registration: registerCacheMetrics(cache, { registry: this.#registry }) };
    }
    return { body: await this.#registry.metrics(), contentType: this.#registry.contentType };
  }
}
