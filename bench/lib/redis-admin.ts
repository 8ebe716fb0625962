// Redis chores shared by the benchmark reports: the server's version, and removing what a run left behind.
import { Redis } from 'ioredis';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

const escapeGlob = (text: string) => text.replace(/[*?[\]\\]/g, '\\$&');

/**
 * SCAN + UNLINK of every key under the given prefixes (children clean up after themselves; this catches a crash).
 * Key names are read as bytes: the Redis store's prefix index has a name that is not UTF-8, which a string reply
 * would mangle so that UNLINK would miss it.
 */
export async function sweepPrefixes(prefixes: readonly string[]): Promise<number> {
  if (prefixes.length === 0) return 0;
  const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: true });
  let removed = 0;
  try {
    await client.connect();
    for (const prefix of prefixes) {
      const head = Buffer.from(prefix);
      let cursor = '0';
      let steps = 0;
      do {
        const [next, keys] = await client.scanBuffer(cursor, 'MATCH', `${escapeGlob(prefix)}*`, 'COUNT', 1000);
        cursor = next.toString();
        const mine = keys.filter((k) => k.subarray(0, head.length).equals(head));
        if (mine.length > 0) removed += await client.unlink(...mine);
      } while (cursor !== '0' && ++steps < 1_000_000);
    }
  } finally {
    client.disconnect();
  }
  return removed;
}

/** `redis_version` of a server (the shared one by default), for a report; 'unreachable' when it does not answer. */
export async function redisVersion(url = REDIS_URL): Promise<string> {
  const client = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return /redis_version:(\S+)/.exec(await client.info('server'))?.[1] ?? 'unknown';
  } catch {
    return 'unreachable';
  } finally {
    client.disconnect();
  }
}
