// Invalidation hops between two processes, measured one way for every kind: process A writes one key every
// `periodMs` and stamps `performance.timeOrigin + performance.now()` just before the call and when it resolves;
// process B (forked by A, talking over IPC) stamps the same clock the moment the hop has landed. Kinds:
//   tiercache bus        A: `cache.set` on a cache with `redisBus`; B: its `remote` event, which fires after
//                        B's memory tier has dropped the key
//   raw pub/sub          A: ioredis `PUBLISH`; B: an ioredis subscriber's `message` event (the floor)
//   tiercache tracking   A: a plain ioredis `SET` (a writer outside tiercache); B: a cache with
//                        `coherence: 'tracking'`, stamped once its memory tier has dropped the key
// Used by the `redis` and `redis-speed` sections; B is this file run as `tsx bench/lib/bus-hop.ts peer <kind>`.
import { fork, type ChildProcess } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Redis, type RedisOptions } from 'ioredis';
import { redisBus } from '../../src/bus/redis.js';
import { Cache } from '../../src/cache.js';
import { redisStore } from '../../src/stores/redis.js';
import { dist, sleep, wall, type Dist } from './timing.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const TTL_MS = 3_600_000;
const SCRIPT = fileURLToPath(import.meta.url);
/** The channel Redis publishes tracking invalidations on (RESP2 redirect). */
const INVALIDATE_CHANNEL = '__redis__:invalidate';

export const HOP_KINDS = ['tiercache bus', 'raw pub/sub', 'tiercache tracking'] as const;
export type HopKind = (typeof HOP_KINDS)[number];

export interface HopOptions {
  /** Untimed messages first. */
  warm?: number;
  messages?: number;
  /** Spacing of A's writes, ms. */
  periodMs?: number;
}

export interface BusResult {
  kind: HopKind;
  messages: number;
  warmup: number;
  received: number;
  /** Mean spacing of the writes actually achieved, ms. */
  periodMs: number;
  /** ms, from just before A's write to B's stamp. */
  fromCall: Dist;
  /** ms, from A's write resolving to B's stamp (negative: B had it first). */
  fromResolve: Dist & { min: number; negative: number };
  /** ms, A's write itself. */
  setLatency: Dist;
  /** Estimated offset of B's clock (timeOrigin + now) from A's, ms, and its uncertainty (half the best IPC round trip). */
  clockOffsetMs: number;
  clockOffsetBoundMs: number;
  /** tiercache kinds: `recover` events in B (a gap, a reconnect, a lost tracking connection). */
  recovers: number;
}

type ToPeer = { type: 'ping'; n: number } | { type: 'done'; total: number };
type FromPeer = { type: 'ready' } | { type: 'pong'; n: number; t: number } | { type: 'result'; arrivals: number[]; recovers: number; errors: string[] };

const channelOf = (prefix: string) => `${prefix}bus`;
const hopValue = (i: number) => ({ id: i, name: `user ${i}`, active: true, score: i * 1.5 });

function hopKind(kind: string): HopKind {
  if (!(HOP_KINDS as readonly string[]).includes(kind)) throw new Error(`unknown hop kind ${JSON.stringify(kind)}: ${HOP_KINDS.join(' | ')}`);
  return kind as HopKind;
}

/** Resolves with the next message from `child` that `accept` takes; rejects after `timeoutMs`. */
export function nextMessage<M, T extends M = M>(child: ChildProcess, accept: (m: M) => m is T, timeoutMs: number, who = 'bus-hop peer'): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onMessage = (m: M) => {
      if (!accept(m)) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(m);
    };
    const timer = setTimeout(() => {
      child.off('message', onMessage);
      reject(new Error(`${who}: no reply within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('message', onMessage);
  });
}

/** A's side: how it writes key `i` (timed), and how it lets go. */
interface Writer {
  ready(): Promise<void>;
  write(key: string, i: number): Promise<unknown>;
  close(): Promise<void>;
}

function writer(kind: HopKind, prefix: string): Writer {
  if (kind === 'tiercache bus') {
    const cache = new Cache({ stores: [redisStore({ url: REDIS_URL, prefix })], bus: redisBus({ url: REDIS_URL, channel: channelOf(prefix) }), defaultTtl: TTL_MS });
    return { ready: () => cache.ready(), write: (key, i) => cache.set(key, hopValue(i)), close: () => cache.close() };
  }
  const raw = new Redis(REDIS_URL);
  const closeRaw = async () => {
    await raw.quit().catch(() => raw.disconnect());
  };
  const ready = async () => {
    await raw.ping();
  };
  if (kind === 'raw pub/sub') return { ready, write: (key) => raw.publish(channelOf(prefix), key), close: closeRaw };
  // An outside writer: the bytes need not be a tiercache entry, tracking reports the key either way.
  return { ready, write: (key, i) => raw.set(prefix + key, JSON.stringify(hopValue(i)), 'PX', TTL_MS), close: closeRaw };
}

/** Runs one hop measurement: forks B, syncs clocks over IPC, writes, collects B's stamps. */
export async function busHop(kindName: string, prefix: string, options: HopOptions = {}): Promise<BusResult> {
  const kind = hopKind(kindName);
  const { warm = 200, messages = 2_000, periodMs = 2 } = options;
  const total = warm + messages;
  const child = fork(SCRIPT, ['peer', kind, `--prefix=${prefix}`], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const w = writer(kind, prefix);
  try {
    await w.ready();
    await nextMessage(child, (m: FromPeer): m is { type: 'ready' } => m.type === 'ready', 30_000);

    // Offset between the two processes' timeOrigin + now(), from the IPC round trip with the smallest delay.
    let bestRtt = Number.POSITIVE_INFINITY;
    let offset = 0;
    for (let n = 0; n < 300; n++) {
      const t0 = wall();
      const reply = nextMessage(child, (m: FromPeer): m is { type: 'pong'; n: number; t: number } => m.type === 'pong' && m.n === n, 5_000);
      child.send({ type: 'ping', n } satisfies ToPeer);
      const pong = await reply;
      const t1 = wall();
      if (t1 - t0 < bestRtt) {
        bestRtt = t1 - t0;
        offset = pong.t - (t0 + t1) / 2;
      }
    }

    const called = new Float64Array(total);
    const resolved = new Float64Array(total);
    const start = wall();
    for (let i = 0; i < total; i++) {
      const wait = start + i * periodMs - wall();
      if (wait > 0) await sleep(wait);
      const key = `bus:${i}`;
      called[i] = wall();
      await w.write(key, i);
      resolved[i] = wall();
    }
    const achieved = (called[total - 1]! - called[warm]!) / Math.max(1, messages - 1);
    const result = nextMessage(child, (m: FromPeer): m is Extract<FromPeer, { type: 'result' }> => m.type === 'result', 15_000);
    child.send({ type: 'done', total } satisfies ToPeer);
    const { arrivals, recovers, errors } = await result;
    if (errors.length > 0) console.error(`bus-hop peer (${kind}) errors: ${errors.slice(0, 5).join('; ')}`);

    const fromCall: number[] = [];
    const fromResolve: number[] = [];
    const setLatency: number[] = [];
    for (let i = warm; i < total; i++) {
      setLatency.push(resolved[i]! - called[i]!);
      const at = arrivals[i] ?? -1;
      if (at < 0) continue;
      fromCall.push(at - called[i]!);
      fromResolve.push(at - resolved[i]!);
    }
    const resolveDist = dist(Float64Array.from(fromResolve), 1, 0, false);
    return {
      kind,
      messages,
      warmup: warm,
      received: fromCall.length,
      periodMs: achieved,
      fromCall: dist(Float64Array.from(fromCall), 1, 0, false),
      fromResolve: { ...resolveDist, min: Math.min(...fromResolve), negative: fromResolve.filter((d) => d < 0).length },
      setLatency: dist(Float64Array.from(setLatency)),
      clockOffsetMs: offset,
      clockOffsetBoundMs: bestRtt / 2,
      recovers,
    };
  } finally {
    await w.close();
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([exited.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 10_000)))]);
    clearTimeout(timer);
    if (!done) child.kill();
  }
}

// ---------------------------------------------------------------------------------------------------------
// B's side

/** B's side: calls `arrived(i)` the moment key `bus:<i>` has landed. */
interface Listener {
  ready(): Promise<void>;
  recovers(): number;
  close(): Promise<void>;
}

const indexOf = (key: string): number | undefined => (key.startsWith('bus:') ? Number(key.slice(4)) : undefined);

function tiercachePeer(cache: Cache, errors: string[]): { recovers: () => number } {
  let recovers = 0;
  cache.on('recover', () => recovers++);
  cache.on('error', (e) => {
    if (errors.length < 20) errors.push(`${e.operation}: ${String(e.error)}`);
  });
  return { recovers: () => recovers };
}

function listener(kind: HopKind, prefix: string, arrived: (i: number) => void, errors: string[]): Listener {
  if (kind === 'tiercache bus') {
    const cache = new Cache({ stores: [redisStore({ url: REDIS_URL, prefix })], bus: redisBus({ url: REDIS_URL, channel: channelOf(prefix) }), defaultTtl: TTL_MS });
    const { recovers } = tiercachePeer(cache, errors);
    // `remote` is emitted after the memory tier has dropped the keys of the message.
    cache.on('remote', (event) => {
      for (const key of event.keys ?? []) {
        const i = indexOf(key);
        if (i !== undefined) arrived(i);
      }
    });
    return { ready: () => cache.ready(), recovers, close: () => cache.close() };
  }
  if (kind === 'raw pub/sub') {
    const sub = new Redis(REDIS_URL);
    sub.on('message', (_channel: string, key: string) => {
      const i = indexOf(key);
      if (i !== undefined) arrived(i);
    });
    return {
      ready: async () => {
        await sub.subscribe(channelOf(prefix));
      },
      recovers: () => 0,
      close: async () => {
        await sub.quit().catch(() => sub.disconnect());
      },
    };
  }
  // Tracking emits no event of its own. The subscriber connection it opens is a `duplicate()` of the store's;
  // a listener added there runs before tracking's own, so it stamps in a microtask (after tracking has handled
  // the message synchronously) and only once `tracking.invalidated` shows the drop happened.
  let invalidated = () => 0;
  const duplicate: (this: Redis, override?: Partial<RedisOptions>) => Redis = Reflect.get(Redis.prototype, 'duplicate');
  Redis.prototype.duplicate = function (this: Redis, override?: Partial<RedisOptions>) {
    const copy = duplicate.call(this, override);
    copy.on('messageBuffer', (channel: Buffer, data: unknown) => {
      if (channel.toString() !== INVALIDATE_CHANNEL || !Array.isArray(data)) return;
      const before = invalidated();
      queueMicrotask(() => {
        if (invalidated() === before) return;
        for (const item of data as unknown[]) {
          const i = Buffer.isBuffer(item) ? indexOf(item.toString('utf8').slice(prefix.length)) : undefined;
          if (i !== undefined) arrived(i);
        }
      });
    });
    return copy;
  };
  // Built after the hook is in place: tracking opens its subscriber once the store's connection is ready.
  const cache = new Cache({ stores: [redisStore({ url: REDIS_URL, prefix })], coherence: 'tracking', defaultTtl: TTL_MS });
  const { recovers } = tiercachePeer(cache, errors);
  invalidated = () => cache.getStats().tracking?.invalidated ?? 0;
  return {
    ready: () => cache.ready(),
    recovers,
    close: async () => {
      Redis.prototype.duplicate = duplicate;
      await cache.close();
    },
  };
}

async function peer(kind: HopKind, prefix: string): Promise<void> {
  const send = (m: FromPeer) => process.send?.(m);
  const arrivals: number[] = [];
  let received = 0;
  const errors: string[] = [];
  const l = listener(
    kind,
    prefix,
    (i) => {
      if (arrivals[i] !== undefined) return;
      arrivals[i] = wall();
      received++;
    },
    errors,
  );
  await l.ready();
  await new Promise<void>((resolve) => {
    process.on('message', (m: ToPeer) => {
      if (m.type === 'ping') {
        send({ type: 'pong', n: m.n, t: wall() });
        return;
      }
      void (async () => {
        const deadline = performance.now() + 5_000;
        while (received < m.total && performance.now() < deadline) await sleep(5);
        const out = Array.from({ length: m.total }, (_, i) => arrivals[i] ?? -1);
        send({ type: 'result', arrivals: out, recovers: l.recovers(), errors });
        resolve();
      })();
    });
    send({ type: 'ready' });
  });
  await l.close();
  process.disconnect();
}

const invoked = process.argv[1] === undefined ? '' : realpathSync(process.argv[1]);
if (invoked === realpathSync(SCRIPT)) {
  const [role, kind = ''] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const prefix = process.argv.find((a) => a.startsWith('--prefix='))?.slice('--prefix='.length);
  if (role !== 'peer' || prefix === undefined) throw new Error('usage: bus-hop.ts peer <kind> --prefix=P (forked by busHop)');
  await peer(hopKind(kind), prefix);
}
