// Redis commands per operation, read from the server's own counters: a private redis-server on a free loopback
// port (no other client talks to it), N operations of each kind per contender, and the delta of
// `INFO commandstats` around them (every command the server executed, by name; `info` itself left out).
//   tsx bench/lib/command-counts.ts        prints one JSON line (CommandCounts)
// Each operation kind runs on instances as a user has them: a writer, and for reads a second instance whose
// memory tier is empty (the value is in Redis, written by the writer), so a "get hit" is a Redis-tier hit.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createKeyv as createRedisKeyv } from '@keyv/redis';
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisBusDriver, redisDriver } from 'bentocache/drivers/redis';
import { createCache as createCacheManager } from 'cache-manager';
import { createKeyv as createMemoryKeyv } from 'cacheable';
import { Redis } from 'ioredis';
import { redisBus } from '../../src/bus/redis.js';
import { Cache } from '../../src/cache.js';
import { redisStore } from '../../src/stores/redis.js';
import { startPrivateRedis } from './private-redis.js';
import { sleep } from './timing.js';

const TTL_MS = 3_600_000;
/** Operations of each kind per contender; figures are per operation. */
export const COUNT_OPS = 100;
const BATCH = 100;
const BATCHES = 10;
const TAGS = ['team:7', 'plan:pro'];
/** Settling time after each phase, so commands sent after a call resolved (a bus publish) are counted. */
const SETTLE_MS = 100;

export const OPERATIONS = ['set', 'tagged set', 'get hit (Redis)', 'get hit, tagged entry (Redis)', 'get hit (memory)', 'getOrSet miss', 'getMany(100)'] as const;
export type Operation = (typeof OPERATIONS)[number];

export const COUNT_CONTENDERS = ['raw ioredis', 'tiercache', 'tiercache + bus', 'tiercache + tracking', 'bentocache', 'bentocache + bus', 'cache-manager'] as const;

interface Instance {
  set: (key: string, v: unknown) => Promise<unknown>;
  setTagged?: (key: string, v: unknown) => Promise<unknown>;
  get: (key: string) => Promise<unknown>;
  getOrSet: (key: string, loader: () => Promise<unknown>) => Promise<unknown>;
  getMany?: (keys: readonly string[]) => Promise<readonly unknown[]>;
  ready: () => Promise<void>;
  close: () => Promise<void>;
}

interface Contender {
  setup: string;
  /** A fresh instance (its memory tier empty). */
  open(): Instance;
  /** True when reads are answered by the process's memory after a first read (every cache here). */
  hasMemoryTier: boolean;
}

function contender(name: string, url: string): Contender {
  const { hostname: host, port } = new URL(url);
  const connection = { host, port: Number(port) };
  switch (name) {
    case 'raw ioredis':
      return {
        setup: '`SET k v PX ttl`, `GET`, `MGET`; getOrSet as GET then SET',
        hasMemoryTier: false,
        open: () => {
          const r = new Redis(url);
          return {
            set: (k, v) => r.set(k, JSON.stringify(v), 'PX', TTL_MS),
            get: (k) => r.get(k),
            getOrSet: async (k, loader) => {
              const hit = await r.get(k);
              if (hit !== null) return JSON.parse(hit) as unknown;
              const v = await loader();
              await r.set(k, JSON.stringify(v), 'PX', TTL_MS);
              return v;
            },
            getMany: (keys) => r.mget([...keys]),
            ready: async () => {
              await r.ping();
            },
            close: async () => {
              await r.quit();
            },
          };
        },
      };
    case 'tiercache':
    case 'tiercache + bus':
    case 'tiercache + tracking': {
      const bus = name === 'tiercache + bus';
      const tracking = name === 'tiercache + tracking';
      return {
        setup: `\`new Cache({ stores: [redisStore({ url })]${bus ? ', bus: redisBus({ url })' : ''}${tracking ? ", coherence: 'tracking'" : ''} })\``,
        hasMemoryTier: true,
        open: () => {
          const cache = new Cache({
            stores: [redisStore({ url })],
            ...(bus ? { bus: redisBus({ url, channel: 'bench:bus' }) } : {}),
            ...(tracking ? { coherence: 'tracking' as const } : {}),
          });
          return {
            set: (k, v) => cache.set(k, v, { ttl: TTL_MS }),
            setTagged: (k, v) => cache.set(k, v, { ttl: TTL_MS, tags: TAGS }),
            get: (k) => cache.get(k),
            getOrSet: (k, loader) => cache.getOrSet(k, loader, { ttl: TTL_MS }),
            getMany: (keys) => cache.getMany(keys),
            ready: () => cache.ready(),
            close: () => cache.close(),
          };
        },
      };
    }
    case 'bentocache':
    case 'bentocache + bus': {
      const bus = name === 'bentocache + bus';
      return {
        setup: `\`memoryDriver\` L1 + \`redisDriver\` L2${bus ? ' + `redisBusDriver`' : ''}`,
        hasMemoryTier: true,
        open: () => {
          let store = bentostore().useL1Layer(memoryDriver({ maxItems: 10_000 })).useL2Layer(redisDriver({ connection }));
          if (bus) store = store.useBus(redisBusDriver({ connection }));
          const bento = new BentoCache({ default: 'main', stores: { main: store } });
          return {
            set: (k, v) => bento.set({ key: k, value: v, ttl: TTL_MS }),
            setTagged: (k, v) => bento.set({ key: k, value: v, ttl: TTL_MS, tags: TAGS }),
            get: (k) => bento.get({ key: k }),
            getOrSet: (k, loader) => bento.getOrSet({ key: k, factory: loader, ttl: TTL_MS }),
            ready: async () => {
              await bento.get({ key: 'warm-up' });
            },
            close: () => bento.disconnectAll(),
          };
        },
      };
    }
    case 'cache-manager':
      return {
        setup: '`createCache({ stores: [Keyv(CacheableMemory), Keyv(@keyv/redis)] })`',
        hasMemoryTier: true,
        open: () => {
          const manager = createCacheManager({ stores: [createMemoryKeyv({ lruSize: 10_000 }), createRedisKeyv(url)] });
          return {
            set: (k, v) => manager.set(k, v, TTL_MS),
            get: (k) => manager.get(k),
            getOrSet: (k, loader) => manager.wrap(k, loader, TTL_MS),
            getMany: (keys) => manager.mget([...keys]),
            ready: async () => {
              await manager.get('warm-up');
            },
            close: async () => {
              await manager.disconnect();
            },
          };
        },
      };
    default:
      throw new Error(`unknown contender ${name}: ${COUNT_CONTENDERS.join(' | ')}`);
  }
}

/** `cmdstat_<name>:calls=<n>,...` lines of INFO commandstats, by lower-case command name. */
export function parseCommandStats(info: string): Map<string, number> {
  const calls = new Map<string, number>();
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set((match[1] as string).toLowerCase(), Number(match[2]));
  return calls;
}

/** Per-operation command counts of one kind: the total and the breakdown by command name. */
export interface OpCount {
  /** Commands the server executed (INFO commandstats), those run inside a Lua script included. */
  total: number;
  byCommand: Record<string, number>;
  /** Commands clients sent (MONITOR lines not from a script): what crosses the network. */
  sent: number;
  sentByCommand: Record<string, number>;
}
export interface ContenderCounts {
  name: string;
  setup: string;
  /** Undefined where the contender has no such operation. */
  ops: Partial<Record<Operation, OpCount>>;
}
export interface CommandCounts {
  redisVersion: string;
  opsPerKind: number;
  batchesPerGetMany: number;
  tags: string[];
  contenders: ContenderCounts[];
}

async function countContender(name: string, url: string, admin: Redis, monitor: Tally): Promise<ContenderCounts> {
  const c = contender(name, url);
  const writer = c.open();
  const reader = c.open();
  const value = (i: number) => ({ id: i, name: `user ${i}`, active: true, score: i * 1.5 });
  const ops: ContenderCounts['ops'] = {};
  const count = async (op: Operation, per: number, work: () => Promise<void>) => {
    const before = parseCommandStats(await admin.info('commandstats'));
    monitor.sent.clear();
    await work();
    await sleep(SETTLE_MS);
    const after = parseCommandStats(await admin.info('commandstats'));
    const byCommand: Record<string, number> = {};
    let total = 0;
    for (const [command, calls] of after) {
      if (command === 'info') continue;
      const delta = calls - (before.get(command) ?? 0);
      if (delta <= 0) continue;
      byCommand[command] = delta / per;
      total += delta;
    }
    const sentByCommand: Record<string, number> = {};
    let sent = 0;
    for (const [command, calls] of monitor.sent) {
      if (command === 'info') continue;
      sentByCommand[command] = calls / per;
      sent += calls;
    }
    ops[op] = { total: total / per, byCommand, sent: sent / per, sentByCommand };
  };
  try {
    await Promise.all([writer.ready(), reader.ready()]);
    // One of everything first, uncounted: script loads, connection set-up and lazy initialisation stay out.
    await writer.set('warm:a', value(0));
    await writer.setTagged?.('warm:b', value(0));
    await reader.get('warm:a');
    await reader.get('warm:b');
    await writer.getOrSet('warm:c', () => Promise.resolve(value(0)));
    await reader.getMany?.(['warm:a', 'warm:b']);
    const manyKeys = Array.from({ length: BATCH * BATCHES }, (_, i) => `many:${i}`);
    for (const key of manyKeys) await writer.set(key, value(1));

    await count('set', COUNT_OPS, async () => {
      for (let i = 0; i < COUNT_OPS; i++) await writer.set(`set:${i}`, value(i));
    });
    const setTagged = writer.setTagged;
    if (setTagged !== undefined) {
      await count('tagged set', COUNT_OPS, async () => {
        for (let i = 0; i < COUNT_OPS; i++) await setTagged(`tagged:${i}`, value(i));
      });
    }
    await count('get hit (Redis)', COUNT_OPS, async () => {
      for (let i = 0; i < COUNT_OPS; i++) if ((await reader.get(`set:${i}`)) == null) throw new Error(`${name}: get set:${i} missed`);
    });
    if (setTagged !== undefined) {
      await count('get hit, tagged entry (Redis)', COUNT_OPS, async () => {
        for (let i = 0; i < COUNT_OPS; i++) if ((await reader.get(`tagged:${i}`)) == null) throw new Error(`${name}: get tagged:${i} missed`);
      });
    }
    if (c.hasMemoryTier) {
      await count('get hit (memory)', COUNT_OPS, async () => {
        for (let i = 0; i < COUNT_OPS; i++) await reader.get(`set:${i}`);
      });
    }
    await count('getOrSet miss', COUNT_OPS, async () => {
      for (let i = 0; i < COUNT_OPS; i++) await writer.getOrSet(`miss:${i}`, () => Promise.resolve(value(i)));
    });
    const getMany = reader.getMany;
    if (getMany !== undefined) {
      await count('getMany(100)', BATCHES, async () => {
        for (let b = 0; b < BATCHES; b++) {
          const got = await getMany(manyKeys.slice(b * BATCH, (b + 1) * BATCH));
          if (got.some((v) => v == null)) throw new Error(`${name}: getMany batch ${b} had a miss`);
        }
      });
    }
    return { name, setup: c.setup, ops };
  } finally {
    await Promise.all([writer.close(), reader.close()]);
  }
}

/** Commands clients sent, by name, as MONITOR reports them (script-run commands, whose source is `lua`, left out). */
interface Tally {
  readonly sent: Map<string, number>;
}

async function startMonitor(url: string): Promise<{ tally: Tally; stop: () => void }> {
  const client = new Redis(url);
  const monitor = await client.monitor();
  const tally: Tally = { sent: new Map() };
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source === 'lua' || args.length === 0) return;
    const command = (args[0] as string).toLowerCase();
    tally.sent.set(command, (tally.sent.get(command) ?? 0) + 1);
  });
  return {
    tally,
    stop: () => {
      monitor.disconnect();
      client.disconnect();
    },
  };
}

export async function countCommands(): Promise<CommandCounts> {
  const server = await startPrivateRedis();
  const admin = new Redis(server.url);
  const monitor = await startMonitor(server.url);
  try {
    const redisVersion = /redis_version:(\S+)/.exec(await admin.info('server'))?.[1] ?? 'unknown';
    const contenders: ContenderCounts[] = [];
    for (const name of COUNT_CONTENDERS) {
      await admin.flushall();
      contenders.push(await countContender(name, server.url, admin, monitor.tally));
    }
    return { redisVersion, opsPerKind: COUNT_OPS, batchesPerGetMany: BATCHES, tags: TAGS, contenders };
  } finally {
    monitor.stop();
    admin.disconnect();
    await server.stop();
  }
}

const invoked = process.argv[1] === undefined ? '' : realpathSync(process.argv[1]);
if (invoked === realpathSync(fileURLToPath(import.meta.url))) console.log(JSON.stringify(await countCommands()));
