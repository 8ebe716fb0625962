import { spawn } from 'node:child_process';
import { Redis, type ClusterNode } from 'ioredis';
import { Cache, type CacheOptions } from '../../src/index.js';
import { redisStore } from '../../src/stores/redis.js';
import type { RedisStoreOptions } from '../../src/stores/redis.js';

/** Runs the real `redis-cli` (a client that knows nothing of tiercache); `input` goes to its stdin (`-x`). */
export function redisCli(args: readonly string[], input?: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('redis-cli', [...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      if (code === 0 && !out.startsWith('ERR')) resolve(out.trim());
      else reject(new Error(`redis-cli ${args.join(' ')} failed (${String(code)}): ${err}${out}`));
    });
    child.stdin.end(input);
  });
}

/** One line of CLIENT LIST as fields. */
function clients(list: string): Map<string, string>[] {
  return list
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => new Map(line.trim().split(' ').map((pair) => pair.split('=', 2) as [string, string])));
}

/**
 * The client ids tracking uses for the connections named `name`: the tracked (writing) connection carries a
 * `redir=<subscriber id>`; the subscriber shares the name (duplicated from the writer).
 */
export async function trackingIds(admin: Redis, name: string): Promise<{ writer: string; subscriber: string }[]> {
  const list = clients((await admin.client('LIST')) as string);
  return list
    .filter((c) => c.get('name') === name && c.get('redir') !== undefined && c.get('redir') !== '-1')
    .map((c) => ({ writer: c.get('id')!, subscriber: c.get('redir')! }));
}

/** A cache over a Redis store (a URL, or cluster nodes) whose connections are named `name`, tracking its keys. */
export function trackingCache(name: string, at: { url: string } | { cluster: readonly ClusterNode[] }, prefix: string, extra: Partial<CacheOptions> = {}): Cache {
  const store: RedisStoreOptions =
    'url' in at
      ? { url: at.url, prefix, redis: { connectionName: name } }
      : { cluster: { nodes: at.cluster, options: { redisOptions: { connectionName: name } } }, prefix };
  return new Cache({ stores: [redisStore(store)], coherence: 'tracking', memory: { maxEntries: 1_000 }, ...extra });
}

/** The raw bytes a tiercache cache stores for `value` (an envelope), read back from Redis. */
export async function envelopeOf(url: string, prefix: string, value: unknown): Promise<Buffer> {
  const scratch = new Cache({ stores: [redisStore({ url, prefix })], memory: { maxEntries: 10 } });
  const raw = new Redis(url);
  try {
    await scratch.set('scratch', value, { ttl: '1h' });
    const bytes = await raw.getBuffer(`${prefix}scratch`);
    if (bytes === null) throw new Error('the scratch entry was not stored');
    return bytes;
  } finally {
    await raw.del(`${prefix}scratch`);
    await scratch.close();
    await raw.quit();
  }
}
