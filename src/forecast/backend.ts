import type { Bus } from '../bus/contract.js';
import type { Clock } from '../clock.js';
import type { Store } from '../stores/contract.js';
import { openBackend, type Backend } from '../stores/from-backend.js';

/** The options of ForecastCache that say which shared tier it builds (see `ForecastCacheOptions`). */
export interface ForecastBackendOptions {
  backend?: Backend | undefined;
  url?: string | undefined;
  prefix?: string | undefined;
  bus?: boolean | Bus | undefined;
}

/**
 * The shared tier ForecastCache builds from its `backend`, `url`, `prefix` and `bus` options, through the
 * engine's one store factory. What is ForecastCache's own: the stores run on its clock (so a fake clock in
 * tests moves their deadlines too), and Redis gets a bus unless `bus: false`, because forecasts are read by
 * every instance of a service and one of them invalidating must reach the others.
 */
export async function openForecastBackend(options: ForecastBackendOptions, clock: Clock): Promise<{ store: Store; bus: Bus | undefined }> {
  const { backend = 'memory', url, prefix, bus = backend === 'redis' } = options;
  if (backend === 'memory') throw new TypeError('the memory backend has no store');
  return openBackend(backend, { clock, bus, ...(url === undefined ? {} : { url }), ...(prefix === undefined ? {} : { prefix }) });
}
