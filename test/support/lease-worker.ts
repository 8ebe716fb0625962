// One cache instance in its own process for the lease tests (test/compute/lease-processes.test.ts): it runs a
// getOrSet with a lease on request, tells the parent when its loader starts, and answers with the value.
import { setTimeout as sleep } from 'node:timers/promises';
import { Cache } from '../../src/index.js';
import { redisBus } from '../../src/bus/redis.js';
import { redisStore } from '../../src/stores/redis.js';

const [prefix = 'lease:', url = 'redis://127.0.0.1:6379'] = process.argv.slice(2);
const cache = new Cache({ stores: [redisStore({ url, prefix })], bus: redisBus({ url, channel: `${prefix}bus` }) });

type Command = { id: number; key: string; loadMs: number; value: string; leaseTtl: string };

process.on('message', (command: Command) => {
  let calls = 0;
  cache
    .getOrSet(
      command.key,
      async () => {
        calls++;
        process.send?.({ started: command.id });
        await sleep(command.loadMs);
        return command.value;
      },
      { lease: { ttl: command.leaseTtl, wait: '20s' } },
    )
    .then(
      (value) => process.send?.({ id: command.id, value, calls }),
      (error: unknown) => process.send?.({ id: command.id, error: String(error) }),
    );
});

await cache.ready();
process.send?.({ ready: true });
