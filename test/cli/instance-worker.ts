// One live cache instance in its own process for test/cli: publishes fleet heartbeats every 300 ms until it is
// killed. Says "ready" on stdout once its first heartbeat is listed.
import { Cache } from '../../src/index.js';
import { redisBus } from '../../src/bus/redis.js';
import { redisStore } from '../../src/stores/redis.js';

const [prefix = 'cli-test:', channel = 'cli-test:bus', url = 'redis://127.0.0.1:6379', name = 'worker'] = process.argv.slice(2);
const cache = new Cache({ prefix, stores: [redisStore({ url, prefix: 'tc:' })], bus: redisBus({ url, channel }), fleet: { interval: 300, name } });
await cache.ready();
for (;;) {
  const listed = await cache.listInstances();
  if (listed.length > 0) break;
}
await cache.set('worker-key', name, { tags: ['t'] });
process.stdout.write('ready\n');
setInterval(() => undefined, 1_000);
