// One live instance in its own process for test/cli/warm.test.ts: serves a warmer whose task `hang` never
// finishes, so the test can kill the process mid-run. Says "ready" on stdout once subscribed to the bus.
import { Cache, Warmer } from '../../src/index.js';
import { redisBus } from '../../src/bus/redis.js';
import { redisStore } from '../../src/stores/redis.js';

const [prefix = 'cli-test:', channel = 'cli-test:bus', url = 'redis://127.0.0.1:6379', name = 'worker'] = process.argv.slice(2);
const cache = new Cache({ prefix, stores: [redisStore({ url, prefix: 'tc:' })], bus: redisBus({ url, channel }), fleet: { interval: 300, name } });
const warmer = new Warmer(cache, { concurrency: 1 });
warmer.register({ id: 'quick', key: 'quick', priority: 1, loader: () => 'quick' });
warmer.register({ id: 'hang', key: 'hang', loader: () => new Promise<never>(() => undefined) });
cache.serveWarmRequests(warmer);
await cache.ready();
process.stdout.write('ready\n');
setInterval(() => undefined, 1_000);
