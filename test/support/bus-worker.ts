// One cache instance in its own process, driven over IPC by test/bus.test.ts.
import { Cache } from '../../src/index.js';
import { redisBus } from '../../src/bus/redis.js';
import { redisStore } from '../../src/stores/redis.js';

const [prefix = 'bus-test:', url = 'redis://127.0.0.1:6379'] = process.argv.slice(2);
const cache = new Cache({ prefix, stores: [redisStore({ url, prefix: 'tc:' })], bus: redisBus({ url, channel: `${prefix}bus` }) });
const recoveries: string[] = [];
cache.on('recover', (e) => recoveries.push(e.reason));
let remotes = 0;
cache.on('remote', () => remotes++);

type Command = { id: number; op: 'set' | 'getResult' | 'delete' | 'clear' | 'recoveries' | 'remotes' | 'close'; key?: string; value?: unknown };

process.on('message', (command: Command) => {
  const reply = (result: unknown) => process.send?.({ id: command.id, result });
  const fail = (error: unknown) => process.send?.({ id: command.id, error: String(error) });
  const key = command.key ?? '';
  let work: Promise<unknown>;
  switch (command.op) {
    case 'set':
      work = cache.set(key, command.value);
      break;
    case 'getResult':
      work = cache.getResult(key).then((r) => ({ value: r.value, source: r.source }));
      break;
    case 'delete':
      work = cache.delete(key);
      break;
    case 'clear':
      work = cache.clear({ confirm: true });
      break;
    case 'recoveries':
      work = Promise.resolve(recoveries);
      break;
    case 'remotes':
      work = Promise.resolve(remotes);
      break;
    case 'close':
      work = cache.close().then(() => setImmediate(() => process.exit(0)));
      break;
  }
  work.then(reply, fail);
});

await cache.ready();
process.send?.({ ready: true });
