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
  | { type: 'tags'; tags: readonly string[]; stamps: readonly string[] };

export type BusEnvelope = BusMessage & {
  /** The sending instance. */
  origin: string;
  /** Per-origin sequence number, starting at 1; a jump means messages were lost. */
  seq: number;
  prefix: string;
};

export interface BusHandlers {
  message(envelope: BusEnvelope): void;
  /** The transport lost its subscription and has it back: messages may have been missed meanwhile. */
  reconnected(): void;
  /** A failure the transport recovered from or could not deliver (reported on the cache's `error` event). */
  error(error: unknown): void;
}

/** A transport for invalidations between cache instances. The core numbers messages and detects gaps. */
export interface Bus {
  readonly name: string;
  /** Subscribes; resolves once messages are being received. */
  start(handlers: BusHandlers): Promise<void>;
  publish(envelope: BusEnvelope): Promise<void>;
  /** Idempotent; leaves a client the user passed in open. */
  close(): Promise<void>;
}

const TYPES = new Set(['keys', 'clear', 'namespace', 'pattern', 'tags']);
const strings = (value: unknown): boolean => Array.isArray(value) && value.every((k) => typeof k === 'string');

/** Parses a message from the wire; undefined for anything that is not a well-formed envelope. */
export function parseEnvelope(text: string): BusEnvelope | undefined {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof data !== 'object' || data === null) return undefined;
  const e = data as Record<string, unknown>;
  if (typeof e.origin !== 'string' || typeof e.seq !== 'number' || !Number.isSafeInteger(e.seq) || typeof e.prefix !== 'string') return undefined;
  if (typeof e.type !== 'string' || !TYPES.has(e.type)) return undefined;
  if (e.type === 'keys' && !strings(e.keys)) return undefined;
  if (e.type === 'namespace' && typeof e.namespace !== 'string') return undefined;
  if (e.type === 'pattern' && typeof e.pattern !== 'string') return undefined;
  if (e.type === 'tags' && !(strings(e.tags) && strings(e.stamps) && (e.tags as string[]).length === (e.stamps as string[]).length)) return undefined;
  return data as BusEnvelope;
}
