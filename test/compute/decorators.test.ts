import { afterEach, describe, expect, it } from 'vitest';
import { Cache } from '../../src/cache.js';
import { cached, invalidates } from '../../src/compute/decorators.js';
import { argsHash } from '../../src/compute/key-template.js';
import { createFakeClock, type FakeClock } from '../../src/testing/index.js';

const open: Cache[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});

function memoryCache(clock: FakeClock = createFakeClock()): Cache {
  const cache = new Cache({ clock });
  open.push(cache);
  return cache;
}

/** Stands for the I/O of a real data source. */
const io = () => new Promise<void>((resolve) => setImmediate(resolve));

interface User {
  id: string;
  name: string;
}

/** A repository owning its cache, the case the getter form exists for. */
class UserRepository {
  queries = 0;
  readonly rows = new Map<string, User>([
    ['1', { id: '1', name: 'Ada' }],
    ['2', { id: '2', name: 'Grace' }],
  ]);

  constructor(readonly cache: Cache) {}

  @cached((self: UserRepository) => self.cache, { key: 'user:{0}', ttl: '5m', tags: ['users', 'user:{0}'] })
  async findUser(id: string): Promise<User | undefined> {
    this.queries++;
    await io();
    return this.rows.get(id);
  }

  @cached((self: UserRepository) => self.cache, { key: 'search:{name}:{limit}', ttl: '1m', tags: ['users'] })
  async search(query: { name: string; limit: number }): Promise<User[]> {
    this.queries++;
    await io();
    return [...this.rows.values()].filter((u) => u.name.startsWith(query.name)).slice(0, query.limit);
  }

  @cached((self: UserRepository) => self.cache, { ttl: '1m' })
  async countByPrefix(prefix: string): Promise<number> {
    this.queries++;
    await io();
    return [...this.rows.values()].filter((u) => u.name.startsWith(prefix)).length;
  }

  @invalidates((self: UserRepository) => self.cache, { params: ['id'], keys: ['user:{id}'], patterns: ['search:*'] })
  async rename(id: string, name: string): Promise<User> {
    await io();
    const user = this.rows.get(id);
    if (user === undefined) throw new Error(`no user ${id}`);
    user.name = name;
    return { ...user };
  }

  @invalidates((self: UserRepository) => self.cache, { tags: ['users'] })
  async reload(): Promise<void> {
    await io();
  }
}

describe('@cached', () => {
  it('caches per arguments through the instance’s own cache, with `this` bound', async () => {
    const repo = new UserRepository(memoryCache());
    expect(await repo.findUser('1')).toStrictEqual({ id: '1', name: 'Ada' });
    expect(await repo.findUser('1')).toStrictEqual({ id: '1', name: 'Ada' });
    expect(await repo.findUser('2')).toStrictEqual({ id: '2', name: 'Grace' });
    expect(repo.queries).toBe(2);
    expect(await repo.cache.get('user:1')).toStrictEqual({ id: '1', name: 'Ada' });
    expect((await repo.cache.inspect('user:1'))?.tags.sort()).toStrictEqual(['user:1', 'users']);
  });

  it('uses each instance’s cache: two repositories with two caches do not share entries', async () => {
    const first = new UserRepository(memoryCache());
    const second = new UserRepository(memoryCache());
    await first.findUser('1');
    await second.findUser('1');
    expect([first.queries, second.queries]).toStrictEqual([1, 1]);
    expect(await second.cache.has('user:1')).toBe(true);
  });

  it('fills named placeholders from a single object argument', async () => {
    const repo = new UserRepository(memoryCache());
    await repo.search({ name: 'A', limit: 5 });
    await repo.search({ limit: 5, name: 'A' });
    expect(repo.queries).toBe(1);
    expect(await repo.cache.has('search:A:5')).toBe(true);
  });

  it('defaults the key to Class.method and a hash of the arguments', async () => {
    const repo = new UserRepository(memoryCache());
    expect(await repo.countByPrefix('G')).toBe(1);
    expect(await repo.cache.has(`UserRepository.countByPrefix:${argsHash(['G'])}`)).toBe(true);
  });

  it('calls a key function with the instance as this, so keys can depend on instance state', async () => {
    const cache = memoryCache();
    class TenantSettings {
      loads = 0;
      constructor(readonly tenant: string) {}
      @cached(cache, {
        key(this: TenantSettings, name: string) {
          return `settings:${this.tenant}:${name}`;
        },
      })
      async setting(name: string): Promise<string> {
        this.loads++;
        await io();
        return `${this.tenant}/${name}`;
      }
    }
    const acme = new TenantSettings('acme');
    const globex = new TenantSettings('globex');
    expect(await acme.setting('theme')).toBe('acme/theme');
    expect(await globex.setting('theme')).toBe('globex/theme');
    expect(await acme.setting('theme')).toBe('acme/theme');
    expect([acme.loads, globex.loads]).toStrictEqual([1, 1]);
    expect(await cache.has('settings:globex:theme')).toBe(true);
  });

  it('expires with the TTL (fake clock)', async () => {
    const clock = createFakeClock();
    const repo = new UserRepository(memoryCache(clock));
    await repo.findUser('1');
    clock.advance(299_999);
    await repo.findUser('1');
    expect(repo.queries).toBe(1);
    clock.advance(1);
    await repo.findUser('1');
    expect(repo.queries).toBe(2);
  });

  it('shares one run among 100 concurrent calls', async () => {
    const cache = memoryCache();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    class Stats {
      runs = 0;
      @cached(cache, { key: 'stats:{0}' })
      async compute(day: string): Promise<string> {
        this.runs++;
        await gate;
        return `stats of ${day}`;
      }
    }
    const stats = new Stats();
    const all = Promise.all(Array.from({ length: 100 }, () => stats.compute('mon')));
    release();
    expect(new Set(await all)).toStrictEqual(new Set(['stats of mon']));
    expect(stats.runs).toBe(1);
  });

  it('works on static methods, named after the class', async () => {
    const cache = memoryCache();
    class Rates {
      static fetches = 0;
      // `this`, not `Rates`: a decorated class that names itself is renamed `_Rates` by esbuild's transform,
      // which is why the default key is documented as unstable across build tools.
      @cached(cache)
      static async rate(this: typeof Rates, currency: string): Promise<number> {
        this.fetches++;
        await io();
        return currency.length;
      }
    }
    expect(await Rates.rate('usd')).toBe(3);
    expect(await Rates.rate('usd')).toBe(3);
    expect(Rates.fetches).toBe(1);
    expect(await cache.has(`Rates.rate:${argsHash(['usd'])}`)).toBe(true);
  });

  it('rejects without running the method when a placeholder has no value, and escapes values', async () => {
    const cache = memoryCache();
    class Lookup {
      runs = 0;
      @cached(cache, { key: 'item:{sku}' })
      async find(query: { sku?: string }): Promise<string> {
        this.runs++;
        await io();
        return query.sku ?? 'none';
      }
    }
    const lookup = new Lookup();
    await expect(lookup.find({})).rejects.toThrow(/\{sku\}/);
    expect(lookup.runs).toBe(0);
    await lookup.find({ sku: 'a:*' });
    expect(await cache.has('item:a%3A%2A')).toBe(true);
  });

  it('reports a malformed template when the class is defined', () => {
    const cache = memoryCache();
    expect(() => {
      class Broken {
        @cached(cache, { key: 'user:{0' })
        find(id: string): Promise<string> {
          return Promise.resolve(id);
        }
      }
      return Broken;
    }).toThrow(TypeError);
  });

  it('refuses to decorate anything but a method, and a getter that returns no cache', async () => {
    const cache = memoryCache();
    const decorator = cached(cache) as unknown as (value: unknown, context: { kind: string; name: string }) => unknown;
    expect(() => decorator(undefined, { kind: 'field', name: 'x' })).toThrow(/decorates methods only/);
    class NoCache {
      @cached((_self: NoCache) => undefined as unknown as Cache, { key: 'k' })
      get(): Promise<number> {
        return Promise.resolve(1);
      }
    }
    await expect(new NoCache().get()).rejects.toThrow(/not a Cache/);
  });

  it('is a compile error on a method that does not return a Promise', () => {
    const cache = memoryCache();
    class Sync {
      // @ts-expect-error -- a cached method is asynchronous: declare it async
      @cached(cache, { key: 'sync' })
      value(): number {
        return 1;
      }
    }
    expect(new Sync()).toBeInstanceOf(Sync);
  });
});

describe('@invalidates', () => {
  it('after the method succeeds, invalidates the filled keys and patterns only', async () => {
    const repo = new UserRepository(memoryCache());
    await repo.findUser('1');
    await repo.findUser('2');
    await repo.search({ name: 'A', limit: 5 });
    expect(repo.queries).toBe(3);
    expect(await repo.rename('1', 'Ada L.')).toStrictEqual({ id: '1', name: 'Ada L.' });
    expect(await repo.findUser('1')).toStrictEqual({ id: '1', name: 'Ada L.' });
    expect(await repo.search({ name: 'A', limit: 5 })).toStrictEqual([{ id: '1', name: 'Ada L.' }]);
    await repo.findUser('2');
    expect(repo.queries).toBe(5);
    const events = await repo.cache.getInvalidationEvents();
    expect(events.map((e) => e.reason)).toContain('write:UserRepository.rename');
  });

  it('invalidates nothing when the method rejects', async () => {
    const repo = new UserRepository(memoryCache());
    await repo.search({ name: 'A', limit: 5 });
    await expect(repo.rename('404', 'nobody')).rejects.toThrow('no user 404');
    await repo.search({ name: 'A', limit: 5 });
    expect(repo.queries).toBe(1);
  });

  it('invalidates tags', async () => {
    const repo = new UserRepository(memoryCache());
    await repo.findUser('1');
    await repo.search({ name: 'G', limit: 1 });
    await repo.reload();
    await repo.findUser('1');
    await repo.search({ name: 'G', limit: 1 });
    expect(repo.queries).toBe(4);
  });

  it('needs something to invalidate', () => {
    const cache = memoryCache();
    expect(() => invalidates(cache, {})).toThrow(/at least one of keys, patterns or tags/);
    expect(() => invalidates(cache, { patterns: ['*'] })(() => Promise.resolve(), { kind: 'method', name: 'm', static: false } as unknown as ClassMethodDecoratorContext<unknown, () => Promise<void>>)).toThrow(/matches every key/);
  });
});
