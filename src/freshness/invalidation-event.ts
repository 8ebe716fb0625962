// A leaf module: the event type is shared by the log, the `invalidate` event and their readers, none of which
// may depend on the others.

/** One recorded invalidation (seed 004). */
export interface InvalidationEvent {
  /** Unique across instances sharing a log. */
  id: string;
  at: Date;
  kind: 'keys' | 'pattern' | 'tags' | 'expire-tags' | 'clear';
  reason: string | undefined;
  triggeredBy: string | undefined;
  keys?: readonly string[];
  pattern?: string;
  tags?: readonly string[];
  /** Entries removed, where it can be known; `undefined` for tags (invalidated lazily, without a count). */
  count: number | undefined;
}
