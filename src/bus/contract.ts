/**
 * What travels between instances: invalidations, never values. Keys are the caches' full keys; `prefix` is
 * the sending cache's store prefix, so caches with different prefixes can share a channel without
 * touching each other.
 */
export type BusMessage =
  | { type: 'keys'; keys: readonly string[] }
  | { type: 'clear' }
  | { type: 'namespace'; namespace: string }
  | { type: 'pattern'; pattern: string }
  /** New stamps of invalidated or expired tags (see freshness/tags.ts). */
  | { type: 'tags'; tags: readonly string[]; stamps: readonly string[] }
  /**
   * Carries nothing but a sequence number. Sent after a publish was lost, so the other instances see the gap
   * (and recover) without waiting for this one's next write.
   */
  | { type: 'ping' }
  /**
   * Asks the instances serving warm requests for `warmer` (see `cache.serveWarmRequests`) to run it: the one
   * that takes the store lease named after `id` runs it and writes its progress to the shared store.
   */
  | WarmRequestMessage;

/** A fleet warm request (see `fleet/warms.ts`); bounded by {@link WARM_LIMITS}. */
export interface WarmRequestMessage {
  type: 'warm';
  /** Names the request: its lease and its progress record. */
  id: string;
  /** The served warmer to run; absent: the instance's only one (or the one named `default`). */
  warmer?: string;
  /** Task ids to run; absent: every registered task. */
  tasks?: readonly string[];
  force: boolean;
}

export type BusMessageType = BusMessage['type'];

export type BusEnvelope = BusMessage & {
  /** The sending instance. */
  origin: string;
  /** Per-origin sequence number, starting at 1; a jump means messages were lost. */
  seq: number;
  prefix: string;
  /** The sender's clock when it sent the message (epoch ms): the receiver's delivery-lag figure. Optional. */
  sentAt?: number;
};

export interface BusHandlers {
  /**
   * One message as it came off the wire: its text, or a value the transport already decoded from it. Nothing is
   * trusted: the receiver bounds, parses and validates it before anything runs.
   */
  message(data: unknown): void;
  /** The transport lost its subscription and has it back: messages may have been missed meanwhile. */
  reconnected(): void;
  /** A failure the transport recovered from or could not deliver (reported on the cache's `error` event). */
  error(error: unknown): void;
}

/** A transport for invalidations between cache instances. `BusSync` numbers messages and detects gaps. */
export interface Bus {
  readonly name: string;
  /** Subscribes; resolves once messages are being received. */
  start(handlers: BusHandlers): Promise<void>;
  /**
   * Sends one envelope. The caller bounds it with its own timeout and breaker; a transport should still fail
   * rather than queue forever, since a publish that never settles holds its memory.
   */
  publish(envelope: BusEnvelope): Promise<void>;
  /** Idempotent; leaves a client the user passed in open. */
  close(): Promise<void>;
}

/**
 * Bounds on what a receiver accepts; anything past them is dropped unread. Well above what a cache sends (the
 * sender splits long key and tag lists to stay under them), far below what would hurt a process.
 */
export const BUS_LIMITS = Object.freeze({
  /** Longest wire text, in UTF-16 code units; longer text is dropped before it is parsed. */
  messageChars: 4 * 1024 * 1024,
  /** Most keys, or tags, in one message. */
  items: 50_000,
  /** Longest key, tag, stamp, namespace or prefix. */
  itemChars: 16 * 1024,
  /** Longest origin (instances use a UUID). */
  originChars: 128,
});

/** An envelope whose header could be read; `problem` says why its body is refused, when it is. */
export interface DecodedEnvelope {
  readonly origin: string;
  readonly seq: number;
  readonly prefix: string;
  readonly type: BusMessageType;
  /** Set when the body is malformed: the message must be dropped (but its header still orders it). */
  readonly problem: string | undefined;
  /** The raw fields, checked when `problem` is undefined. */
  readonly fields: Readonly<Record<string, unknown>>;
}

/**
 * Bounds of a warm request: a request that passes them names a lease and a record key of bounded length, and a
 * task list an instance checks in linear time. An id is what `randomUUID` makes, or anything of the same alphabet.
 */
export const WARM_LIMITS = Object.freeze({
  /** Longest request id; ids hold letters, digits, `-` and `_` only. */
  idChars: 64,
  /** Longest warmer name or task id. */
  nameChars: 256,
  /** Most task ids in one request. */
  tasks: 1_000,
});

const TYPES: ReadonlySet<string> = new Set<BusMessageType>(['keys', 'clear', 'namespace', 'pattern', 'tags', 'ping', 'warm']);
const WARM_ID = /^[A-Za-z0-9_-]+$/;
const WARM_FIELDS: ReadonlySet<string> = new Set(['type', 'origin', 'seq', 'prefix', 'sentAt', 'id', 'warmer', 'tasks', 'force']);

function nameProblem(value: unknown, name: string): string | undefined {
  if (typeof value !== 'string') return `${name} is not a string`;
  if (value.length === 0 || value.length > WARM_LIMITS.nameChars) return `${name} is not 1 to ${WARM_LIMITS.nameChars} characters long`;
  return undefined;
}

/** A warm request runs code on another machine: every field is checked, and one field too many refuses it. */
function warmProblem(e: Readonly<Record<string, unknown>>): string | undefined {
  for (const field of Object.keys(e)) if (!WARM_FIELDS.has(field)) return `warm request has an unknown field ${JSON.stringify(field.slice(0, 64))}`;
  const { id, warmer, tasks, force } = e;
  if (typeof id !== 'string' || id.length === 0 || id.length > WARM_LIMITS.idChars || !WARM_ID.test(id)) {
    return `id is not 1 to ${WARM_LIMITS.idChars} letters, digits, - or _`;
  }
  if (warmer !== undefined) {
    const problem = nameProblem(warmer, 'warmer');
    if (problem !== undefined) return problem;
  }
  if (typeof force !== 'boolean') return 'force is not a boolean';
  if (tasks === undefined) return undefined;
  if (!Array.isArray(tasks)) return 'tasks is not an array';
  if (tasks.length === 0 || tasks.length > WARM_LIMITS.tasks) return `tasks holds ${tasks.length} items; 1 to ${WARM_LIMITS.tasks} are accepted (leave it out for every task)`;
  for (let i = 0; i < tasks.length; i++) {
    const problem = nameProblem(tasks[i], `tasks[${i}]`);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

/** Why a list is refused, or undefined when it is a bounded array of bounded non-empty strings. */
function listProblem(value: unknown, name: string): string | undefined {
  if (!Array.isArray(value)) return `${name} is not an array`;
  if (value.length > BUS_LIMITS.items) return `${name} holds ${value.length} items; the limit is ${BUS_LIMITS.items}`;
  for (let i = 0; i < value.length; i++) {
    const problem = itemProblem(value[i], `${name}[${i}]`);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

function itemProblem(value: unknown, name: string): string | undefined {
  if (typeof value !== 'string') return `${name} is not a string`;
  if (value.length === 0) return `${name} is empty`;
  if (value.length > BUS_LIMITS.itemChars) return `${name} is ${value.length} characters long; the limit is ${BUS_LIMITS.itemChars}`;
  return undefined;
}

function bodyProblem(type: BusMessageType, e: Readonly<Record<string, unknown>>): string | undefined {
  switch (type) {
    case 'keys':
      return listProblem(e.keys, 'keys');
    case 'namespace':
      return itemProblem(e.namespace, 'namespace');
    case 'pattern':
      // Its syntax is the pattern compiler's to judge; only the type is checked here.
      return typeof e.pattern === 'string' ? undefined : 'pattern is not a string';
    case 'tags': {
      const problem = listProblem(e.tags, 'tags') ?? listProblem(e.stamps, 'stamps');
      if (problem !== undefined) return problem;
      return (e.tags as unknown[]).length === (e.stamps as unknown[]).length ? undefined : 'tags and stamps differ in length';
    }
    case 'warm':
      return warmProblem(e);
    case 'clear':
    case 'ping':
      return undefined;
  }
}

/**
 * Reads a message off the wire: a string is bounded by {@link BUS_LIMITS}.messageChars and parsed as JSON, an
 * object is taken as already parsed. Returns a string saying why when not even the header (origin, seq,
 * prefix, type) is usable. Linear in the size of the message.
 */
export function decodeEnvelope(data: unknown): DecodedEnvelope | string {
  let value = data;
  if (typeof data === 'string') {
    if (data.length > BUS_LIMITS.messageChars) return `message is ${data.length} characters long; the limit is ${BUS_LIMITS.messageChars}`;
    try {
      value = JSON.parse(data);
    } catch {
      return 'message is not JSON';
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'message is not an object';
  const e = value as Readonly<Record<string, unknown>>;
  const { origin, seq, prefix, type } = e;
  if (typeof origin !== 'string' || origin.length === 0 || origin.length > BUS_LIMITS.originChars) return `origin is not a string of 1 to ${BUS_LIMITS.originChars} characters`;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return 'seq is not a positive integer';
  if (typeof prefix !== 'string' || prefix.length > BUS_LIMITS.itemChars) return 'prefix is not a bounded string';
  if (typeof type !== 'string' || !TYPES.has(type)) return 'type is unknown';
  const known = type as BusMessageType;
  return { origin, seq, prefix, type: known, problem: bodyProblem(known, e), fields: e };
}
